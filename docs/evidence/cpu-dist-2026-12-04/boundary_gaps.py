# How often does a selection boundary of the bench's N(0,1) batch fall within the CPU's tie
# window (2 rel (1 + 2 rel), rel = 1.31e-6 at AVX-512)? Exact f64 distances at d = 10^6, the
# relative gaps scaled by sqrt(10) to stand for d = 10^7 (they shrink as 1/sqrt(d)).
import numpy as np, sys
rel = 1.31e-6; win = 2 * rel * (1 + 2 * rel)
rng = np.random.default_rng(11)
d = 10**6; T = int(sys.argv[1])
for n in (32, 64):
    f = n // 5; k = n - f - 2
    h = dict(krum=0, multikrum=0, nnm_rows=0, ctma=0)
    for t in range(T):
        X = rng.standard_normal((n, d), dtype=np.float32).astype(np.float64)
        G = X @ X.T; sq = np.diag(G); D = sq[:, None] + sq[None, :] - 2 * G
        np.fill_diagonal(D, np.inf)
        S = np.sort(np.sort(D, 1)[:, :k].sum(1))
        sc = lambda a, b: (b - a) / b / np.sqrt(10) < win
        h['krum'] += sc(S[0], S[1]); h['multikrum'] += sc(S[n - f - 1], S[n - f])
        Ds = np.sort(D, 1); kk = n - f - 1
        h['nnm_rows'] += sc(Ds[:, kk - 1], Ds[:, kk]).sum()
        med = np.median(X, axis=0); r = np.sort(((X - med) ** 2).sum(1))
        h['ctma'] += sc(r[n - f - 1], r[n - f])
    print(f"n = {n}, {T} batches, share with the boundary in the window:",
          {key: round(v / T, 3) for key, v in h.items()}, "(nnm_rows: rows per batch)")
