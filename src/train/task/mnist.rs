//! MNIST with a small MLP (784 -> hidden -> 10), the papers' CNN ([`Cnn`]) or the ICML
//! synchronous code's BatchNorm2d network ([`SimpleCnn`]).
//!
//! Two sources: the 10,000-image test split that ships in the crate's `data/mnist/` (split
//! seeded into 8,000 training and 2,000 held-out images), or a folder the user names holding
//! the full MNIST (`train-*` and `t10k-*` IDX files, gzipped or not), in which case the 60,000
//! training images train and the 10,000 test images evaluate. Pixels are scaled to [0, 1] and
//! standardised with MNIST's usual mean 0.1307 and std 0.3081.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use super::cnn::{BnStats, Cnn};
use super::idx::{Idx, find};
use super::mlp::Mlp;
use super::simple_cnn::SimpleCnn;
use super::{Eval, Task};
use crate::error::{Error, Result};
use crate::train::rng::Rng;

const PIXELS: usize = 28 * 28;

/// Images and labels.
#[derive(Clone, Debug, Default)]
pub struct Split {
    /// Standardised pixels, one row of 784 per image.
    pub images: Vec<f32>,
    /// Labels 0..9.
    pub labels: Vec<u8>,
}

impl Split {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether it holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    fn image(&self, i: usize) -> &[f32] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }
}

/// Which network classifies the digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MnistModel {
    /// 784 -> hidden (ReLU) -> 10.
    Mlp {
        /// Hidden units (at least 1).
        hidden: usize,
    },
    /// The papers' CNN (two convolutions, BatchNorm1d; minibatches of two or more).
    Cnn,
    /// The ICML synchronous code's `simple_mnist` (two padded convolutions, each followed by
    /// BatchNorm2d, and one linear layer).
    SimpleCnn,
}

/// MNIST classification with an MLP or the CNN.
///
/// The CNN's BatchNorm running statistics are state of the task, not parameters: every
/// gradient computed in training mode moves them (as every training forward pass of the
/// authors' single shared PyTorch model does), evaluation reads them, and [`Task::init`]
/// resets them, so each run starts fresh.
#[derive(Debug)]
pub struct MnistTask {
    net: Net,
    train: Split,
    test: Split,
    source: String,
    bn: Mutex<BnStats>,
}

#[derive(Clone, Copy, Debug)]
enum Net {
    Mlp(Mlp),
    Cnn(Cnn),
    SimpleCnn(SimpleCnn),
}

impl Net {
    /// BatchNorm running statistics at the start of a run (none for the MLP: an empty set).
    fn fresh_stats(&self) -> BnStats {
        match self {
            Net::Mlp(_) => BnStats::new(0),
            Net::Cnn(_) => BnStats::default(),
            Net::SimpleCnn(_) => SimpleCnn::fresh_stats(),
        }
    }
}

/// The folder of the MNIST test split shipped with the crate: `data/mnist` under the current
/// directory if it exists, else the one in the crate's source tree.
pub fn default_data_dir() -> PathBuf {
    let local = PathBuf::from("data/mnist");
    if local.is_dir() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
    }
}

fn load(dir: &Path, prefix: &str) -> Result<Option<Split>> {
    let (Some(img), Some(lab)) = (
        find(dir, &format!("{prefix}-images-idx3-ubyte")),
        find(dir, &format!("{prefix}-labels-idx1-ubyte")),
    ) else {
        return Ok(None);
    };
    let images = Idx::read(&img)?;
    let labels = Idx::read(&lab)?;
    let bad = |m: String| Error::Io {
        path: img.display().to_string(),
        message: m,
    };
    if images.dims.len() != 3 || images.dims[1].checked_mul(images.dims[2]) != Some(PIXELS) {
        return Err(bad(format!(
            "expected n x 28 x 28 images, found dimensions {:?}",
            images.dims
        )));
    }
    if labels.dims != [images.dims[0]] || labels.data.iter().any(|&y| y > 9) {
        return Err(bad(format!(
            "labels {:?} do not match {} images of digits 0..9",
            labels.dims, images.dims[0]
        )));
    }
    if images.dims[0] == 0 {
        // An empty split would train on nothing or report a test accuracy of NaN (0 / 0).
        return Err(bad("the file holds no images".into()));
    }
    let images = images
        .data
        .iter()
        .map(|&p| (p as f32 / 255.0 - 0.1307) / 0.3081)
        .collect();
    Ok(Some(Split {
        images,
        labels: labels.data,
    }))
}

