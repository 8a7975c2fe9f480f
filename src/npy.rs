//! Reading and writing numpy `.npy` files, for the command line: a batch in, an aggregate out.
//!
//! Only what the CLI needs, with no dependency: little-endian `float32` (`'<f4'`) and
//! `float64` (`'<f8'`, converted to `f32` for rows, kept for weights), C order, header
//! versions 1.0, 2.0 and 3.0. The format is numpy's own (`numpy.lib.format`): the magic
//! `\x93NUMPY`, two version bytes, the header length (u16 for 1.0, u32 otherwise, little
//! endian), then a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces and a
//! newline so that the data starts at a multiple of 64 bytes, then the raw values.
//!
//! Everything else (Fortran order, big-endian data, other dtypes, the wrong number of
//! dimensions, an empty array, a truncated or over-long data section, a bad magic) is an
//! [`Error::Io`] naming the file and the problem; nothing is guessed or silently converted.
//! Converting `f64` rows to `f32` rounds to nearest; values beyond the `f32` range become
//! infinities, which the robust rules then treat as Byzantine (SPEC section 3).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The 6 bytes every `.npy` file starts with.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The data section starts at a multiple of this many bytes (numpy >= 1.17 writes 64).
const ALIGN: usize = 64;

/// The longest header read. numpy writes about 128 bytes and, since 1.24, refuses headers
/// over 10,000 bytes itself; the bound keeps a hostile length field from allocating.
const MAX_HEADER: usize = 1 << 16;

/// The deepest nesting of dicts and tuples in a header (numpy's is 2: a tuple in a dict); the
/// bound keeps the recursive literal parser from overflowing the stack.
const MAX_HEADER_DEPTH: usize = 8;

/// Bytes of the data section read at a time: whole f32 and f64 values.
const CHUNK: usize = 1 << 16;

/// Reads an `(n, d)` float32 or float64 array in C order as a row-major `f32` matrix.
///
/// Returns `(data, n, d)` with `data.len() == n * d`, `n >= 1`, `d >= 1`. The header is read
/// and checked first; the data section's size is then checked against the file's length and
/// the memory budget ([`crate::budget`]) before anything of that size is allocated.
///
/// # Examples
///
/// ```
/// use byzagg::npy;
///
/// let path = std::env::temp_dir().join(format!("byzagg-doc-matrix-{}.npy", std::process::id()));
/// npy::write_matrix_f32(&path, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2)?;
/// let (data, n, d) = npy::read_matrix(&path)?;
/// assert_eq!((n, d), (2, 3));
/// assert_eq!(data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn read_matrix(path: impl AsRef<Path>) -> Result<(Vec<f32>, usize, usize)> {
    let path = path.as_ref();
    let (mut file, len) = open(path)?;
    matrix(&mut file, len).map_err(|message| io_error(path, message))
}

/// [`read_matrix`] on the bytes of a whole file in memory (`name` is what errors call it).
///
/// # Examples
///
/// ```
/// let err = byzagg::npy::parse_matrix(b"\x93NUMPY\x01\x00", "in.npy").unwrap_err();
/// assert!(err.to_string().starts_with("in.npy: truncated header"), "{err}");
/// ```
pub fn parse_matrix(bytes: &[u8], name: &str) -> Result<(Vec<f32>, usize, usize)> {
    let mut reader = bytes;
    matrix(&mut reader, Some(bytes.len() as u64)).map_err(|message| named_error(name, message))
}

/// Reads an `(n,)` float32 or float64 array as `f64` values (the weights of a batch), with
/// the checks of [`read_matrix`].
///
/// # Examples
///
/// ```
/// use byzagg::npy;
///
/// let path = std::env::temp_dir().join(format!("byzagg-doc-vector-{}.npy", std::process::id()));
/// npy::write_vector_f32(&path, &[1.0, 0.5, 3.0])?;
/// assert_eq!(npy::read_vector_f64(&path)?, vec![1.0, 0.5, 3.0]);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn read_vector_f64(path: impl AsRef<Path>) -> Result<Vec<f64>> {
    let path = path.as_ref();
    let (mut file, len) = open(path)?;
    vector(&mut file, len).map_err(|message| io_error(path, message))
}

