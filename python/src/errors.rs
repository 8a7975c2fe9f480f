//! `byzagg::Error` as Python exceptions, the crate's message kept word for word.

use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

create_exception!(
    byzagg,
    BackendUnavailable,
    PyRuntimeError,
    "The backend asked for cannot run here (no device, no driver, or not compiled in)."
);
create_exception!(
    byzagg,
    NonFiniteError,
    PyValueError,
    "Strict mode found NaN or infinity in a row (outside strict mode such rows are Byzantine input)."
);

/// Bad input (parameters, shapes, rule text) is a `ValueError`; strict mode's non-finite row a
/// [`NonFiniteError`]; a missing backend a [`BackendUnavailable`]; any other failure inside a
/// backend a `RuntimeError`.
pub fn to_py(e: byzagg::Error) -> PyErr {
    let message = e.to_string();
    match e {
        byzagg::Error::InvalidParameter { .. } | byzagg::Error::Parse { .. } => {
            PyValueError::new_err(message)
        }
        byzagg::Error::NonFinite { .. } => NonFiniteError::new_err(message),
        byzagg::Error::Unavailable { .. } => BackendUnavailable::new_err(message),
        _ => PyRuntimeError::new_err(message),
    }
}

/// A `ValueError` in the crate's wording: the parameter, its value, the bound it breaks.
pub fn invalid(name: &'static str, value: impl std::fmt::Display, bound: impl Into<String>) -> PyErr {
    to_py(byzagg::Error::invalid(name, value, bound))
}
