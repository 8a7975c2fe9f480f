//! Reading IDX files (the MNIST format), plain or gzip-compressed.
//!
//! An IDX file is a big-endian header (two zero bytes, a type byte, the number of dimensions,
//! then one u32 per dimension) followed by the data. Only unsigned bytes (type 0x08) are needed
//! for MNIST: images have magic 2051 (3 dimensions), labels 2049 (1 dimension).

use std::io::{BufReader, Read, Seek, SeekFrom};
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
        Idx::from_reader(&mut &bytes[..], name)
    }

    /// Reads an IDX file; gzip is detected by its magic bytes.
    ///
    /// The header is read first (through the decompressor for a gzip file), and then exactly
    /// the bytes its dimensions declare, after checking them against the memory budget: a
    /// small gzip that inflates to gigabytes is refused or read only as far as its header
    /// says, never inflated whole.
    pub fn read(path: &Path) -> Result<Idx> {
        let name = path.display().to_string();
        let io = |e: std::io::Error| Error::Io {
            path: name.clone(),
            message: format!("cannot read: {e}"),
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let mut magic = Vec::new();
        (&mut file).take(2).read_to_end(&mut magic).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        if magic == [0x1f, 0x8b] {
            Idx::from_reader(&mut flate2::read::GzDecoder::new(BufReader::new(file)), &name)
        } else {
            Idx::from_reader(&mut BufReader::new(file), &name)
        }
    }

    /// Reads the header, checks the size it declares, then reads exactly that much data; one
    /// more byte is an error.
    fn from_reader(r: &mut impl Read, name: &str) -> Result<Idx> {
        let bad = |m: String| Error::Io {
            path: name.to_string(),
            message: m,
        };
        let read = |r: &mut dyn Read, n: usize| -> Result<Vec<u8>> {
            let mut bytes = Vec::new();
            r.take(n as u64)
                .read_to_end(&mut bytes)
                .map_err(|e| bad(format!("cannot read: {e}")))?;
            Ok(bytes)
        };
        let magic = read(r, 4)?;
        if magic.len() < 4 || magic[0] != 0 || magic[1] != 0 {
            return Err(bad("not an IDX file (bad magic)".into()));
        }
        if magic[2] != 0x08 {
            return Err(bad(format!(
                "IDX type 0x{:02x} unsupported: only unsigned bytes (0x08)",
                magic[2]
            )));
        }
        let nd = usize::from(magic[3]);
        let header = read(r, 4 * nd)?;
        if header.len() < 4 * nd {
            return Err(bad("truncated IDX header".into()));
        }
        let dims: Vec<usize> = header
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
            .collect();
        // Up to 255 dimensions of up to 2^32 - 1 each: the product can wrap, so check it.
        let len = dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(format!("IDX dimensions {dims:?} are too large")))?;
        crate::budget::check("IDX dimensions", format!("{dims:?}"), "the data", len as u128)
            .map_err(|e| bad(e.to_string()))?;
        // Grown as the bytes arrive, not reserved from the header: a short input claiming
        // gigabytes then costs what it holds, not what it claims.
        let mut data = Vec::new();
        r.take(len as u64)
            .read_to_end(&mut data)
            .map_err(|e| bad(format!("cannot read: {e}")))?;
        if data.len() < len {
            return Err(bad(format!(
                "IDX dimensions {dims:?} need {len} bytes of data, the file has {}",
                data.len()
            )));
        }
        if !read(r, 1)?.is_empty() {
            return Err(bad(format!(
                "IDX dimensions {dims:?} need {len} bytes of data, the file has more"
            )));
        }
        Ok(Idx { dims, data })
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
        let err = Idx::parse(&[0, 0, 8, 1, 0, 0, 0, 2, 7, 8, 9], "x").unwrap_err();
        assert!(err.to_string().contains("has more"), "{err}");
    }

    #[test]
    fn dimension_products_never_wrap() {
        // Five dimensions of 2^32 - 1: the product wraps a u64 (and happened to be small).
        let mut bytes = vec![0, 0, 8, 5];
        for _ in 0..5 {
            bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        let err = Idx::parse(&bytes, "x").unwrap_err().to_string();
        assert!(err.contains("too large"), "{err}");
        // 2^16 * 2^16 * 2^16 = 2^48 bytes: no wrap, but beyond memory, refused before reading.
        let mut bytes = vec![0, 0, 8, 3];
        for _ in 0..3 {
            bytes.extend_from_slice(&65536u32.to_be_bytes());
        }
        let err = Idx::parse(&bytes, "x").unwrap_err().to_string();
        assert!(err.contains("would need"), "{err}");
    }

    #[test]
    fn gzip_is_inflated_only_as_far_as_the_header_declares() {
        use std::io::Write;
        // A header for 3 bytes followed by 200 MB of zeros: a few hundred KB compressed.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&[0, 0, 8, 1, 0, 0, 0, 3]).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..200 {
            gz.write_all(&zeros).unwrap();
        }
        let bytes = gz.finish().unwrap();
        assert!(bytes.len() < 1 << 20, "{}", bytes.len());
        let path = std::env::temp_dir().join(format!("byzagg-idx-bomb-{}.gz", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let err = Idx::read(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).ok();
        assert!(err.contains("has more"), "{err}");
    }
}