/// [`read_vector_f64`] on the bytes of a whole file in memory.
pub fn parse_vector_f64(bytes: &[u8], name: &str) -> Result<Vec<f64>> {
    let mut reader = bytes;
    vector(&mut reader, Some(bytes.len() as u64)).map_err(|message| named_error(name, message))
}

/// An `(n, d)` array from `r`, whose total length is `len` when known.
fn matrix(r: &mut impl Read, len: Option<u64>) -> std::result::Result<(Vec<f32>, usize, usize), String> {
    let header = read_header(r)?;
    let [n, d] = header.shape[..] else {
        return Err(format!(
            "expected a 2-d array (n rows, d columns), found shape {}",
            shape_text(&header.shape)
        ));
    };
    let values = read_data(r, &header, len, |v| v, |v| v as f32)?;
    Ok((values, n, d))
}

/// An `(n,)` array from `r` as `f64` values.
fn vector(r: &mut impl Read, len: Option<u64>) -> std::result::Result<Vec<f64>, String> {
    let header = read_header(r)?;
    if header.shape.len() != 1 {
        return Err(format!(
            "expected a 1-d array, found shape {}",
            shape_text(&header.shape)
        ));
    }
    read_data(r, &header, len, f64::from, |v| v)
}

/// Opens a file to read, with its length if it is a regular file (a pipe or a device such
/// as `/dev/zero` has none: its data is then read up to the size its header declares).
fn open(path: &Path) -> Result<(File, Option<u64>)> {
    let file = File::open(path).map_err(|e| io_error(path, format!("cannot read: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| io_error(path, format!("cannot read: {e}")))?;
    if meta.is_dir() {
        return Err(io_error(path, "cannot read: is a directory"));
    }
    Ok((file, meta.is_file().then_some(meta.len())))
}
/// Writes `values` as a `(d,)` little-endian float32 array (`.npy` version 1.0), as
/// `numpy.save` would; `numpy.load` reads it back.
///
/// # Examples
///
/// ```
/// use byzagg::npy;
///
/// let path = std::env::temp_dir().join(format!("byzagg-doc-write-{}.npy", std::process::id()));
/// npy::write_vector_f32(&path, &[0.25, -1.0])?;
/// let bytes = std::fs::read(&path)?;
/// assert_eq!(&bytes[..6], b"\x93NUMPY");
/// assert_eq!(bytes.len(), 128 + 2 * 4); // the header pads to a multiple of 64 bytes, as numpy's
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_vector_f32(path: impl AsRef<Path>, values: &[f32]) -> Result<()> {
    write_f32(path.as_ref(), values, &format!("({},)", values.len()))
}

/// Writes a row-major `n x d` matrix as an `(n, d)` little-endian float32 array (version 1.0);
/// `data.len()` must be a multiple of `n`, with `n >= 1`.
pub fn write_matrix_f32(path: impl AsRef<Path>, data: &[f32], n: usize) -> Result<()> {
    if n == 0 || !data.len().is_multiple_of(n) {
        return Err(Error::invalid(
            "data",
            format!("{} values", data.len()),
            format!("must be a multiple of n = {n} >= 1"),
        ));
    }
    write_f32(path.as_ref(), data, &format!("({}, {})", n, data.len() / n))
}

fn write_f32(path: &Path, values: &[f32], shape: &str) -> Result<()> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n' must end on a multiple of 64.
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.extend(std::iter::repeat_n(
        ' ',
        unpadded.next_multiple_of(ALIGN) - unpadded,
    ));
    header.push('\n');
    let header_len =
        u16::try_from(header.len()).map_err(|_| io_error(path, "shape too long for a header"))?;
    let mut bytes = Vec::with_capacity(MAGIC.len() + 4 + header.len() + 4 * values.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&header_len.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    crate::output::write_atomic(path, &bytes)
}

fn io_error(path: &Path, message: impl Into<String>) -> Error {
    named_error(&path.display().to_string(), message)
}

fn named_error(name: &str, message: impl Into<String>) -> Error {
    Error::Io {
        path: name.to_string(),
        message: message.into(),
    }
}

fn shape_text(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The element types this module reads.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Dtype {
    F32,
    F64,
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }
}

/// What the header says: the element type, the shape, and where the data starts.
#[derive(Debug)]
struct Header {
    dtype: Dtype,
    shape: Vec<usize>,
    /// Bytes before the data section (magic, version, length, header text).
    data_start: u64,
    /// Values in the data section (the product of the shape, at least 1).
    count: usize,
}

/// Reads up to `n` bytes (fewer only at the end of the input).
fn read_up_to(r: &mut impl Read, n: usize) -> std::result::Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    r.take(n as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    Ok(bytes)
}

/// Reads and checks everything before the data: magic, version, header length (at most
/// [`MAX_HEADER`] bytes) and the header dict. Reads nothing past the header.
fn read_header(r: &mut impl Read) -> std::result::Result<Header, String> {
    let preamble = read_up_to(r, MAGIC.len() + 2)?;
    if preamble.len() < MAGIC.len() + 2 || &preamble[..MAGIC.len()] != MAGIC {
        return Err("not a .npy file (bad magic: it must start with \\x93NUMPY)".into());
    }
    let (major, minor) = (preamble[6], preamble[7]);
    let (len_size, utf8) = match (major, minor) {
        (1, 0) => (2, false),
        (2, 0) => (4, false),
        (3, 0) => (4, true),
        _ => {
            return Err(format!(
                "unsupported .npy version {major}.{minor} (1.0, 2.0 and 3.0 are)"
            ));
        }
    };
    let len_bytes = read_up_to(r, len_size)?;
    if len_bytes.len() < len_size {
        return Err("truncated header (the file ends inside the header length)".into());
    }
    let header_len = len_bytes
        .iter()
        .rev()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    if header_len > MAX_HEADER {
        return Err(format!(
            "header of {header_len} bytes is longer than the {MAX_HEADER} bytes byzagg reads \
             (numpy writes about 128)"
        ));
    }
    let header = read_up_to(r, header_len)?;
    if header.len() < header_len {
        return Err(format!(
            "truncated header (it claims {header_len} bytes, the file holds {})",
            header.len()
        ));
    }
    let header = if utf8 {
        std::str::from_utf8(&header)
            .map_err(|_| "header is not valid UTF-8".to_string())?
            .to_string()
    } else {
        // Versions 1.0 and 2.0 are latin-1: every byte is one char.
        header.iter().map(|&b| char::from(b)).collect()
    };
    let (dtype, shape) = parse_header(&header)?;
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &s| acc.checked_mul(s))
        .ok_or_else(|| format!("shape {} is too large", shape_text(&shape)))?;
    if count == 0 {
        return Err(format!(
            "the array of shape {} holds no values",
            shape_text(&shape)
        ));
    }
    Ok(Header {
        dtype,
        shape,
        data_start: (MAGIC.len() + 2 + len_size + header_len) as u64,
        count,
    })
}

/// Reads the data section that `header` describes from `r` (positioned just after the
/// header) and converts each value with `from_f32` or `from_f64`.
///
/// Sizes are checked before the output is allocated: against `len`, the input's total
/// length when known, and against the memory budget. Where `len` is unknown, exactly the
/// declared bytes are read, then one more byte must not exist.
fn read_data<T>(
    r: &mut impl Read,
    header: &Header,
    len: Option<u64>,
    from_f32: fn(f32) -> T,
    from_f64: fn(f64) -> T,
) -> std::result::Result<Vec<T>, String> {
    let shape = shape_text(&header.shape);
    let size = header.dtype.size();
    let expected = header
        .count
        .checked_mul(size)
        .ok_or_else(|| format!("shape {shape} is too large"))? as u64;
    if let Some(len) = len {
        let held = len.saturating_sub(header.data_start);
        if held < expected {
            return Err(format!(
                "truncated data: shape {shape} needs {expected} bytes, the file holds {held}"
            ));
        }
        if held > expected {
            return Err(format!(
                "{} unexpected bytes after the data of shape {shape}",
                held - expected
            ));
        }
    }
    crate::budget::check(
        "shape",
        &shape,
        "the array",
        crate::budget::bytes(&[header.count], size_of::<T>()),
    )
    .map_err(|e| e.to_string())?;
    // With the length known and checked, the whole output at once; from a stream, grown as
    // the values arrive, so a pipe that claims gigabytes costs what it sends.
    let reserve = if len.is_some() {
        header.count
    } else {
        header.count.min(CHUNK)
    };
    let mut values = Vec::new();
    values
        .try_reserve_exact(reserve)
        .map_err(|_| format!("the array of shape {shape} cannot be allocated now"))?;
    // Whole values per read: CHUNK is a multiple of both element sizes.
    let mut chunk = vec![0u8; CHUNK];
    let mut left = header.count;
    while left > 0 {
        let k = left.min(CHUNK / size);
        r.read_exact(&mut chunk[..k * size]).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                format!("truncated data: shape {shape} needs {expected} bytes, the file holds fewer")
            } else {
                format!("cannot read: {e}")
            }
        })?;
        match header.dtype {
            Dtype::F32 => values.extend(
                chunk[..k * 4]
                    .chunks_exact(4)
                    .map(|c| from_f32(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
            ),
            Dtype::F64 => values.extend(chunk[..k * 8].chunks_exact(8).map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                from_f64(f64::from_le_bytes(b))
            })),
        }
        left -= k;
    }
    if len.is_none() && !read_up_to(r, 1)?.is_empty() {
        return Err(format!("unexpected bytes after the data of shape {shape}"));
    }
    Ok(values)
}