fn subset(s: &Split, idx: &[usize]) -> Split {
    let mut out = Split::default();
    for &i in idx {
        out.images.extend_from_slice(s.image(i));
        out.labels.push(s.labels[i]);
    }
    out
}

impl MnistTask {
    /// Loads MNIST from `dir` for an MLP with `hidden` units: see [`MnistTask::load_model`].
    pub fn load(dir: &Path, hidden: usize, n_train: usize, seed: u64) -> Result<Self> {
        Self::load_model(dir, MnistModel::Mlp { hidden }, n_train, seed)
    }

    /// Loads MNIST from `dir` for `model`: the full training and test splits if `train-*`
    /// files are there, else the test split cut seeded into `n_train` training and the rest
    /// held out.
    ///
    /// # Examples
    ///
    /// ```
    /// use byzagg::train::task::mnist::default_data_dir;
    /// use byzagg::train::{MnistModel, MnistTask, Task};
    ///
    /// let task = MnistTask::load_model(&default_data_dir(), MnistModel::Cnn, 8000, 0)?;
    /// assert_eq!((task.dim(), task.min_batch(), task.train_len()), (66_230, 2, 8000));
    /// assert_eq!(task.model(), MnistModel::Cnn);
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn load_model(dir: &Path, model: MnistModel, n_train: usize, seed: u64) -> Result<Self> {
        let test = load(dir, "t10k")?.ok_or_else(|| Error::Io {
            path: dir.display().to_string(),
            message: "no t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz) here".into(),
        })?;
        let (train, test, source) = match load(dir, "train")? {
            Some(train) => {
                let src = format!(
                    "MNIST {} train / {} test from {}",
                    train.len(),
                    test.len(),
                    dir.display()
                );
                (train, test, src)
            }
            None => {
                if n_train == 0 || n_train >= test.len() {
                    return Err(Error::invalid(
                        "train_size",
                        n_train,
                        format!("must be in 1..{} (the images available)", test.len()),
                    ));
                }
                let mut order: Vec<usize> = (0..test.len()).collect();
                Rng::stream(seed, 0x5917, 0).shuffle(&mut order);
                let src = format!(
                    "MNIST test split from {}, seeded split {} train / {} held out",
                    dir.display(),
                    n_train,
                    test.len() - n_train
                );
                (
                    subset(&test, &order[..n_train]),
                    subset(&test, &order[n_train..]),
                    src,
                )
            }
        };
        let net = match model {
            MnistModel::Mlp { hidden: 0 } => {
                return Err(Error::invalid(
                    "hidden",
                    0,
                    "the MLP needs at least one hidden unit",
                ));
            }
            MnistModel::Mlp { hidden } => Net::Mlp(Mlp {
                inputs: PIXELS,
                hidden,
                classes: 10,
            }),
            MnistModel::Cnn => Net::Cnn(Cnn),
            MnistModel::SimpleCnn => Net::SimpleCnn(SimpleCnn),
        };
        Ok(MnistTask {
            bn: Mutex::new(net.fresh_stats()),
            net,
            train,
            test,
            source,
        })
    }

    /// The network.
    pub fn model(&self) -> MnistModel {
        match self.net {
            Net::Mlp(m) => MnistModel::Mlp { hidden: m.hidden },
            Net::Cnn(_) => MnistModel::Cnn,
            Net::SimpleCnn(_) => MnistModel::SimpleCnn,
        }
    }

    /// The CNNs' BatchNorm running statistics now (empty for the MLP, which has none).
    pub fn bn_stats(&self) -> BnStats {
        self.bn
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|_| self.net.fresh_stats())
    }

    /// Number of held-out test images.
    pub fn test_len(&self) -> usize {
        self.test.len()
    }
}

