//! The papers' MNIST network, with exact hand-written gradients:
//! Conv(1->20, 5x5) - ReLU - MaxPool 2 - Conv(20->50, 5x5) - ReLU - MaxPool 2 - FC(800->50) -
//! BatchNorm1d - ReLU - FC(50->10).
//!
//! Convolutions are im2col followed by the blocked products of `task/dense.rs`; the examples
//! of a minibatch run their convolutions in parallel on rayon, and their gradients are summed
//! in example order, so a gradient is the same bits on any number of threads. BatchNorm1d
//! normalises with the minibatch's statistics during training (so a minibatch needs at least
//! two examples, as in PyTorch) and evaluation uses running statistics, updated by every
//! training pass with PyTorch's momentum 0.1 and unbiased variance.
//!
//! Parameters are one flat vector in PyTorch's order (`conv1.weight`, `conv1.bias`,
//! `conv2.weight`, `conv2.bias`, `fc1.weight`, `fc1.bias`, `bn.weight`, `bn.bias`,
//! `fc2.weight`, `fc2.bias`), 66,230 numbers: exactly what workers send and the server
//! aggregates. The running statistics are not parameters: they are state of the model that
//! nobody aggregates ([`BnStats`]).

use rayon::prelude::*;

use super::dense::{
    classify, cross_entropy_backward, dense_backward, dense_forward, matmul_nn, matmul_nt, matmul_tn,
    torch_uniform,
};
use super::simple_cnn::{S1, S2};
use crate::error::{Error, Result};
use crate::train::rng::Rng;

/// Input side (28 x 28 images).
const SIDE: usize = 28;
/// Kernel side of both convolutions.
pub(super) const K: usize = 5;
/// Channels out of the first convolution.
const C1: usize = 20;
/// Side after the first convolution (valid, stride 1) and after its pooling.
const O1: usize = SIDE - K + 1;
const P1: usize = O1 / 2;
/// Channels out of the second convolution.
const C2: usize = 50;
/// Side after the second convolution and after its pooling.
const O2: usize = P1 - K + 1;
const P2: usize = O2 / 2;
/// Flattened features into the first fully connected layer (50 x 4 x 4).
const FLAT: usize = C2 * P2 * P2;
/// Hidden units of the first fully connected layer (and BatchNorm's features).
const HID: usize = 50;
/// Classes.
const CLASSES: usize = 10;
/// BatchNorm's epsilon and running-statistics momentum (PyTorch's defaults).
pub(super) const BN_EPS: f32 = 1e-5;
const BN_MOMENTUM: f32 = 0.1;

// Offsets of each parameter block in the flat vector.
const W1: usize = 0;
const B1: usize = W1 + C1 * K * K;
const W2: usize = B1 + C1;
const B2: usize = W2 + C2 * C1 * K * K;
const F1W: usize = B2 + C2;
const F1B: usize = F1W + HID * FLAT;
const BNG: usize = F1B + HID;
const BNB: usize = BNG + HID;
const F2W: usize = BNB + HID;
const F2B: usize = F2W + CLASSES * HID;
const DIM: usize = F2B + CLASSES;
/// The convolutional parameters (conv1 and conv2, weights and biases), which each example's
/// backward pass produces on its own before the sum.
const CONV_DIM: usize = F1W;

/// The network (its shape is fixed: 28 x 28 grey images, 10 classes).
///
/// # Examples
///
/// ```
/// use byzagg::train::{BnStats, Cnn};
///
/// let net = Cnn;
/// let params = net.init(0);
/// let (a, b) = (vec![0.5f32; 784], vec![-0.5f32; 784]);
/// let mut grad = vec![0.0; net.dim()];
/// let (loss, moments) = net.gradient(&params, &[(&a, 3), (&b, 7)], &mut grad)?;
/// assert!(loss > 0.0 && grad.iter().any(|g| *g != 0.0));
/// let mut stats = BnStats::default();
/// stats.follow(&moments);
/// let (_, class) = net.predict(&params, &a, 3, &stats);
/// assert!(class < 10);
/// assert!(net.gradient(&params, &[(&a, 3)], &mut grad).is_err()); // BatchNorm needs two
/// # Ok::<(), byzagg::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cnn;

