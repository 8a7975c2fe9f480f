//! The ICML synchronous code's MNIST network, with exact hand-written gradients:
//! Conv(1->16, 5x5, pad 2) - BatchNorm2d - ReLU - MaxPool 2 - Conv(16->32, 5x5, pad 2) -
//! BatchNorm2d - ReLU - MaxPool 2 - Linear(1568->10).
//!
//! It shares the papers' CNN's building blocks (`task/cnn.rs`: im2col and its adjoint, ReLU
//! with max pooling and its adjoint; `task/dense.rs`: the blocked products): a padded
//! convolution is the valid one on a zero-padded copy of the input, and its input gradient
//! is the padded gradient cropped. BatchNorm2d normalises each channel over the minibatch and
//! both image axes in training mode (biased variance, as PyTorch) and with running statistics
//! at evaluation, which every training pass moves (momentum 0.1, unbiased variance). A
//! convolution's bias before a training-mode BatchNorm cancels, so its gradient is zero; it
//! is still a parameter (the authors' model has it) and matters at evaluation.
//!
//! Parameters are one flat vector in PyTorch's order (`features.0.weight`, `features.0.bias`,
//! `features.1.weight`, `features.1.bias`, `features.4.*`, `features.5.*`,
//! `classifier.weight`, `classifier.bias`), 29,034 numbers. The running statistics are model
//! state, not parameters: one [`BnStats`] of 48 channels, the first BatchNorm's 16 then the
//! second's 32.

use rayon::prelude::*;

use super::cnn::{BN_EPS, BnStats, K, col2im, im2col, relu_pool, unpool};
use super::dense::{
    classify, cross_entropy_backward, dense_backward, dense_forward, matmul_nn, matmul_nt, matmul_tn,
    torch_uniform,
};
use crate::error::{Error, Result};
use crate::train::rng::Rng;

/// Input side (28 x 28 images).
const SIDE: usize = 28;
/// Zero padding of both convolutions ("same" convolutions for 5 x 5 kernels).
const PAD: usize = 2;
/// Channels out of the first convolution; its output side (same as the input) and pooled side.
const C1: usize = 16;
pub(super) const S1: usize = SIDE;
const Q1: usize = S1 / 2;
/// Channels out of the second convolution; its output side and pooled side.
const C2: usize = 32;
pub(super) const S2: usize = Q1;
const Q2: usize = S2 / 2;
/// Features into the classifier (32 x 7 x 7).
const FLAT: usize = C2 * Q2 * Q2;
/// Classes.
const CLASSES: usize = 10;

// Offsets of each parameter block in the flat vector.
const W1: usize = 0;
const B1: usize = W1 + C1 * K * K;
const G1: usize = B1 + C1;
const H1: usize = G1 + C1;
const W2: usize = H1 + C1;
const B2: usize = W2 + C2 * C1 * K * K;
const G2: usize = B2 + C2;
const H2: usize = G2 + C2;
const FW: usize = H2 + C2;
const FB: usize = FW + CLASSES * FLAT;
const DIM: usize = FB + CLASSES;

/// The network (its shape is fixed: 28 x 28 grey images, 10 classes).
///
/// # Examples
///
/// ```
/// use byzagg::train::{BnStats, SimpleCnn};
///
/// let net = SimpleCnn;
/// let params = net.init(0);
/// let (a, b) = (vec![0.5f32; 784], vec![-0.5f32; 784]);
/// let mut grad = vec![0.0; net.dim()];
/// let (loss, moments) = net.gradient(&params, &[(&a, 3), (&b, 7)], &mut grad)?;
/// assert!(loss > 0.0 && grad.iter().any(|g| *g != 0.0));
/// let mut stats = SimpleCnn::fresh_stats();
/// stats.follow(&moments);
/// let (_, class) = net.predict(&params, &a, 3, &stats);
/// assert!(class < 10);
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimpleCnn;

