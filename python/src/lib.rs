//! `byzagg._byzagg`: the compiled half of the Python package.
//!
//! A thin layer over the crate's public API: it borrows numpy buffers (no copy for
//! C-contiguous float32), releases the GIL while a rule runs, and turns `byzagg::Error` into
//! Python exceptions. The Python half (`python/byzagg/`) converts other input forms, and holds
//! the torch and Flower adapters.

use pyo3::prelude::*;

mod aggregator;
mod cuda_rows;
mod errors;
mod inspect;
mod report;
mod shard;

/// The crate's name for "how much of the batch may be Byzantine" (f rows or a share lambda of
/// the weight); kept in this one line so a rename in the crate is a one-line change here.
pub(crate) use byzagg::ByzantineShare as Share;

#[pymodule]
fn _byzagg(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<aggregator::Aggregator>()?;
    m.add("BackendUnavailable", py.get_type::<errors::BackendUnavailable>())?;
    m.add("NonFiniteError", py.get_type::<errors::NonFiniteError>())?;
    m.add_class::<shard::ShardSession>()?;
    m.add_function(wrap_pyfunction!(cuda_rows::aggregate_cuda, m)?)?;
    m.add_function(wrap_pyfunction!(shard::sum_in_order, m)?)?;
    m.add_function(wrap_pyfunction!(inspect::devices, m)?)?;
    m.add_function(wrap_pyfunction!(inspect::verify, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