/// BatchNorm1d's running mean and (unbiased) variance, used at evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct BnStats {
    /// Running mean per feature (starts at 0).
    pub mean: Vec<f32>,
    /// Running variance per feature (starts at 1).
    pub var: Vec<f32>,
}

impl BnStats {
    /// Fresh statistics for `features` features (or channels): mean 0, variance 1, as PyTorch
    /// starts them.
    pub fn new(features: usize) -> Self {
        BnStats {
            mean: vec![0.0; features],
            var: vec![1.0; features],
        }
    }

    /// Moves the running statistics towards a minibatch's (PyTorch's update, momentum 0.1).
    pub fn follow(&mut self, batch: &BnStats) {
        for (r, b) in self.mean.iter_mut().zip(&batch.mean) {
            *r = (1.0 - BN_MOMENTUM) * *r + BN_MOMENTUM * b;
        }
        for (r, b) in self.var.iter_mut().zip(&batch.var) {
            *r = (1.0 - BN_MOMENTUM) * *r + BN_MOMENTUM * b;
        }
    }
}

impl Default for BnStats {
    /// The papers' CNN's 50 BatchNorm1d features.
    fn default() -> Self {
        BnStats::new(HID)
    }
}

/// What one example's convolutional part keeps for its backward pass.
struct ConvPass {
    cols1: Vec<f32>,
    pool1: Vec<f32>,
    arg1: Vec<u32>,
    cols2: Vec<f32>,
    /// The pooled second-layer activations: the 800 features fc1 reads.
    pool2: Vec<f32>,
    arg2: Vec<u32>,
}

/// Unfolds a `c x side x side` input into `(c K K) x (out out)` columns (valid, stride 1).
pub(super) fn im2col(input: &[f32], c: usize, side: usize) -> Vec<f32> {
    match side - K + 1 {
        O1 => im2col_rows::<O1>(input, c, side),
        O2 => im2col_rows::<O2>(input, c, side),
        S1 => im2col_rows::<S1>(input, c, side),
        S2 => im2col_rows::<S2>(input, c, side),
        _ => im2col_rows::<0>(input, c, side),
    }
}

/// [`im2col`] for outputs `W` wide (0: any width). The models' widths (this network's `O1` and
/// `O2`, 24 and 8; the ICML one's `S1` and `S2`, 28 and 14) are constants here so that each row of 8 to 28 values
/// is a few vector moves, not a call to `memcpy`: rows this short made the calls a third of a
/// convolution's setup. The columns are appended row by row, so nothing is zeroed first.
#[inline(always)]
fn im2col_rows<const W: usize>(input: &[f32], c: usize, side: usize) -> Vec<f32> {
    let out = if W == 0 { side - K + 1 } else { W };
    let mut cols = Vec::with_capacity(c * K * K * out * out);
    for ch in 0..c {
        for ky in 0..K {
            for kx in 0..K {
                for oy in 0..out {
                    let src = ch * side * side + (oy + ky) * side + kx;
                    cols.extend_from_slice(&input[src..src + out]);
                }
            }
        }
    }
    cols
}

/// The adjoint of [`im2col`]: adds the columns' gradients back onto the input's.
pub(super) fn col2im(dcols: &[f32], c: usize, side: usize, dinput: &mut [f32]) {
    // Only the second convolutions pass a gradient back to their input.
    match side - K + 1 {
        O2 => col2im_rows::<O2>(dcols, c, side, dinput),
        S2 => col2im_rows::<S2>(dcols, c, side, dinput),
        _ => col2im_rows::<0>(dcols, c, side, dinput),
    }
}

/// [`col2im`] for outputs `W` wide (0: any width), as [`im2col_rows`]: each value's
/// additions in the same order whatever `W`, so the same bits.
#[inline(always)]
fn col2im_rows<const W: usize>(dcols: &[f32], c: usize, side: usize, dinput: &mut [f32]) {
    let out = if W == 0 { side - K + 1 } else { W };
    for ch in 0..c {
        for ky in 0..K {
            for kx in 0..K {
                let row = ((ch * K + ky) * K + kx) * out * out;
                for oy in 0..out {
                    let dst = ch * side * side + (oy + ky) * side + kx;
                    for (d, s) in dinput[dst..dst + out]
                        .iter_mut()
                        .zip(&dcols[row + oy * out..row + (oy + 1) * out])
                    {
                        *d += s;
                    }
                }
            }
        }
    }
}