/// Zero-pads `c` planes of `side x side` by [`PAD`] on every side.
fn pad(input: &[f32], c: usize, side: usize) -> Vec<f32> {
    let ps = side + 2 * PAD;
    let mut out = vec![0.0; c * ps * ps];
    for ch in 0..c {
        for y in 0..side {
            let src = ch * side * side + y * side;
            let dst = ch * ps * ps + (y + PAD) * ps + PAD;
            out[dst..dst + side].copy_from_slice(&input[src..src + side]);
        }
    }
    out
}

/// The adjoint of [`pad`]: the interior of `c` padded planes.
fn crop(padded: &[f32], c: usize, side: usize) -> Vec<f32> {
    let ps = side + 2 * PAD;
    let mut out = vec![0.0; c * side * side];
    for ch in 0..c {
        for y in 0..side {
            let src = ch * ps * ps + (y + PAD) * ps + PAD;
            let dst = ch * side * side + y * side;
            out[dst..dst + side].copy_from_slice(&padded[src..src + side]);
        }
    }
    out
}

/// One padded convolution of one example: columns kept for the backward pass, and
/// `cout x (side side)` pre-activations.
fn conv(
    p: &[f32],
    w: usize,
    b: usize,
    input: &[f32],
    cin: usize,
    cout: usize,
    side: usize,
) -> (Vec<f32>, Vec<f32>) {
    let cols = im2col(&pad(input, cin, side), cin, side + 2 * PAD);
    let mut z = vec![0.0; cout * side * side];
    for (ch, row) in z.chunks_exact_mut(side * side).enumerate() {
        row.fill(p[b + ch]);
    }
    matmul_nn(cout, cin * K * K, side * side, &p[w..b], &cols, &mut z);
    (cols, z)
}

/// A training-mode BatchNorm2d layer's forward results over a minibatch.
struct BnPass {
    /// Normalised values, per example `c x plane`.
    xhat: Vec<Vec<f32>>,
    inv_std: Vec<f32>,
    /// Minibatch mean and unbiased variance per channel (for the running statistics).
    mean: Vec<f32>,
    var_unbiased: Vec<f32>,
}

