//! Dense f32 kernels the task models share: a dot product, three register-tiled matrix products
//! (the three transpose patterns a layer's forward and backward passes need), softmax
//! cross-entropy, and on them a fully connected layer's forward and backward passes over a
//! minibatch and the softmax cross-entropy head's gradient (both CNNs end in these), PyTorch's
//! default initialisation and the prediction at the end of every model.
//!
//! All matrices are row-major slices. Every sum runs in a fixed order, so a model's gradients are
//! reproducible bit for bit whatever the thread count. The products accumulate into `c`
//! (`c += ...`): callers zero it first when they want a plain product.

use crate::cpu::simd::at_level;
use crate::cpu::{SimdLevel, simd_level};
use crate::train::rng::Rng;

/// Rows of `c` a register tile holds.
const TILE_ROWS: usize = 4;
/// Columns of `c` a register tile holds: two AVX-512 registers (four AVX2 ones) per row, so
/// a 4 x 32 tile of `c` stays in registers while `k` runs.
const TILE_COLS: usize = 32;
/// Lanes of [`dot`]: every dot product here sums in this many lanes, whichever kernel runs it.
const LANES: usize = 8;

/// Dot product in eight lanes (a fixed order the compiler vectorises).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

// The three products below tile `c` in registers, but every entry of `c` still receives its
// terms in the same order as the plain loops (`c += a b` over `p` in order for `nn` and `tn`;
// eight-lane dots for `nt`), each product rounded and then added (Rust never fuses them), so
// the results are the same bits at every SIMD level, tiled or not. The training runs'
// committed results rely on that: a faster kernel must not change a single gradient.

/// `c (m x n) += a (m x k) * b (k x n)`.
pub(crate) fn matmul_nn(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    debug_assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    nn_at(level(), m, k, n, a, b, c);
}

/// `c (m x n) += a^T * b`, with `a` stored as k x m and `b` as k x n (a sum of outer products).
/// Zero entries of `a` are skipped (ReLU and max-pool gradients are mostly zero), so a zero
/// times a non-finite `b` adds nothing.
pub(crate) fn matmul_tn(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    debug_assert!(a.len() >= k * m && b.len() >= k * n && c.len() >= m * n);
    tn_at(level(), m, k, n, a, b, c);
}

/// `c (m x n) += a * b^T`, with `b` stored as n x k: every entry one row-by-row [`dot`].
pub(crate) fn matmul_nt(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    debug_assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n);
    nt_at(level(), m, k, n, a, b, c);
}

/// The SIMD level the products run at; it changes only their speed, never their bits. An
/// invalid `BYZAGG_SIMD` is reported by `TrainConfig::validate` before any training starts;
/// a model used on its own then runs at the baseline.
fn level() -> SimdLevel {
    simd_level().unwrap_or(SimdLevel::Generic)
}

at_level!(fn nn_at(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) = nn);
at_level!(fn tn_at(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) = tn);
at_level!(fn nt_at(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) = nt);

#[inline(always)]
fn nn(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let op = Outer {
        lhs: Lhs::Rows,
        a,
        b,
        m,
        k,
        n,
        first: 0,
        stride: 1,
        count: k,
    };
    outer(op, c);
}

#[inline(always)]
fn tn(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let op = Outer {
        lhs: Lhs::Transposed,
        a,
        b,
        m,
        k,
        n,
        first: 0,
        stride: 1,
        count: k,
    };
    outer(op, c);
}

/// [`matmul_nt`] the faster of two ways for the shape (timed on the models' products, one
/// build against the other): lane passes ([`nt_lanes`]) for rows of 64 to 511 terms and
/// enough rows of `a` to tile; tiles of dots ([`nt_dots`]) otherwise, whose per-entry fold is
/// small beside long rows and which need no transposes for a classifier on a few examples.
#[inline(always)]
fn nt(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m >= 2 * TILE_ROWS && (8 * LANES..LANE_PASSES_MAX_K).contains(&k) {
        nt_lanes(m, k, n, a, b, c);
    } else {
        nt_dots(m, k, n, a, b, c);
    }
}