/// ReLU then 2 x 2 max pooling of `c` planes of `side x side`; the pooled values and, per
/// pooled value, the index of its winner within the plane.
pub(super) fn relu_pool(x: &[f32], c: usize, side: usize, pooled: &mut [f32], arg: &mut [u32]) {
    let half = side / 2;
    for ch in 0..c {
        let plane = &x[ch * side * side..(ch + 1) * side * side];
        for py in 0..half {
            for px in 0..half {
                let mut best = (2 * py * side + 2 * px, f32::NEG_INFINITY);
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let i = (2 * py + dy) * side + 2 * px + dx;
                    // NaN never wins: a window of NaN pools to 0 and passes no gradient.
                    if plane[i] > best.1 {
                        best = (i, plane[i]);
                    }
                }
                let o = ch * half * half + py * half + px;
                pooled[o] = best.1.max(0.0);
                arg[o] = best.0 as u32;
            }
        }
    }
}

/// Scatters pooled gradients to their winners where the ReLU let them through.
pub(super) fn unpool(dpooled: &[f32], pooled: &[f32], arg: &[u32], c: usize, side: usize, dx: &mut [f32]) {
    let per = (side / 2) * (side / 2);
    for ch in 0..c {
        for j in 0..per {
            let o = ch * per + j;
            if pooled[o] > 0.0 {
                dx[ch * side * side + arg[o] as usize] = dpooled[o];
            }
        }
    }
}

impl Cnn {
    /// Number of parameters (66,230).
    pub fn dim(&self) -> usize {
        DIM
    }

    /// Pixels per input image (784).
    pub fn inputs(&self) -> usize {
        SIDE * SIDE
    }

    /// PyTorch's default initialisation, seeded: weights and biases uniform in
    /// +-1/sqrt(fan_in), BatchNorm's scale 1 and shift 0.
    pub fn init(&self, seed: u64) -> Vec<f32> {
        let mut r = Rng::stream(seed, 0xC022, 0);
        let mut v = Vec::with_capacity(DIM);
        let mut fill = |v: &mut Vec<f32>, count, fan_in| torch_uniform(&mut r, v, count, fan_in);
        fill(&mut v, C1 * K * K, K * K);
        fill(&mut v, C1, K * K);
        fill(&mut v, C2 * C1 * K * K, C1 * K * K);
        fill(&mut v, C2, C1 * K * K);
        fill(&mut v, HID * FLAT, FLAT);
        fill(&mut v, HID, FLAT);
        v.extend(std::iter::repeat_n(1.0, HID));
        v.extend(std::iter::repeat_n(0.0, HID));
        fill(&mut v, CLASSES * HID, HID);
        fill(&mut v, CLASSES, HID);
        debug_assert_eq!(v.len(), DIM);
        v
    }

    /// Both convolutions of one image, keeping what the backward pass needs.
    fn conv_forward(&self, p: &[f32], image: &[f32]) -> ConvPass {
        let cols1 = im2col(image, 1, SIDE);
        let mut z1 = vec![0.0; C1 * O1 * O1];
        for (ch, row) in z1.chunks_exact_mut(O1 * O1).enumerate() {
            row.fill(p[B1 + ch]);
        }
        matmul_nn(C1, K * K, O1 * O1, &p[W1..B1], &cols1, &mut z1);
        let (mut pool1, mut arg1) = (vec![0.0; C1 * P1 * P1], vec![0; C1 * P1 * P1]);
        relu_pool(&z1, C1, O1, &mut pool1, &mut arg1);

        let cols2 = im2col(&pool1, C1, P1);
        let mut z2 = vec![0.0; C2 * O2 * O2];
        for (ch, row) in z2.chunks_exact_mut(O2 * O2).enumerate() {
            row.fill(p[B2 + ch]);
        }
        matmul_nn(C2, C1 * K * K, O2 * O2, &p[W2..B2], &cols2, &mut z2);
        let (mut pool2, mut arg2) = (vec![0.0; FLAT], vec![0; FLAT]);
        relu_pool(&z2, C2, O2, &mut pool2, &mut arg2);
        ConvPass {
            cols1,
            pool1,
            arg1,
            cols2,
            pool2,
            arg2,
        }
    }

