//! Reading IDX files (the MNIST format), plain or gzip-compressed.
//!
//! An IDX file is a big-endian header (two zero bytes, a type byte, the number of dimensions,
//! then one u32 per dimension) followed by the data. Only unsigned bytes (type 0x08) are needed
//! for MNIST: images have magic 2051 (3 dimensions), labels 2049 (1 dimension).

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// An IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// The dimensions, outermost first (`[10000, 28, 28]` for MNIST test images).
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

impl Idx {
    /// Parses IDX bytes (already decompressed).
    ///
    /// # Examples
    ///
    /// ```
    /// use byzagg::train::Idx;
    ///
    /// let bytes = [0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9];
    /// let idx = Idx::parse(&bytes, "labels")?;
    /// assert_eq!((idx.dims, idx.data), (vec![3], vec![7, 8, 9]));
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    pub fn parse(bytes: &[u8], name: &str) -> Result<Idx> {
        let bad = |m: String| Error::Io {
            path: name.to_string(),
            message: m,
        };
        if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
            return Err(bad("not an IDX file (bad magic)".into()));
        }
        if bytes[2] != 0x08 {
            return Err(bad(format!(
                "IDX type 0x{:02x} unsupported: only unsigned bytes (0x08)",
                bytes[2]
            )));
        }
        let nd = bytes[3] as usize;
        let header = 4 + 4 * nd;
        if bytes.len() < header {
            return Err(bad("truncated IDX header".into()));
        }
        let dims: Vec<usize> = (0..nd)
            .map(|k| u32::from_be_bytes(bytes[4 + 4 * k..8 + 4 * k].try_into().unwrap_or([0; 4])) as usize)
            .collect();
        let len: usize = dims.iter().product();
        if bytes.len() - header != len {
            return Err(bad(format!(
                "IDX dimensions {dims:?} need {len} bytes of data, the file has {}",
                bytes.len() - header
            )));
        }
        Ok(Idx {
            dims,
            data: bytes[header..].to_vec(),
        })
    }

    /// Reads an IDX file; gzip is detected by its magic bytes.
    pub fn read(path: &Path) -> Result<Idx> {
        let name = path.display().to_string();
        let io = |e: std::io::Error| Error::Io {
            path: name.clone(),
            message: e.to_string(),
        };
        let raw = std::fs::read(path).map_err(io)?;
        let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .map_err(io)?;
            out
        } else {
            raw
        };
        Idx::parse(&bytes, &name)
    }
}

/// Finds `stem` or `stem.gz` in `dir` (also the `stem` spelled with a dot before `idx`, as some
/// mirrors do).
pub fn find(dir: &Path, stem: &str) -> Option<std::path::PathBuf> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    [
        stem.to_string(),
        format!("{stem}.gz"),
        dotted.clone(),
        format!("{dotted}.gz"),
    ]
    .into_iter()
    .map(|f| dir.join(f))
    .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_sizes_and_types() {
        assert!(Idx::parse(&[0, 0, 8, 1, 0, 0, 0, 3, 7, 8], "x").is_err());
        assert!(Idx::parse(&[0, 0, 13, 1, 0, 0, 0, 1, 0, 0, 0, 0], "x").is_err());
        assert!(Idx::parse(&[1, 0, 8, 1], "x").is_err());
        let img = Idx::parse(&[0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4], "x").unwrap();
        assert_eq!(img.dims, vec![1, 2, 2]);
    }
}