/// Rows of this many terms or more run as tiles of dots in [`nt`]: at 196 terms (the second
/// convolution's weight gradient) the lane passes took about half the dots' time, at 784 (the
/// first's) about twice.
const LANE_PASSES_MAX_K: usize = 512;

/// [`matmul_nt`] as tiles of dots: `DOT_ROWS` rows of `a` against `DOT_COLS` rows of `b`, each
/// entry's eight lanes kept in registers (the lanes of all the tile's entries advance
/// together, one chunk of eight terms at a time), then folded and finished with the last
/// `k % 8` terms exactly as [`dot`] does. Both operands are read along their rows.
#[inline(always)]
fn nt_dots(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let op = Dots { a, b, m, k, n };
    let mut i = 0;
    while i + DOT_ROWS <= m {
        dot_row_block::<DOT_ROWS>(op, i, c);
        i += DOT_ROWS;
    }
    for i in i..m {
        dot_row_block::<1>(op, i, c);
    }
}

/// Rows of `a` a dot tile holds.
const DOT_ROWS: usize = 4;
/// Rows of `b` a dot tile holds: 4 x 4 entries of eight lanes are sixteen AVX registers,
/// with the eight chunks they are fed from.
const DOT_COLS: usize = 4;

/// A tiles-of-dots pass `c (m x n) += a b^T`, with `a` stored m x k and `b` n x k.
#[derive(Clone, Copy)]
struct Dots<'a> {
    a: &'a [f32],
    b: &'a [f32],
    m: usize,
    k: usize,
    n: usize,
}

/// Rows `i..i + R` of `c`, across all its columns.
#[inline(always)]
fn dot_row_block<const R: usize>(op: Dots, i: usize, c: &mut [f32]) {
    let mut j = 0;
    while j + DOT_COLS <= op.n {
        dot_tile::<R, DOT_COLS>(op, i, j, c);
        j += DOT_COLS;
    }
    for j in j..op.n {
        dot_tile::<R, 1>(op, i, j, c);
    }
}

/// The `R x C` tile of `c` at row `i`, column `j`: `R C` dots of rows of `a` and `b`, each in
/// [`dot`]'s order.
#[inline(always)]
fn dot_tile<const R: usize, const C: usize>(op: Dots, i: usize, j: usize, c: &mut [f32]) {
    let Dots { a, b, m, k, n } = op;
    debug_assert!(i + R <= m && j + C <= n);
    let whole = k / LANES * LANES;
    let mut acc = [[[0.0f32; LANES]; C]; R];
    let mut p = 0;
    while p < whole {
        for (r, lanes) in acc.iter_mut().enumerate() {
            let x = &a[(i + r) * k + p..(i + r) * k + p + LANES];
            for (t, acc) in lanes.iter_mut().enumerate() {
                let y = &b[(j + t) * k + p..(j + t) * k + p + LANES];
                for l in 0..LANES {
                    acc[l] += x[l] * y[l];
                }
            }
        }
        p += LANES;
    }
    for (r, lanes) in acc.iter().enumerate() {
        for (t, acc) in lanes.iter().enumerate() {
            let (x, y) = (&a[(i + r) * k..][..k], &b[(j + t) * k..][..k]);
            let mut s = acc.iter().sum::<f32>();
            for (x, y) in x[whole..].iter().zip(&y[whole..]) {
                s += x * y;
            }
            c[(i + r) * n + j + t] += s;
        }
    }
}