    /// One image's convolutional gradient (length [`CONV_DIM`]) from its features' gradient.
    fn conv_backward(&self, p: &[f32], pass: &ConvPass, dfeat: &[f32]) -> Vec<f32> {
        let mut g = vec![0.0; CONV_DIM];
        let mut dz2 = vec![0.0; C2 * O2 * O2];
        unpool(dfeat, &pass.pool2, &pass.arg2, C2, O2, &mut dz2);
        matmul_nt(C2, O2 * O2, C1 * K * K, &dz2, &pass.cols2, &mut g[W2..B2]);
        for (ch, row) in dz2.chunks_exact(O2 * O2).enumerate() {
            g[B2 + ch] = row.iter().sum();
        }
        let mut dcols2 = vec![0.0; C1 * K * K * O2 * O2];
        matmul_tn(C1 * K * K, C2, O2 * O2, &p[W2..B2], &dz2, &mut dcols2);
        let mut dpool1 = vec![0.0; C1 * P1 * P1];
        col2im(&dcols2, C1, P1, &mut dpool1);
        let mut dz1 = vec![0.0; C1 * O1 * O1];
        unpool(&dpool1, &pass.pool1, &pass.arg1, C1, O1, &mut dz1);
        matmul_nt(C1, O1 * O1, K * K, &dz1, &pass.cols1, &mut g[W1..B1]);
        for (ch, row) in dz1.chunks_exact(O1 * O1).enumerate() {
            g[B1 + ch] = row.iter().sum();
        }
        g
    }

    /// fc1's pre-activations `b x 50` from the features `b x 800`.
    fn fc1(&self, p: &[f32], feats: &[f32]) -> Vec<f32> {
        dense_forward(feats, &p[F1W..F1B], &p[F1B..BNG])
    }