/// Normalises `z` (per example `c x plane`) over the minibatch and the plane, per channel.
fn bn_forward(z: &[Vec<f32>], c: usize, plane: usize) -> BnPass {
    let n = (z.len() * plane) as f64;
    let (mut mean, mut var) = (vec![0.0f64; c], vec![0.0f64; c]);
    // Each example's channel sums start from -0, as `Iterator::sum` does, and are then added.
    let mut part = vec![[-0.0f64]; c];
    for e in z {
        part.fill([-0.0]);
        channel_sums(plane, &mut part, |_, k| [e[k] as f64]);
        for (m, [s]) in mean.iter_mut().zip(&part) {
            *m += s;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    for e in z {
        part.fill([-0.0]);
        channel_sums(plane, &mut part, |ch, k| [(e[k] as f64 - mean[ch]).powi(2)]);
        for (v, [s]) in var.iter_mut().zip(&part) {
            *v += s;
        }
    }
    let inv_std: Vec<f32> = var
        .iter()
        .map(|s| 1.0 / ((s / n) as f32 + BN_EPS).sqrt())
        .collect();
    let xhat = z
        .iter()
        .map(|e| {
            per_channel(e, plane, |ch| {
                let (m, s) = (mean[ch] as f32, inv_std[ch]);
                move |v| (v - m) * s
            })
        })
        .collect();
    BnPass {
        xhat,
        inv_std,
        mean: mean.iter().map(|m| *m as f32).collect(),
        // PyTorch's running variance is unbiased (n - 1); n = 1 cannot occur (a plane is 196+).
        var_unbiased: var.iter().map(|s| (s / (n - 1.0)) as f32).collect(),
    }
}

/// Scale and shift: `gamma xhat + beta` per channel.
fn bn_affine(p: &[f32], g: usize, h: usize, xhat: &[f32], plane: usize) -> Vec<f32> {
    per_channel(xhat, plane, |ch| {
        let (gamma, beta) = (p[g + ch], p[h + ch]);
        move |x| gamma * x + beta
    })
}

/// Adds to `sums[ch]`, for every channel `ch` of one example (channels of `plane` values), the
/// `S` terms `term(ch, k)` of its values `k = ch plane + t`, `t` in order. Each channel's sums are
/// sequential chains of f64 additions (their order fixes the bits); four channels run side by
/// side so that their chains overlap instead of waiting on one another.
#[inline(always)]
fn channel_sums<const S: usize>(
    plane: usize,
    sums: &mut [[f64; S]],
    term: impl Fn(usize, usize) -> [f64; S],
) {
    const SIDE_BY_SIDE: usize = 4;
    let mut blocks = sums.chunks_exact_mut(SIDE_BY_SIDE);
    let mut first = 0;
    for block in &mut blocks {
        let mut acc: [[f64; S]; SIDE_BY_SIDE] = std::array::from_fn(|u| block[u]);
        for t in 0..plane {
            for (u, a) in acc.iter_mut().enumerate() {
                let v = term(first + u, (first + u) * plane + t);
                for (x, y) in a.iter_mut().zip(v) {
                    *x += y;
                }
            }
        }
        block.copy_from_slice(&acc);
        first += SIDE_BY_SIDE;
    }
    for (u, a) in blocks.into_remainder().iter_mut().enumerate() {
        for t in 0..plane {
            let v = term(first + u, (first + u) * plane + t);
            for (x, y) in a.iter_mut().zip(v) {
                *x += y;
            }
        }
    }
}

/// Maps every value of `x` (channels of `plane` values each) by `channel(ch)`, the map of
/// channel `ch`: its constants are read once per channel, not once per value.
#[inline(always)]
fn per_channel<F: Fn(f32) -> f32>(x: &[f32], plane: usize, channel: impl Fn(usize) -> F) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for (ch, values) in x.chunks_exact(plane).enumerate() {
        let f = channel(ch);
        out.extend(values.iter().map(|v| f(*v)));
    }
    out
}

/// BatchNorm2d's backward pass: from the outputs' gradients `dy` (per example), adds the
/// scale and shift gradients into `grad[g..]`, `grad[h..]` and returns the inputs' gradients:
/// `dz = inv_std (dxhat - mean(dxhat) - xhat mean(dxhat xhat))` per channel.
fn bn_backward(
    p: &[f32],
    g: usize,
    h: usize,
    bn: &BnPass,
    dy: &[Vec<f32>],
    plane: usize,
    grad: &mut [f32],
) -> Vec<Vec<f32>> {
    let c = bn.inv_std.len();
    let n = (dy.len() * plane) as f64;
    // Per channel, dy's sum and (dy xhat)'s, over the examples in order.
    let mut sums = vec![[0.0f64; 2]; c];
    for (xe, de) in bn.xhat.iter().zip(dy) {
        channel_sums(plane, &mut sums, |_, k| [de[k] as f64, (de[k] * xe[k]) as f64]);
    }
    let (s1, s2): (Vec<f64>, Vec<f64>) = sums.iter().map(|[a, b]| (a, b)).unzip();
    for ch in 0..c {
        grad[g + ch] += s2[ch] as f32;
        grad[h + ch] += s1[ch] as f32;
    }
    // dxhat = gamma dy, so its channel sums are gamma times dy's.
    let mean_dxhat: Vec<f32> = (0..c).map(|ch| (p[g + ch] as f64 * s1[ch] / n) as f32).collect();
    let mean_dxhat_xhat: Vec<f32> = (0..c).map(|ch| (p[g + ch] as f64 * s2[ch] / n) as f32).collect();
    bn.xhat
        .iter()
        .zip(dy)
        .map(|(xe, de)| {
            let mut dz = Vec::with_capacity(de.len());
            for (ch, (xs, ds)) in xe.chunks_exact(plane).zip(de.chunks_exact(plane)).enumerate() {
                let (inv_std, gamma) = (bn.inv_std[ch], p[g + ch]);
                let (mean_d, mean_dx) = (mean_dxhat[ch], mean_dxhat_xhat[ch]);
                dz.extend(
                    xs.iter()
                        .zip(ds)
                        .map(|(x, d)| inv_std * (gamma * d - mean_d - x * mean_dx)),
                );
            }
            dz
        })
        .collect()
}

/// Adds a convolution's weight and bias gradients (weights `grad[w..b]`, `cout` biases at
/// `b`) from its pre-activations' gradient `dz` and its kept columns, summed in example order.
fn conv_weight_grads(
    dz: &[Vec<f32>],
    cols: &[Vec<f32>],
    w: usize,
    b: usize,
    cout: usize,
    plane: usize,
    grad: &mut [f32],
) {
    let fan_in = (b - w) / cout;
    let per: Vec<Vec<f32>> = dz
        .par_iter()
        .zip(cols.par_iter())
        .map(|(d, col)| {
            let mut g = vec![0.0; cout * fan_in];
            matmul_nt(cout, plane, fan_in, d, col, &mut g);
            g
        })
        .collect();
    for (e, g) in per.iter().enumerate() {
        for (t, v) in grad[w..b].iter_mut().zip(g) {
            *t += v;
        }
        for ch in 0..cout {
            grad[b + ch] += dz[e][ch * plane..(ch + 1) * plane].iter().sum::<f32>();
        }
    }
}

impl SimpleCnn {
    /// Number of parameters (29,034).
    pub fn dim(&self) -> usize {
        DIM
    }

    /// Running statistics at the start of a run: 48 channels (16 then 32), mean 0, variance 1.
    pub fn fresh_stats() -> BnStats {
        BnStats::new(C1 + C2)
    }

    /// PyTorch's default initialisation, seeded: convolution and linear weights and biases
    /// uniform in +-1/sqrt(fan_in), BatchNorm's scale 1 and shift 0.
    pub fn init(&self, seed: u64) -> Vec<f32> {
        let mut r = Rng::stream(seed, 0x5C22, 0);
        let mut v = Vec::with_capacity(DIM);
        let mut fill = |v: &mut Vec<f32>, count, fan_in| torch_uniform(&mut r, v, count, fan_in);
        fill(&mut v, C1 * K * K, K * K);
        fill(&mut v, C1, K * K);
        v.extend(std::iter::repeat_n(1.0, C1));
        v.extend(std::iter::repeat_n(0.0, C1));
        fill(&mut v, C2 * C1 * K * K, C1 * K * K);
        fill(&mut v, C2, C1 * K * K);
        v.extend(std::iter::repeat_n(1.0, C2));
        v.extend(std::iter::repeat_n(0.0, C2));
        fill(&mut v, CLASSES * FLAT, FLAT);
        fill(&mut v, CLASSES, FLAT);
        debug_assert_eq!(v.len(), DIM);
        v
    }

    /// Mean cross-entropy over the minibatch `(image, label)` and its gradient (into `grad`,
    /// length [`SimpleCnn::dim`]), BatchNorm in training mode. Also returns the minibatch's
    /// BatchNorm statistics (48 channels: mean and unbiased variance) for [`BnStats::follow`].
    ///
    /// Errors: an empty minibatch, `p` or `grad` not of length [`SimpleCnn::dim`], an image
    /// not of 784 pixels, a label not below 10.
    pub fn gradient(&self, p: &[f32], batch: &[(&[f32], usize)], grad: &mut [f32]) -> Result<(f64, BnStats)> {
        let b = batch.len();
        if b == 0 {
            return Err(Error::invalid("batch", 0, "need at least one example"));
        }
        if p.len() != DIM || grad.len() != DIM {
            return Err(Error::invalid(
                "params",
                format!("length {} (gradient {})", p.len(), grad.len()),
                format!("the simple CNN has {DIM} parameters"),
            ));
        }
        if let Some((x, y)) = batch
            .iter()
            .find(|(x, y)| x.len() != SIDE * SIDE || *y >= CLASSES)
        {
            return Err(Error::invalid(
                "example",
                format!("{} pixels, label {y}", x.len()),
                "images have 784 pixels and labels are 0..9",
            ));
        }
        let (p1, p2) = (S1 * S1, S2 * S2);
        // Layer 1: convolution per example, BatchNorm over the minibatch, ReLU and pooling.
        let (cols1, z1): (Vec<_>, Vec<_>) = batch
            .par_iter()
            .map(|(x, _)| conv(p, W1, B1, x, 1, C1, S1))
            .unzip();
        let bn1 = bn_forward(&z1, C1, p1);
        let pooled1: Vec<(Vec<f32>, Vec<u32>)> = bn1
            .xhat
            .par_iter()
            .map(|xh| {
                let y = bn_affine(p, G1, H1, xh, p1);
                let (mut pool, mut arg) = (vec![0.0; C1 * Q1 * Q1], vec![0; C1 * Q1 * Q1]);
                relu_pool(&y, C1, S1, &mut pool, &mut arg);
                (pool, arg)
            })
            .collect();
        // Layer 2.
        let (cols2, z2): (Vec<_>, Vec<_>) = pooled1
            .par_iter()
            .map(|(pool, _)| conv(p, W2, B2, pool, C1, C2, S2))
            .unzip();
        let bn2 = bn_forward(&z2, C2, p2);
        let pooled2: Vec<(Vec<f32>, Vec<u32>)> = bn2
            .xhat
            .par_iter()
            .map(|xh| {
                let y = bn_affine(p, G2, H2, xh, p2);
                let (mut pool, mut arg) = (vec![0.0; FLAT], vec![0; FLAT]);
                relu_pool(&y, C2, S2, &mut pool, &mut arg);
                (pool, arg)
            })
            .collect();
        let feats: Vec<f32> = pooled2.iter().flat_map(|(f, _)| f.iter().copied()).collect();

        // Classifier and loss; dlogits = (softmax - onehot) / b.
        let mut dlogits = dense_forward(&feats, &p[FW..FB], &p[FB..DIM]);
        let loss = cross_entropy_backward(&mut dlogits, CLASSES, batch.iter().map(|(_, y)| *y));
        grad.fill(0.0);
        let (gw, gb) = grad[FW..DIM].split_at_mut(FB - FW);
        let dfeats = dense_backward(&feats, &p[FW..FB], &dlogits, gw, gb);

        // Back through layer 2: pooling and ReLU, BatchNorm, convolution.
        let dy2: Vec<Vec<f32>> = pooled2
            .par_iter()
            .zip(dfeats.par_chunks_exact(FLAT))
            .map(|((pool, arg), df)| {
                let mut d = vec![0.0; C2 * p2];
                unpool(df, pool, arg, C2, S2, &mut d);
                d
            })
            .collect();
        let dz2 = bn_backward(p, G2, H2, &bn2, &dy2, p2, grad);
        conv_weight_grads(&dz2, &cols2, W2, B2, C2, p2, grad);
        // Into layer 1's pooled output: the columns' gradient, folded back and cropped.
        let dy1: Vec<Vec<f32>> = dz2
            .par_iter()
            .zip(pooled1.par_iter())
            .map(|(d, (pool, arg))| {
                let mut dcols = vec![0.0; C1 * K * K * p2];
                matmul_tn(C1 * K * K, C2, p2, &p[W2..B2], d, &mut dcols);
                let ps = S2 + 2 * PAD;
                let mut dpadded = vec![0.0; C1 * ps * ps];
                col2im(&dcols, C1, ps, &mut dpadded);
                let dpool = crop(&dpadded, C1, S2);
                let mut dy = vec![0.0; C1 * p1];
                unpool(&dpool, pool, arg, C1, S1, &mut dy);
                dy
            })
            .collect();
        let dz1 = bn_backward(p, G1, H1, &bn1, &dy1, p1, grad);
        conv_weight_grads(&dz1, &cols1, W1, B1, C1, p1, grad);

        let moments = BnStats {
            mean: bn1.mean.iter().chain(&bn2.mean).copied().collect(),
            var: bn1
                .var_unbiased
                .iter()
                .chain(&bn2.var_unbiased)
                .copied()
                .collect(),
        };
        Ok((loss / b as f64, moments))
    }

    /// Loss and predicted class of one image, BatchNorm in evaluation mode (`stats`, 48
    /// channels). `p` has length [`SimpleCnn::dim`], the image 784 pixels, `y < 10` (the
    /// caller's invariant: [`MnistTask`](super::mnist::MnistTask) checks its data on load).
    pub fn predict(&self, p: &[f32], image: &[f32], y: usize, stats: &BnStats) -> (f64, usize) {
        let eval_bn = |z: &[f32], plane: usize, g: usize, h: usize, first: usize| -> Vec<f32> {
            per_channel(z, plane, |ch| {
                let (m, gamma, beta) = (stats.mean[first + ch], p[g + ch], p[h + ch]);
                let sd = (stats.var[first + ch] + BN_EPS).sqrt();
                move |v| gamma * (v - m) / sd + beta
            })
        };
        let (_, z1) = conv(p, W1, B1, image, 1, C1, S1);
        let (mut pool1, mut arg) = (vec![0.0; C1 * Q1 * Q1], vec![0; C1 * Q1 * Q1]);
        relu_pool(&eval_bn(&z1, S1 * S1, G1, H1, 0), C1, S1, &mut pool1, &mut arg);
        let (_, z2) = conv(p, W2, B2, &pool1, C1, C2, S2);
        let (mut feats, mut arg) = (vec![0.0; FLAT], vec![0; FLAT]);
        relu_pool(&eval_bn(&z2, S2 * S2, G2, H2, C1), C2, S2, &mut feats, &mut arg);
        classify(dense_forward(&feats, &p[FW..FB], &p[FB..DIM]), y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_authors_network() {
        // conv1 1*16*25 + 16, bn1 16 + 16, conv2 16*32*25 + 32, bn2 32 + 32, linear 1568*10 + 10
        let want = 16 * 25 + 16 + 16 + 16 + 16 * 32 * 25 + 32 + 32 + 32 + 1568 * 10 + 10;
        assert_eq!(SimpleCnn.dim(), want);
        assert_eq!(want, 29_034);
        assert_eq!(SimpleCnn.init(0).len(), want);
        assert_eq!((S1, Q1, S2, Q2, FLAT), (28, 14, 14, 7, 1568));
        assert_eq!(SimpleCnn::fresh_stats().mean.len(), 48);
    }

    #[test]
    fn pad_and_crop_are_adjoint() {
        // <pad(x), y> = <x, crop(y)> for random x and y.
        let mut r = Rng::new(4);
        let (c, side) = (3, 6);
        let ps = side + 2 * PAD;
        let x: Vec<f32> = (0..c * side * side).map(|_| r.normal() as f32).collect();
        let y: Vec<f32> = (0..c * ps * ps).map(|_| r.normal() as f32).collect();
        let lhs: f64 = pad(&x, c, side).iter().zip(&y).map(|(a, b)| (a * b) as f64).sum();
        let rhs: f64 = x
            .iter()
            .zip(&crop(&y, c, side))
            .map(|(a, b)| (a * b) as f64)
            .sum();
        assert!((lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()), "{lhs} vs {rhs}");
    }

    #[test]
    fn bad_input_is_an_error_naming_the_parameter() {
        let mut g = vec![0.0; DIM];
        let p = SimpleCnn.init(0);
        let img = vec![0.0f32; 784];
        assert!(
            SimpleCnn
                .gradient(&p, &[], &mut g)
                .unwrap_err()
                .to_string()
                .contains("batch")
        );
        assert!(
            SimpleCnn
                .gradient(&p[1..], &[(&img, 1)], &mut g)
                .unwrap_err()
                .to_string()
                .contains("params")
        );
        assert!(
            SimpleCnn
                .gradient(&p, &[(&img, 10)], &mut g)
                .unwrap_err()
                .to_string()
                .contains("example")
        );
    }
}
