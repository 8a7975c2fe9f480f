//! Dense f32 kernels the task models share: a dot product, three blocked matrix products (the
//! three transpose patterns a layer's forward and backward passes need), softmax
//! cross-entropy, and on them a fully connected layer's forward and backward passes over a
//! minibatch and the softmax cross-entropy head's gradient (both CNNs end in these), PyTorch's
//! default initialisation and the prediction at the end of every model.
//!
//! All matrices are row-major slices. Every sum runs in a fixed order, so a model's gradients are
//! reproducible bit for bit whatever the thread count. The products accumulate into `c`
//! (`c += ...`): callers zero it first when they want a plain product.

use crate::train::rng::Rng;

/// Rows of `c` computed together: each row of `b` loaded once serves this many rows of `a`.
const ROW_TILE: usize = 4;
/// Columns of `c` per tile, so a tile's rows of `c` stay in L1 while `k` runs.
const COL_TILE: usize = 256;

/// Dot product in eight lanes (a fixed order the compiler vectorises).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// `c (m x n) += a (m x k) * b (k x n)`.
pub(crate) fn matmul_nn(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    debug_assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    for j0 in (0..n).step_by(COL_TILE) {
        let j1 = (j0 + COL_TILE).min(n);
        let mut i = 0;
        while i + ROW_TILE <= m {
            // Four rows of c against one row of b at a time: b's row is read once per four.
            let (c0, rest) = c[i * n..].split_at_mut(n);
            let (c1, rest) = rest.split_at_mut(n);
            let (c2, rest) = rest.split_at_mut(n);
            let c3 = &mut rest[..n];
            for p in 0..k {
                let (a0, a1, a2, a3) = (
                    a[i * k + p],
                    a[(i + 1) * k + p],
                    a[(i + 2) * k + p],
                    a[(i + 3) * k + p],
                );
                let brow = &b[p * n + j0..p * n + j1];
                for (t, &bv) in brow.iter().enumerate() {
                    let j = j0 + t;
                    c0[j] += a0 * bv;
                    c1[j] += a1 * bv;
                    c2[j] += a2 * bv;
                    c3[j] += a3 * bv;
                }
            }
            i += ROW_TILE;
        }
        for i in i..m {
            let crow = &mut c[i * n + j0..i * n + j1];
            for p in 0..k {
                let av = a[i * k + p];
                for (cv, &bv) in crow.iter_mut().zip(&b[p * n + j0..p * n + j1]) {
                    *cv += av * bv;
                }
            }
        }
    }
}

/// `c (m x n) += a (m x k) * b^T`, with `b` stored as n x k: every entry one row-by-row dot.
pub(crate) fn matmul_nt(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    debug_assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n);
    for i in 0..m {
        let arow = &a[i * k..(i + 1) * k];
        for j in 0..n {
            c[i * n + j] += dot(arow, &b[j * k..(j + 1) * k]);
        }
    }
}

/// `c (m x n) += a^T * b`, with `a` stored as k x m and `b` as k x n (a sum of outer products).
pub(crate) fn matmul_tn(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    debug_assert!(a.len() >= k * m && b.len() >= k * n && c.len() >= m * n);
    for j0 in (0..n).step_by(COL_TILE) {
        let j1 = (j0 + COL_TILE).min(n);
        for p in 0..k {
            let brow = &b[p * n + j0..p * n + j1];
            for i in 0..m {
                let av = a[p * m + i];
                if av == 0.0 {
                    continue; // ReLU and max-pool gradients are mostly zero
                }
                for (cv, &bv) in c[i * n + j0..i * n + j1].iter_mut().zip(brow) {
                    *cv += av * bv;
                }
            }
        }
    }
}

/// Cross-entropy of one example given its logits (in f64, from the largest logit, so huge
/// logits do not overflow); turns `logits` into the softmax probabilities.
pub(crate) fn softmax_loss(logits: &mut [f32], y: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for l in logits.iter_mut() {
        let e = ((*l - max) as f64).exp();
        sum += e;
        *l = e as f32;
    }
    let inv = 1.0 / sum;
    let loss = sum.ln() - (logits[y] as f64).ln();
    for l in logits.iter_mut() {
        *l = (*l as f64 * inv) as f32;
    }
    loss
}

/// A fully connected layer on a minibatch: row e of the result (`b x n_out`) is
/// `bias + W x_e` for row e of `input` (`b x n_in`), `weight` stored `n_out x n_in` (PyTorch's
/// `Linear` layout); `n_out` is the bias's length.
pub(crate) fn dense_forward(input: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    let n_out = bias.len();
    let n_in = weight.len() / n_out;
    let b = input.len() / n_in;
    debug_assert!(weight.len() == n_out * n_in && input.len() == b * n_in);
    let mut out: Vec<f32> = (0..b).flat_map(|_| bias.iter().copied()).collect();
    matmul_nt(b, n_in, n_out, input, weight, &mut out);
    out
}