    /// Mean cross-entropy over the minibatch `(image, label)` and its gradient (into `grad`,
    /// length [`Cnn::dim`]), BatchNorm in training mode. Also returns the minibatch's
    /// BatchNorm statistics (mean and unbiased variance) for [`BnStats::follow`]. Needs at least
    /// two examples (BatchNorm's variance).
    ///
    /// Errors: fewer than two examples, `p` or `grad` not of length [`Cnn::dim`], an image not
    /// of 784 pixels, a label not below 10.
    pub fn gradient(&self, p: &[f32], batch: &[(&[f32], usize)], grad: &mut [f32]) -> Result<(f64, BnStats)> {
        let b = batch.len();
        if b < 2 {
            return Err(Error::invalid(
                "batch",
                b,
                "BatchNorm in training mode needs at least 2 examples",
            ));
        }
        self.check(p, grad.len())?;
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
        let passes: Vec<ConvPass> = batch.par_iter().map(|(x, _)| self.conv_forward(p, x)).collect();
        let feats: Vec<f32> = passes.iter().flat_map(|s| s.pool2.iter().copied()).collect();
        let h = self.fc1(p, &feats);

        // BatchNorm1d over the minibatch (biased variance normalises, as in PyTorch).
        let bf = b as f32;
        let mut mean = vec![0.0f32; HID];
        let mut var = [0.0f32; HID];
        for row in h.chunks_exact(HID) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v / bf;
            }
        }
        for row in h.chunks_exact(HID) {
            for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (v - m) * (v - m) / bf;
            }
        }
        let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + BN_EPS).sqrt()).collect();
        let mut xhat = vec![0.0f32; b * HID];
        let mut act = vec![0.0f32; b * HID];
        for e in 0..b {
            for j in 0..HID {
                let k = e * HID + j;
                xhat[k] = (h[k] - mean[j]) * inv_std[j];
                act[k] = (p[BNG + j] * xhat[k] + p[BNB + j]).max(0.0);
            }
        }
        let unbias = bf / (bf - 1.0);
        let moments = BnStats {
            var: var.iter().map(|v| v * unbias).collect(),
            mean,
        };

        // fc2 and the loss; dlogits = (softmax - onehot) / b.
        let mut dlogits = dense_forward(&act, &p[F2W..F2B], &p[F2B..DIM]);
        let loss = cross_entropy_backward(&mut dlogits, CLASSES, batch.iter().map(|(_, y)| *y));

        grad.fill(0.0);
        let (gw, gb) = grad[F2W..DIM].split_at_mut(F2B - F2W);
        let dact = dense_backward(&act, &p[F2W..F2B], &dlogits, gw, gb);
        // Through the ReLU, then BatchNorm's scale and shift.
        let mut dxhat = vec![0.0f32; b * HID];
        for k in 0..b * HID {
            let j = k % HID;
            let dy = if act[k] > 0.0 { dact[k] } else { 0.0 };
            grad[BNG + j] += dy * xhat[k];
            grad[BNB + j] += dy;
            dxhat[k] = dy * p[BNG + j];
        }
        // Through the normalisation: dh = inv_std (dxhat - mean(dxhat) - xhat mean(dxhat xhat)).
        let (mut s1, mut s2) = (vec![0.0f32; HID], vec![0.0f32; HID]);
        for k in 0..b * HID {
            s1[k % HID] += dxhat[k];
            s2[k % HID] += dxhat[k] * xhat[k];
        }
        let dh: Vec<f32> = (0..b * HID)
            .map(|k| {
                let j = k % HID;
                inv_std[j] * (dxhat[k] - s1[j] / bf - xhat[k] * s2[j] / bf)
            })
            .collect();
        let (gw, gb) = grad[F1W..BNG].split_at_mut(F1B - F1W);
        let dfeats = dense_backward(&feats, &p[F1W..F1B], &dh, gw, gb);

        let conv_grads: Vec<Vec<f32>> = passes
            .par_iter()
            .zip(dfeats.par_chunks_exact(FLAT))
            .map(|(pass, df)| self.conv_backward(p, pass, df))
            .collect();
        for g in &conv_grads {
            for (t, v) in grad[..CONV_DIM].iter_mut().zip(g) {
                *t += v;
            }
        }
        Ok((loss / b as f64, moments))
    }

    fn check(&self, p: &[f32], grad_len: usize) -> Result<()> {
        if p.len() != DIM || grad_len != DIM {
            return Err(Error::invalid(
                "params",
                format!("length {} (gradient {grad_len})", p.len()),
                format!("the CNN has {DIM} parameters"),
            ));
        }
        Ok(())
    }

    /// Loss and predicted class of one image, BatchNorm in evaluation mode (running statistics).
    /// `p` has length [`Cnn::dim`], the image 784 pixels, `y < 10` (the caller's invariant:
    /// [`MnistTask`](super::mnist::MnistTask) checks its data when it loads).
    pub fn predict(&self, p: &[f32], image: &[f32], y: usize, stats: &BnStats) -> (f64, usize) {
        let pass = self.conv_forward(p, image);
        let h = self.fc1(p, &pass.pool2);
        let act: Vec<f32> = (0..HID)
            .map(|j| {
                let xhat = (h[j] - stats.mean[j]) / (stats.var[j] + BN_EPS).sqrt();
                (p[BNG + j] * xhat + p[BNB + j]).max(0.0)
            })
            .collect();
        classify(dense_forward(&act, &p[F2W..F2B], &p[F2B..DIM]), y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_papers_network() {
        // conv1 20*25+20, conv2 50*500+50, fc1 50*800+50, bn 50+50, fc2 10*50+10
        assert_eq!(Cnn.dim(), 520 + 25_050 + 40_050 + 100 + 510);
        assert_eq!(Cnn.init(0).len(), Cnn.dim());
        assert_eq!((O1, P1, O2, P2, FLAT), (24, 12, 8, 4, 800));
    }

    #[test]
    fn im2col_and_col2im_are_adjoint() {
        // <im2col(x), c> = <x, col2im(c)> for random x and c.
        let mut r = Rng::new(9);
        let (c, side) = (3, 9);
        let out = side - K + 1;
        let x: Vec<f32> = (0..c * side * side).map(|_| r.normal() as f32).collect();
        let cols: Vec<f32> = (0..c * K * K * out * out).map(|_| r.normal() as f32).collect();
        let ux = im2col(&x, c, side);
        let mut adj = vec![0.0; x.len()];
        col2im(&cols, c, side, &mut adj);
        let lhs: f64 = ux.iter().zip(&cols).map(|(a, b)| (a * b) as f64).sum();
        let rhs: f64 = x.iter().zip(&adj).map(|(a, b)| (a * b) as f64).sum();
        assert!((lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()), "{lhs} vs {rhs}");
    }
}
