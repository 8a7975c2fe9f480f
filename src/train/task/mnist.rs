//! MNIST with a small MLP (784 -> hidden -> 10).
//!
//! Two sources: the 10,000-image test split that ships in the crate's `data/mnist/` (split
//! seeded into 8,000 training and 2,000 held-out images), or a folder the user names holding
//! the full MNIST (`train-*` and `t10k-*` IDX files, gzipped or not), in which case the 60,000
//! training images train and the 10,000 test images evaluate. Pixels are scaled to [0, 1] and
//! standardised with MNIST's usual mean 0.1307 and std 0.3081.

use std::path::{Path, PathBuf};

use super::idx::{Idx, find};
use super::mlp::Mlp;
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

/// MNIST classification with an MLP.
#[derive(Clone, Debug)]
pub struct MnistTask {
    net: Mlp,
    train: Split,
    test: Split,
    source: String,
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
    /// Loads MNIST from `dir`: the full training and test splits if `train-*` files are there,
    /// else the test split cut seeded into `n_train` training and the rest held out.
    pub fn load(dir: &Path, hidden: usize, n_train: usize, seed: u64) -> Result<Self> {
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
        if hidden == 0 {
            return Err(Error::invalid(
                "hidden",
                0,
                "the MLP needs at least one hidden unit",
            ));
        }
        Ok(MnistTask {
            net: Mlp {
                inputs: PIXELS,
                hidden,
                classes: 10,
            },
            train,
            test,
            source,
        })
    }

    /// The network's shape.
    pub fn net(&self) -> Mlp {
        self.net
    }

    /// Number of held-out test images.
    pub fn test_len(&self) -> usize {
        self.test.len()
    }
}

impl Task for MnistTask {
    fn describe(&self) -> String {
        format!(
            "{}; MLP 784-{}-10 ({} parameters)",
            self.source,
            self.net.hidden,
            self.net.dim()
        )
    }
    fn dim(&self) -> usize {
        self.net.dim()
    }
    fn classes(&self) -> usize {
        10
    }
    fn init(&self, seed: u64) -> Vec<f32> {
        self.net.init(seed)
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
        self.net.gradient(params, it, grad)
    }
    fn evaluate(&self, params: &[f32]) -> Eval {
        let (mut loss, mut correct) = (0.0, 0usize);
        for i in 0..self.test.len() {
            let y = self.test.labels[i] as usize;
            let (l, pred) = self.net.predict(params, self.test.image(i), y);
            loss += l;
            correct += (pred == y) as usize;
        }
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