/// Parses the header dict: exactly the keys `descr`, `fortran_order` and `shape`.
fn parse_header(header: &str) -> std::result::Result<(Dtype, Vec<usize>), String> {
    let mut p = Literal {
        s: header,
        pos: 0,
        depth: 0,
    };
    let Value::Dict(entries) = p.value()? else {
        return Err(format!("header is not a dict: {:?}", header.trim_end()));
    };
    p.skip_space();
    if p.pos != header.len() {
        return Err(format!(
            "unexpected text after the header dict: {:?}",
            &header[p.pos..]
        ));
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (key, value) in entries {
        match (key.as_str(), value) {
            ("descr", Value::Str(s)) => descr = Some(s),
            ("fortran_order", Value::Bool(b)) => fortran = Some(b),
            ("shape", Value::Tuple(t)) => shape = Some(t),
            ("descr" | "fortran_order" | "shape", v) => {
                return Err(format!("header key '{key}' has an unexpected value {v:?}"));
            }
            _ => return Err(format!("unexpected header key '{key}'")),
        }
    }
    let descr = descr.ok_or("header lacks 'descr'")?;
    let fortran = fortran.ok_or("header lacks 'fortran_order'")?;
    let shape = shape.ok_or("header lacks 'shape'")?;
    let dtype = match descr.as_str() {
        "<f4" => Dtype::F32,
        "<f8" => Dtype::F64,
        ">f4" | ">f8" => {
            return Err(format!(
                "big-endian dtype '{descr}' is not supported (save as '<f4' or '<f8')"
            ));
        }
        other => {
            return Err(format!(
                "unsupported dtype '{other}' (float32 '<f4' or float64 '<f8' are)"
            ));
        }
    };
    if fortran {
        return Err("fortran_order True is not supported (save a C-ordered array)".into());
    }
    Ok((dtype, shape))
}

/// The Python literals a header may hold.
#[derive(Debug)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
    Dict(Vec<(String, Value)>),
}