/// [`matmul_nt`] as outer products, computing `c^T` (n x m): `a` transposed once (k x m, the
/// smaller operand in the models' weight gradients), then lane `l` of every entry's [`dot`]
/// (the terms `p = l, l + 8, ...` of the whole lane chunks) is one strided outer product of
/// `b`'s columns and `a^T`'s rows from zero (a product of two values is the same bits in
/// either order); the lanes are added in `dot`'s order and the last `k % 8` terms after
/// them, and the result is added to `c` transposed.
#[inline(always)]
fn nt_lanes(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let at = transpose(&a[..m * k], m, k);
    let whole = k / LANES;
    let lane = |l: usize, out: &mut [f32]| {
        let op = Outer {
            lhs: Lhs::Rows,
            a: b,
            b: &at,
            m: n,
            k,
            n: m,
            first: l,
            stride: LANES,
            count: whole,
        };
        outer(op, out);
    };
    // `dot` sums its lanes as a fold from -0; the lanes start at +0 and so are never -0, and
    // the fold is lane 0 plus the others in order.
    let mut sum = vec![0.0f32; n * m];
    lane(0, &mut sum);
    let mut part = vec![0.0f32; n * m];
    for l in 1..LANES {
        part.fill(0.0);
        lane(l, &mut part);
        for (s, v) in sum.iter_mut().zip(&part) {
            *s += v;
        }
    }
    let rest = Outer {
        lhs: Lhs::Rows,
        a: b,
        b: &at,
        m: n,
        k,
        n: m,
        first: whole * LANES,
        stride: 1,
        count: k % LANES,
    };
    outer(rest, &mut sum);
    for (j, srow) in sum.chunks_exact(m).enumerate() {
        for (i, s) in srow.iter().enumerate() {
            c[i * n + j] += s;
        }
    }
}

/// `x` (rows x cols) transposed, in 16 x 16 blocks so that both sides stay in cache lines
/// already loaded.
#[inline(always)]
fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const BLOCK: usize = 16;
    let mut t = vec![0.0f32; rows * cols];
    for r0 in (0..rows).step_by(BLOCK) {
        for c0 in (0..cols).step_by(BLOCK) {
            for r in r0..(r0 + BLOCK).min(rows) {
                for q in c0..(c0 + BLOCK).min(cols) {
                    t[q * rows + r] = x[r * cols + q];
                }
            }
        }
    }
    t
}

/// How `a` is stored, for the outer-product tiles: `a[i][p]` at `i k + p` (`nn`) or at
/// `p m + i` (`tn`, whose zero entries are skipped).
#[derive(Clone, Copy)]
enum Lhs {
    Rows,
    Transposed,
}

/// An outer-product pass `c (m x n) += sum over the terms p of a[., p] b[p, .]`, with `b`
/// stored k x n and the terms `p = first + q stride` for `q` in `0..count`, in that order.
#[derive(Clone, Copy)]
struct Outer<'a> {
    lhs: Lhs,
    a: &'a [f32],
    b: &'a [f32],
    m: usize,
    k: usize,
    n: usize,
    first: usize,
    stride: usize,
    count: usize,
}

/// Tiles of `TILE_ROWS` rows by `TILE_COLS`, 8, 4 or 1 columns (4: the 196 columns of the
/// second convolution's plane end in four), then the rows left over one at a time.
#[inline(always)]
fn outer(op: Outer, c: &mut [f32]) {
    let mut i = 0;
    while i + TILE_ROWS <= op.m {
        outer_row_block::<TILE_ROWS>(op, i, c);
        i += TILE_ROWS;
    }
    for i in i..op.m {
        outer_row_block::<1>(op, i, c);
    }
}

/// Rows `i..i + R` of `c`, across all its columns.
#[inline(always)]
fn outer_row_block<const R: usize>(op: Outer, i: usize, c: &mut [f32]) {
    let mut j = 0;
    while j + TILE_COLS <= op.n {
        outer_tile::<R, TILE_COLS>(op, i, j, c);
        j += TILE_COLS;
    }
    while j + LANES <= op.n {
        outer_tile::<R, LANES>(op, i, j, c);
        j += LANES;
    }
    while j + 4 <= op.n {
        outer_tile::<R, 4>(op, i, j, c);
        j += 4;
    }
    for j in j..op.n {
        outer_tile::<R, 1>(op, i, j, c);
    }
}

