//! The one error type of the crate.
//!
//! Every variant carries what a user needs to act: the parameter, the value
//! and the bound it broke; the backend and why it is missing. Backend library
//! errors (wgpu, cudarc) enter boxed as [`Error::Backend`], so this enum is the
//! same whatever features are enabled.

/// The result type of every fallible byzagg call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in byzagg.
///
/// # Examples
///
/// ```
/// use byzagg::{Batch, Error};
///
/// // Three rows cannot be made of seven floats.
/// let err = Batch::from_contiguous(&[0.0; 7], 3).unwrap_err();
/// assert!(matches!(err, Error::InvalidParameter { name: "data", .. }));
/// assert!(err.to_string().contains("data"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is outside its allowed range.
    #[error("invalid {name} = {value}: {bound}")]
    InvalidParameter {
        /// The parameter's name, as in the docs and the rule text (`lambda`, `f`, `weights`).
        name: &'static str,
        /// The value given, formatted.
        value: String,
        /// The bound it breaks, in words.
        bound: String,
    },
    /// Rule text that does not parse; `position` is a byte offset into `text`.
    #[error("cannot parse rule {text:?} at byte {position}: {message}")]
    Parse {
        /// The whole text given.
        text: String,
        /// Byte offset of the problem.
        position: usize,
        /// What was expected there.
        message: String,
    },
    /// Strict mode found a row with NaN or infinity.
    #[error("row {row} holds a non-finite value at coordinate {coordinate} (strict mode)")]
    NonFinite {
        /// The first row with a non-finite value.
        row: usize,
        /// Its first non-finite coordinate.
        coordinate: usize,
    },
    /// A backend that is not available on this machine or build.
    #[error("backend {backend} is unavailable: {reason}")]
    Unavailable {
        /// The backend's name (`wgpu`, `cuda`).
        backend: &'static str,
        /// Why, in words a user can act on.
        reason: String,
    },
    /// A failure inside a backend library (device lost, out of memory, compile error).
    #[error("{backend} backend failed: {source}")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// The library's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reading or writing a file.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn invalid(name: &'static str, value: impl std::fmt::Display, bound: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name,
            value: value.to_string(),
            bound: bound.into(),
        }
    }
}