/// The backward pass of [`dense_forward`] given the gradient `dout` (`b x n_out`) of its
/// output: adds `dout^T input` to `grad_weight` and the column sums of `dout` to `grad_bias`,
/// and returns the input's gradient `dout W` (`b x n_in`).
pub(crate) fn dense_backward(
    input: &[f32],
    weight: &[f32],
    dout: &[f32],
    grad_weight: &mut [f32],
    grad_bias: &mut [f32],
) -> Vec<f32> {
    let n_out = grad_bias.len();
    let n_in = weight.len() / n_out;
    let b = dout.len() / n_out;
    debug_assert!(grad_weight.len() == n_out * n_in && input.len() == b * n_in);
    matmul_tn(n_out, b, n_in, dout, input, grad_weight);
    for row in dout.chunks_exact(n_out) {
        for (g, v) in grad_bias.iter_mut().zip(row) {
            *g += v;
        }
    }
    let mut dinput = vec![0.0f32; b * n_in];
    matmul_nn(b, n_out, n_in, dout, weight, &mut dinput);
    dinput
}

/// The softmax cross-entropy head of a minibatch: `logits` holds one row of `classes` per
/// label; returns the summed loss and turns `logits` into the gradient of the mean loss,
/// `(softmax - onehot) / b`.
pub(crate) fn cross_entropy_backward(
    logits: &mut [f32],
    classes: usize,
    labels: impl IntoIterator<Item = usize>,
) -> f64 {
    let b = (logits.len() / classes) as f32;
    let mut loss = 0.0;
    for (z, y) in logits.chunks_exact_mut(classes).zip(labels) {
        loss += softmax_loss(z, y);
        z[y] -= 1.0;
        for v in z.iter_mut() {
            *v /= b;
        }
    }
    loss
}

/// Appends `count` values drawn as PyTorch's default initialisation of a layer with `fan_in`
/// inputs: uniform in +-1/sqrt(fan_in) (weights and biases alike), in `r`'s order.
pub(crate) fn torch_uniform(r: &mut Rng, v: &mut Vec<f32>, count: usize, fan_in: usize) {
    let s = 1.0 / (fan_in as f64).sqrt();
    v.extend((0..count).map(|_| ((2.0 * r.uniform() - 1.0) * s) as f32));
}

/// Index of the largest entry (the first on ties).
fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |a, k| if v[k] > v[a] { k } else { a })
}

/// Loss and predicted class of one example from its logits (every model's `predict` ends
/// here): the class is taken before `softmax_loss` overwrites the logits.
pub(crate) fn classify(mut logits: Vec<f32>, y: usize) -> (f64, usize) {
    let class = argmax(&logits);
    (softmax_loss(&mut logits, y), class)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::rng::Rng;

    fn naive(
        m: usize,
        k: usize,
        n: usize,
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
    ) -> Vec<f64> {
        let mut c = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a(i, p) as f64 * b(p, j) as f64).sum();
            }
        }
        c
    }

    #[test]
    fn products_match_the_naive_triple_loop() {
        let mut r = Rng::new(3);
        // Shapes straddle the row and column tiles (m not a multiple of 4, n above 256).
        for (m, k, n) in [(1, 1, 1), (7, 13, 300), (4, 5, 256), (10, 50, 9)] {
            let a: Vec<f32> = (0..m * k).map(|_| r.normal() as f32).collect();
            let b: Vec<f32> = (0..k * n).map(|_| r.normal() as f32).collect();
            let want = naive(m, k, n, |i, p| a[i * k + p], |p, j| b[p * n + j]);
            let close = |c: &[f32]| {
                c.iter()
                    .zip(&want)
                    .all(|(x, y)| (*x as f64 - y).abs() <= 1e-4 * (1.0 + y.abs()))
            };
            let mut c = vec![0.0; m * n];
            matmul_nn(m, k, n, &a, &b, &mut c);
            assert!(close(&c), "nn {m}x{k}x{n}");
            // a^T stored k x m, b^T stored n x k.
            let at: Vec<f32> = (0..k * m).map(|x| a[(x % m) * k + x / m]).collect();
            let bt: Vec<f32> = (0..n * k).map(|x| b[(x % k) * n + x / k]).collect();
            let mut c = vec![0.0; m * n];
            matmul_tn(m, k, n, &at, &b, &mut c);
            assert!(close(&c), "tn {m}x{k}x{n}");
            let mut c = vec![0.0; m * n];
            matmul_nt(m, k, n, &a, &bt, &mut c);
            assert!(close(&c), "nt {m}x{k}x{n}");
        }
    }
}
