//! A one-hidden-layer perceptron (inputs -> ReLU -> softmax) with exact, hand-written gradients.
//!
//! Parameters are one flat vector `[W1 (h x p), b1 (h), W2 (c x h), b2 (c)]`, row-major, which is
//! exactly the vector the workers send and the server aggregates. Sums run in a fixed order, so
//! gradients are reproducible bit for bit. The gradient is checked against finite differences in
//! the tests below.

use super::dense::{classify, dot, softmax_loss, torch_uniform};
use crate::train::rng::Rng;

/// Shape of the network: `inputs -> hidden (ReLU) -> classes (softmax)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mlp {
    /// Input features p.
    pub inputs: usize,
    /// Hidden units h.
    pub hidden: usize,
    /// Classes c.
    pub classes: usize,
}

impl Mlp {
    /// [`Mlp::dim`] of an MLP with these sizes, or `None` where the count overflows `usize`
    /// (a `--hidden` of 10^17, say), checked before any such MLP is built.
    pub fn checked_dim(inputs: usize, hidden: usize, classes: usize) -> Option<usize> {
        hidden
            .checked_mul(inputs)?
            .checked_add(hidden)?
            .checked_add(classes.checked_mul(hidden)?)?
            .checked_add(classes)
    }

    /// Number of parameters: h p + h + c h + c.
    pub fn dim(&self) -> usize {
        self.hidden * self.inputs + self.hidden + self.classes * self.hidden + self.classes
    }

    /// PyTorch's default initialisation: uniform in +-1/sqrt(fan_in), seeded.
    pub fn init(&self, seed: u64) -> Vec<f32> {
        let mut r = Rng::stream(seed, 0x1A17, 0);
        let (p, h, c) = (self.inputs, self.hidden, self.classes);
        let mut v = Vec::with_capacity(self.dim());
        let mut fill = |count, fan_in| torch_uniform(&mut r, &mut v, count, fan_in);
        fill(h * p, p);
        fill(h, p);
        fill(c * h, h);
        fill(c, h);
        v
    }

    fn split<'a>(&self, params: &'a [f32]) -> (&'a [f32], &'a [f32], &'a [f32], &'a [f32]) {
        let (p, h, c) = (self.inputs, self.hidden, self.classes);
        let (w1, rest) = params.split_at(h * p);
        let (b1, rest) = rest.split_at(h);
        let (w2, b2) = rest.split_at(c * h);
        (w1, b1, w2, &b2[..c])
    }

    /// Forward pass of one example: hidden activations into `hid`, logits into `logits`.
    fn forward(&self, params: &[f32], x: &[f32], hid: &mut [f32], logits: &mut [f32]) {
        let (w1, b1, w2, b2) = self.split(params);
        let p = self.inputs;
        for (j, hj) in hid.iter_mut().enumerate() {
            let row = &w1[j * p..(j + 1) * p];
            *hj = (dot(row, x) + b1[j]).max(0.0);
        }
        for (k, lk) in logits.iter_mut().enumerate() {
            *lk = dot(&w2[k * self.hidden..(k + 1) * self.hidden], hid) + b2[k];
        }
    }

    /// Mean cross-entropy and its gradient (into `grad`) over examples `(x, y)`.
    pub fn gradient<'a>(
        &self,
        params: &[f32],
        examples: impl ExactSizeIterator<Item = (&'a [f32], usize)>,
        grad: &mut [f32],
    ) -> f64 {
        let (p, h, c) = (self.inputs, self.hidden, self.classes);
        let b = examples.len() as f32;
        grad.fill(0.0);
        let (_, _, w2, _) = self.split(params);
        let (gw1, rest) = grad.split_at_mut(h * p);
        let (gb1, rest) = rest.split_at_mut(h);
        let (gw2, gb2) = rest.split_at_mut(c * h);
        let (mut hid, mut z, mut dh) = (vec![0.0f32; h], vec![0.0f32; c], vec![0.0f32; h]);
        let mut loss = 0.0;
        for (x, y) in examples {
            self.forward(params, x, &mut hid, &mut z);
            loss += softmax_loss(&mut z, y);
            z[y] -= 1.0; // dL/dlogits = p - onehot(y)
            dh.fill(0.0);
            for k in 0..c {
                let dz = z[k] / b;
                gb2[k] += dz;
                let row = &w2[k * h..(k + 1) * h];
                for j in 0..h {
                    gw2[k * h + j] += dz * hid[j];
                    dh[j] += dz * row[j];
                }
            }
            for j in 0..h {
                if hid[j] > 0.0 {
                    gb1[j] += dh[j];
                    for (g, xi) in gw1[j * p..(j + 1) * p].iter_mut().zip(x) {
                        *g += dh[j] * xi;
                    }
                }
            }
        }
        loss / b as f64
    }

    /// Loss and predicted class of one example.
    pub fn predict(&self, params: &[f32], x: &[f32], y: usize) -> (f64, usize) {
        let (mut hid, mut z) = (vec![0.0f32; self.hidden], vec![0.0f32; self.classes]);
        self.forward(params, x, &mut hid, &mut z);
        classify(z, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let net = Mlp {
            inputs: 11,
            hidden: 5,
            classes: 3,
        };
        let mut r = Rng::new(4);
        let xs: Vec<Vec<f32>> = (0..4)
            .map(|_| (0..11).map(|_| r.normal() as f32).collect())
            .collect();
        let ys = [0usize, 2, 1, 2];
        let params: Vec<f64> = net.init(1).iter().map(|&v| v as f64 * 3.0).collect();
        let loss_at = |p: &[f64]| {
            let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
            let mut g = vec![0.0; net.dim()];
            net.gradient(&p32, xs.iter().map(|x| &x[..]).zip(ys), &mut g)
        };
        let p32: Vec<f32> = params.iter().map(|&v| v as f32).collect();
        let mut g = vec![0.0; net.dim()];
        net.gradient(&p32, xs.iter().map(|x| &x[..]).zip(ys), &mut g);
        for i in 0..net.dim() {
            let eps = 1e-3;
            let (mut a, mut b) = (params.clone(), params.clone());
            a[i] += eps;
            b[i] -= eps;
            let fd = (loss_at(&a) - loss_at(&b)) / (2.0 * eps);
            assert!(
                (fd - g[i] as f64).abs() < 2e-3 * (1.0 + fd.abs()),
                "param {i}: fd {fd} vs {}",
                g[i]
            );
        }
    }
}
