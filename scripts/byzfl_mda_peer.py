# ByzFL's MDA algorithm (LPD-EPFL/byzfl, aggregators.MDA), re-typed for timing without torch:
# every (n - f)-combination in lexicographic order, its diameter read from the distance matrix
# through the list of its index pairs, the first of least diameter kept.
import itertools, sys, time
import numpy as np

def mda_like_byzfl(x, f):
    n = len(x)
    sq = (x * x).sum(1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0))
    best, best_set = np.inf, None
    for subset in itertools.combinations(range(n), n - f):
        pairs = list(itertools.combinations(subset, 2))
        diameter = np.max(dist[tuple(zip(*pairs))])
        if diameter < best:
            best, best_set = diameter, subset
    return x[list(best_set)].mean(0)

n, f, d = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
x = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
t = time.perf_counter()
mda_like_byzfl(x, f)
print(f"n={n} f={f} d={d}: {time.perf_counter() - t:.3f} s")