impl Task for MnistTask {
    fn describe(&self) -> String {
        match self.net {
            Net::Mlp(m) => format!(
                "{}; MLP 784-{}-10 ({} parameters)",
                self.source,
                m.hidden,
                m.dim()
            ),
            Net::Cnn(c) => format!(
                "{}; CNN conv(20,5x5)-pool-conv(50,5x5)-pool-fc(800,50)-bn-fc(50,10) ({} parameters)",
                self.source,
                c.dim()
            ),
            Net::SimpleCnn(c) => format!(
                "{}; simple CNN conv(16,5x5,pad 2)-bn2d-pool-conv(32,5x5,pad 2)-bn2d-pool-fc(1568,10) ({} parameters)",
                self.source,
                c.dim()
            ),
        }
    }
    fn dim(&self) -> usize {
        match self.net {
            Net::Mlp(m) => m.dim(),
            Net::Cnn(c) => c.dim(),
            Net::SimpleCnn(c) => c.dim(),
        }
    }
    fn classes(&self) -> usize {
        10
    }
    fn min_batch(&self) -> usize {
        match self.net {
            // BatchNorm1d's minibatch variance needs two examples; BatchNorm2d's has a plane each.
            Net::Mlp(_) | Net::SimpleCnn(_) => 1,
            Net::Cnn(_) => 2,
        }
    }
    fn init(&self, seed: u64) -> Vec<f32> {
        *self.bn.lock().unwrap_or_else(|e| e.into_inner()) = self.net.fresh_stats();
        match self.net {
            Net::Mlp(m) => m.init(seed),
            Net::Cnn(c) => c.init(seed),
            Net::SimpleCnn(c) => c.init(seed),
        }
    }
    fn train_len(&self) -> usize {
        self.train.len()
    }
    fn train_label(&self, i: usize) -> usize {
        self.train.labels[i] as usize
    }
    fn gradient(&self, params: &[f32], examples: &[usize], flip: bool, grad: &mut [f32]) -> f64 {
        let it = examples.iter().map(|&i| {
            let y = self.train.labels[i] as usize;
            (self.train.image(i), if flip { 9 - y } else { y })
        });
        match self.net {
            Net::Mlp(m) => m.gradient(params, it, grad),
            Net::Cnn(c) => {
                let batch: Vec<(&[f32], usize)> = it.collect();
                // The drivers check `batch >= min_batch()`, the loader the images and labels.
                let (loss, moments) = c
                    .gradient(params, &batch, grad)
                    .expect("a CNN minibatch of at least min_batch() checked examples");
                self.bn.lock().unwrap_or_else(|e| e.into_inner()).follow(&moments);
                loss
            }
            Net::SimpleCnn(c) => {
                let batch: Vec<(&[f32], usize)> = it.collect();
                let (loss, moments) = c
                    .gradient(params, &batch, grad)
                    .expect("a non-empty minibatch of checked examples");
                self.bn.lock().unwrap_or_else(|e| e.into_inner()).follow(&moments);
                loss
            }
        }
    }
    fn evaluate(&self, params: &[f32]) -> Eval {
        let stats = self.bn_stats();
        // Per-image results in image order, summed in that order: the same bits on any thread count.
        let per: Vec<(f64, bool)> = (0..self.test.len())
            .into_par_iter()
            .map(|i| {
                let y = self.test.labels[i] as usize;
                let (l, pred) = match self.net {
                    Net::Mlp(m) => m.predict(params, self.test.image(i), y),
                    Net::Cnn(c) => c.predict(params, self.test.image(i), y, &stats),
                    Net::SimpleCnn(c) => c.predict(params, self.test.image(i), y, &stats),
                };
                (l, pred == y)
            })
            .collect();
        let loss: f64 = per.iter().map(|p| p.0).sum();
        let correct = per.iter().filter(|p| p.1).count();
        Eval {
            loss: loss / self.test.len() as f64,
            accuracy: correct as f64 / self.test.len() as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `prefix`-images/labels IDX files of `n` blank images into `dir`.
    fn write_split(dir: &Path, prefix: &str, n: u32) {
        let mut images = vec![0, 0, 8, 3];
        for d in [n, 28, 28] {
            images.extend_from_slice(&d.to_be_bytes());
        }
        images.resize(images.len() + n as usize * PIXELS, 0);
        let mut labels = vec![0, 0, 8, 1];
        labels.extend_from_slice(&n.to_be_bytes());
        labels.resize(labels.len() + n as usize, 3);
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
    }

    #[test]
    fn empty_splits_are_errors_not_nan_accuracy() {
        let dir = std::env::temp_dir().join(format!("byzagg-mnist-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_split(&dir, "t10k", 0);
        write_split(&dir, "train", 20);
        let err = MnistTask::load(&dir, 4, 10, 0).unwrap_err().to_string();
        assert!(err.contains("t10k") && err.contains("no images"), "{err}");
        write_split(&dir, "t10k", 5);
        write_split(&dir, "train", 0);
        let err = MnistTask::load(&dir, 4, 10, 0).unwrap_err().to_string();
        assert!(err.contains("train") && err.contains("no images"), "{err}");
        write_split(&dir, "train", 20);
        let task = MnistTask::load(&dir, 4, 10, 0).unwrap();
        assert!(task.evaluate(&task.init(0)).accuracy.is_finite());
        std::fs::remove_dir_all(&dir).ok();
    }
}
