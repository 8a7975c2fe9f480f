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
mod tests;