/// A tiny parser of the Python literal subset numpy writes in headers.
struct Literal<'a> {
    s: &'a str,
    pos: usize,
    /// Dicts open around the current position, at most [`MAX_HEADER_DEPTH`].
    depth: usize,
}

impl Literal<'_> {
    fn skip_space(&mut self) {
        let rest = &self.s[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.s[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn error(&self, what: &str) -> String {
        format!(
            "malformed header at byte {}: expected {what} in {:?}",
            self.pos,
            self.s.trim_end()
        )
    }

    fn value(&mut self) -> std::result::Result<Value, String> {
        match self.peek() {
            Some('{') => self.dict(),
            Some('(') => self.tuple(),
            Some('\'' | '"') => self.string().map(Value::Str),
            Some(_) if self.s[self.pos..].starts_with("True") => {
                self.pos += 4;
                Ok(Value::Bool(true))
            }
            Some(_) if self.s[self.pos..].starts_with("False") => {
                self.pos += 5;
                Ok(Value::Bool(false))
            }
            _ => Err(self.error("a string, True, False, a tuple or a dict")),
        }
    }

    fn dict(&mut self) -> std::result::Result<Value, String> {
        if self.depth >= MAX_HEADER_DEPTH {
            return Err(format!(
                "malformed header at byte {}: dicts nest deeper than {MAX_HEADER_DEPTH} levels",
                self.pos
            ));
        }
        self.depth += 1;
        self.eat('{');
        let mut entries = Vec::new();
        while !self.eat('}') {
            let key = self.string()?;
            if !self.eat(':') {
                return Err(self.error("':'"));
            }
            entries.push((key, self.value()?));
            if !self.eat(',') && self.peek() != Some('}') {
                return Err(self.error("',' or '}'"));
            }
        }
        self.depth -= 1;
        Ok(Value::Dict(entries))
    }

    fn tuple(&mut self) -> std::result::Result<Value, String> {
        self.eat('(');
        let mut items = Vec::new();
        while !self.eat(')') {
            self.skip_space();
            let rest = &self.s[self.pos..];
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 {
                return Err(self.error("a non-negative integer dimension"));
            }
            let dim = rest[..digits]
                .parse::<usize>()
                .map_err(|_| self.error("a dimension that fits usize"))?;
            self.pos += digits;
            // Python 2 wrote long integers as `3L`.
            if self.s[self.pos..].starts_with('L') {
                self.pos += 1;
            }
            items.push(dim);
            if !self.eat(',') && self.peek() != Some(')') {
                return Err(self.error("',' or ')'"));
            }
        }
        Ok(Value::Tuple(items))
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        let Some(quote @ ('\'' | '"')) = self.peek() else {
            return Err(self.error("a quoted string"));
        };
        let body = &self.s[self.pos + 1..];
        let end = body.find(quote).ok_or_else(|| self.error("a closing quote"))?;
        self.pos += end + 2;
        Ok(body[..end].to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of the given version with `dict` as its header (padded like numpy) and `data`.
    fn file(version: (u8, u8), dict: &str, data: &[u8]) -> Vec<u8> {
        let len_size = if version.0 == 1 { 2 } else { 4 };
        let mut header = dict.to_string();
        let unpadded = 8 + len_size + header.len() + 1;
        header.extend(std::iter::repeat_n(' ', unpadded.next_multiple_of(64) - unpadded));
        header.push('\n');
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[version.0, version.1]);
        if len_size == 2 {
            bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn f64_bytes(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// A fresh path in the temp dir, unique per test and process.
    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("byzagg-npy-{}-{name}.npy", std::process::id()))
    }

    fn write_temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = temp(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn matrix_err(name: &str, bytes: &[u8]) -> String {
        let path = write_temp(name, bytes);
        let err = read_matrix(&path).unwrap_err();
        std::fs::remove_file(&path).ok();
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text} names no path");
        text
    }

    #[test]
    fn reads_f32_matrix_in_every_version() {
        let values = [1.0f32, -2.5, f32::NAN, f32::INFINITY, 0.0, 7.0];
        for version in [(1, 0), (2, 0), (3, 0)] {
            let bytes = file(
                version,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                &f32_bytes(&values),
            );
            let (got, n, d) = parse_matrix(&bytes, "x").unwrap();
            assert_eq!((n, d), (2, 3));
            assert_eq!(got.len(), 6);
            for (g, v) in got.iter().zip(values) {
                assert!(g.to_bits() == v.to_bits(), "{version:?}: {g} != {v}");
            }
        }
    }

    #[test]
    fn reads_f64_matrix_converted() {
        let values = [1.0f64, 0.1, 1e300, -3.0];
        // Keys in another order and double quotes are valid Python too.
        let bytes = file(
            (1, 0),
            "{\"shape\": (2L, 2L), \"fortran_order\": False, \"descr\": \"<f8\"}",
            &f64_bytes(&values),
        );
        let path = write_temp("f64", &bytes);
        let (data, n, d) = read_matrix(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!((n, d), (2, 2));
        assert_eq!(data, vec![1.0, 0.1f64 as f32, f32::INFINITY, -3.0]);
    }

    #[test]
    fn reads_weights_f32_and_f64() {
        let bytes = file(
            (1, 0),
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
            &f64_bytes(&[0.1, 2.0, 3.5]),
        );
        assert_eq!(parse_vector_f64(&bytes, "w").unwrap(), vec![0.1, 2.0, 3.5]);
        let bytes = file(
            (2, 0),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            &f32_bytes(&[0.5, 4.0]),
        );
        let path = write_temp("weights", &bytes);
        assert_eq!(read_vector_f64(&path).unwrap(), vec![0.5, 4.0]);
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn write_then_read_round_trips() {
        let values: Vec<f32> = (0..37).map(|i| i as f32 * 0.37 - 3.0).collect();
        let path = temp("round-trip");
        write_vector_f32(&path, &values).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        // numpy's layout: v1.0, header padded to 64 bytes, ending in a newline.
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        assert_eq!(bytes[10 + header_len - 1], b'\n');
        assert!(
            std::str::from_utf8(&bytes[10..10 + header_len])
                .unwrap()
                .starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (37,), }")
        );
        assert_eq!(
            read_vector_f64(&path).unwrap(),
            values.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()
        );
        // A vector is not a matrix.
        assert!(read_matrix(&path).unwrap_err().to_string().contains("2-d"));

        write_matrix_f32(&path, &values[..36], 4).unwrap();
        let (data, n, d) = read_matrix(&path).unwrap();
        assert_eq!((n, d), (4, 9));
        assert_eq!(data, values[..36]);
        assert!(read_vector_f64(&path).unwrap_err().to_string().contains("1-d"));
        std::fs::remove_file(&path).ok();
        assert!(write_matrix_f32(&path, &values, 4).is_err());
    }

    #[test]
    fn rejects_what_it_does_not_read() {
        let data = f32_bytes(&[1.0; 6]);
        let cases = [
            (
                "fortran",
                "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                "fortran_order",
            ),
            (
                "big-endian",
                "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }",
                "big-endian",
            ),
            (
                "int",
                "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }",
                "'<i4'",
            ),
            (
                "f2",
                "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }",
                "'<f2'",
            ),
            (
                "ndim3",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }",
                "(1, 2, 3)",
            ),
            (
                "ndim1",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }",
                "(6,)",
            ),
            (
                "short",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }",
                "truncated data",
            ),
            (
                "long",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }",
                "unexpected bytes",
            ),
            (
                "empty",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }",
                "no values",
            ),
            (
                "no-shape",
                "{'descr': '<f4', 'fortran_order': False, }",
                "'shape'",
            ),
            (
                "extra-key",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}",
                "malformed",
            ),
            (
                "extra-key2",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': True}",
                "'x'",
            ),
            ("not-dict", "(2, 3)", "not a dict"),
            ("garbage", "{'descr': '<f4' 'shape': (2, 3)}", "malformed"),
            (
                "negative",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }",
                "malformed",
            ),
            (
                "huge",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }",
                "too large",
            ),
        ];
        for (name, dict, expected) in cases {
            let text = matrix_err(name, &file((1, 0), dict, &data));
            assert!(text.contains(expected), "{name}: {text:?} lacks {expected:?}");
        }
        let good = file(
            (1, 0),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &data,
        );
        let mut bad_magic = good.clone();
        bad_magic[1] = b'X';
        assert!(matrix_err("magic", &bad_magic).contains("magic"));
        assert!(matrix_err("tiny", b"\x93NU").contains("magic"));
        let mut bad_version = good.clone();
        bad_version[6] = 4;
        assert!(matrix_err("version", &bad_version).contains("version 4.0"));
        assert!(matrix_err("cut-header", &good[..40]).contains("truncated header"));
        assert!(matrix_err("cut-len", &good[..9]).contains("truncated header"));
        assert!(matrix_err("cut-data", &good[..good.len() - 1]).contains("truncated data"));
    }

    #[test]
    fn hostile_headers_are_refused_before_allocating() {
        let data = f32_bytes(&[1.0; 6]);
        // 60,000 nested dicts: a stack overflow for a recursive parser without a bound.
        let deep = "{'a': ".repeat(60_000) + &"}".repeat(60_000);
        let text = matrix_err("deep", &file((2, 0), &deep, &data));
        assert!(text.contains("longer than the 65536 bytes"), "{text}");
        let deep = "{'a': ".repeat(9_000) + &"}".repeat(9_000);
        let text = matrix_err("deep-short", &file((2, 0), &deep, &data));
        assert!(text.contains("nest deeper than 8"), "{text}");
        // A header length of 4 GB in a tiny file.
        let mut huge_len = file(
            (2, 0),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &data,
        );
        huge_len[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matrix_err("huge-len", &huge_len).contains("longer than"));
        // A shape of 10^12 x 10^12 f32 does not fit usize bytes; 10^9 x 10^3 claims 4 TB
        // against a file of 24 bytes: both refused from the header and the file length.
        let text = matrix_err(
            "tera",
            &file(
                (1, 0),
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000), }",
                &data,
            ),
        );
        assert!(
            text.contains("truncated data") && text.contains("4000000000000 bytes"),
            "{text}"
        );
    }

    #[test]
    fn streams_without_a_length_are_read_up_to_the_declared_size() {
        let good = file(
            (1, 0),
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
            &f64_bytes(&[1.0, 2.0, 3.0]),
        );
        // A reader of unknown length, as a pipe: exactly the declared data, then EOF.
        assert_eq!(vector(&mut &good[..], None).unwrap(), vec![1.0, 2.0, 3.0]);
        let mut longer = good.clone();
        longer.push(0);
        let err = vector(&mut &longer[..], None).unwrap_err();
        assert!(err.contains("unexpected bytes"), "{err}");
        let err = vector(&mut &good[..good.len() - 1], None).unwrap_err();
        assert!(err.contains("truncated data"), "{err}");
        // An endless stream of zeros (/dev/zero) fails at the magic, after 8 bytes.
        let err = matrix(&mut std::io::repeat(0), None).unwrap_err();
        assert!(err.contains("bad magic"), "{err}");
        // An endless stream after a valid header stops at the declared size.
        let header = file(
            (1, 0),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
            &[],
        );
        let mut endless = (&header[..]).chain(std::io::repeat(0));
        let err = matrix(&mut endless, None).unwrap_err();
        assert!(err.contains("unexpected bytes"), "{err}");
    }

    #[test]
    fn reads_devices_and_directories_with_an_error() {
        if std::path::Path::new("/dev/zero").exists() {
            let err = read_matrix("/dev/zero").unwrap_err().to_string();
            assert!(err.contains("/dev/zero") && err.contains("bad magic"), "{err}");
        }
        let err = read_matrix(std::env::temp_dir()).unwrap_err().to_string();
        assert!(err.contains("directory"), "{err}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let path = temp("does-not-exist");
        let err = read_matrix(&path).unwrap_err();
        assert!(matches!(err, Error::Io { .. }));
        assert!(err.to_string().contains("does-not-exist"), "{err}");
        assert!(err.to_string().contains("cannot read"), "{err}");
    }
}