/// The `R x W` tile of `c` at row `i`, column `j`, in registers while the terms run.
///
/// Its speed rests on the compiler keeping the whole tile in vector registers, which small
/// edits here (a per-term test hoisted, one more tile width) have undone for one of its callers
/// while leaving the others fast: time all three products after touching it.
#[inline(always)]
fn outer_tile<const R: usize, const W: usize>(op: Outer, i: usize, j: usize, c: &mut [f32]) {
    let Outer {
        lhs,
        a,
        b,
        m,
        k,
        n,
        first,
        stride,
        count,
    } = op;
    let mut acc = [[0.0f32; W]; R];
    for (r, row) in acc.iter_mut().enumerate() {
        row.copy_from_slice(&c[(i + r) * n + j..][..W]);
    }
    for q in 0..count {
        let p = first + q * stride;
        let brow: &[f32; W] = b[p * n + j..][..W].try_into().expect("W entries");
        for (r, row) in acc.iter_mut().enumerate() {
            let av = match lhs {
                Lhs::Rows => a[(i + r) * k + p],
                Lhs::Transposed => {
                    let av = a[p * m + i + r];
                    if av == 0.0 {
                        continue;
                    }
                    av
                }
            };
            for (cv, bv) in row.iter_mut().zip(brow) {
                *cv += av * bv;
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        c[(i + r) * n + j..][..W].copy_from_slice(row);
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

    /// The plain loops, one entry of `c` at a time: the order every tiled kernel must keep.
    fn plain_nn(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] += a[i * k + p] * b[p * n + j];
                }
            }
        }
    }

    fn plain_tn(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    let av = a[p * m + i];
                    if av != 0.0 {
                        c[i * n + j] += av * b[p * n + j];
                    }
                }
            }
        }
    }

    fn plain_nt(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] += dot(&a[i * k..(i + 1) * k], &b[j * k..(j + 1) * k]);
            }
        }
    }

    /// Values that make rounding order and zero skipping visible: wide magnitudes (so that any
    /// other order of the same terms rounds differently), both zeros, and rarely (so that most
    /// sums stay finite and their bits tell) an infinity, a NaN or a huge value.
    fn nasty(r: &mut Rng, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| match (r.uniform() * 30_000.0) as u32 {
                0 => f32::INFINITY,
                1 => f32::NAN,
                2 => 1e30,
                3 => -1e30,
                4..=3000 => 0.0,
                3001..=4000 => -0.0,
                _ => (r.normal() * 10f64.powi((r.uniform() * 12.0) as i32 - 6)) as f32,
            })
            .collect()
    }

    #[test]
    fn tiled_products_are_the_plain_loops_bit_for_bit_at_every_level() {
        type Product = fn(usize, usize, usize, &[f32], &[f32], &mut [f32]);
        let pairs: [(&str, Product, Product); 3] = [
            ("nn", matmul_nn, plain_nn),
            ("tn", matmul_tn, plain_tn),
            ("nt", matmul_nt, plain_nt),
        ];
        let check = || {
            let mut r = Rng::new(11);
            // Every tile edge: rows 1..9 around the row tiles, columns around 4, 8 and 32, k
            // around the eight lanes, both ways of `nt` (lane passes for k of 64 to 511 and
            // at least 8 rows, tiles of dots otherwise) with a lane tail; and the models' own
            // shapes.
            let shapes = [
                (1, 1, 1),
                (3, 0, 5),
                (9, 0, 40),
                (3, 7, 5),
                (4, 8, 32),
                (5, 9, 33),
                (9, 17, 71),
                (6, 40, 8),
                (32, 400, 196),
                (4, 10, 1568),
                (10, 4, 1568),
                (16, 784, 25),
                (8, 19, 40),
                (9, 70, 14),
                (7, 517, 6),
                (9, 517, 13),
            ];
            for (m, k, n) in shapes {
                for (name, tiled, plain) in pairs {
                    let a = nasty(&mut r, m * k);
                    let b = nasty(&mut r, k * n);
                    let c0: Vec<f32> = (0..m * n).map(|_| r.normal() as f32).collect();
                    let (mut got, mut want) = (c0.clone(), c0);
                    tiled(m, k, n, &a, &b, &mut got);
                    plain(m, k, n, &a, &b, &mut want);
                    let same = got
                        .iter()
                        .zip(&want)
                        .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
                    assert!(same, "{name} {m}x{k}x{n} at {:?}", simd_level());
                    // Most entries finite, or the comparison would say little.
                    let finite = want.iter().filter(|v| v.is_finite()).count();
                    assert!(2 * finite > want.len(), "{name} {m}x{k}x{n}: {finite} finite");
                }
            }
        };
        check();
        crate::cpu::simd::each_lower_level(check);
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
