//! The shard protocol step by step for Python hosts (`byzagg.torch.distributed`): one
//! [`byzagg::shard::Session`] per holder, its partials out as float64 arrays and the combined
//! sum back in. The transport (an all-gather over `torch.distributed`) is the caller's.

use std::sync::Mutex;

use byzagg::Rule;
use byzagg::shard::{Session, SessionStep};
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors::{invalid, to_py};
use crate::report;

/// One holder's part of a sharded aggregation: `n` rows of this holder's coordinates.
///
/// Frozen with the session behind a mutex: the session's channels are not `Sync`, and a
/// step blocks (without the GIL) until the rule reaches its next round.
#[pyclass(module = "byzagg._byzagg", frozen)]
pub struct ShardSession {
    session: Mutex<Session>,
}

#[pymethods]
impl ShardSession {
    #[new]
    #[pyo3(signature = (rule, slice, weights = None, *, f = None, lam = None))]
    fn new(
        py: Python<'_>,
        rule: &str,
        slice: PyReadonlyArray2<'_, f32>,
        weights: Option<PyReadonlyArray1<'_, f64>>,
        f: Option<i64>,
        lam: Option<f64>,
    ) -> PyResult<Self> {
        let rule: Rule = rule.parse().map_err(to_py)?;
        let share = crate::aggregator::share(f, lam)?;
        let n = slice.shape()[0];
        // The session owns its rows (its rule runs on a thread of its own): one copy.
        let values = slice
            .as_slice()
            .map_err(|e| invalid("slice", e, "must be C-contiguous float32"))?
            .to_vec();
        let weights = weights
            .map(|w| {
                w.as_slice()
                    .map(<[f64]>::to_vec)
                    .map_err(|e| invalid("weights", e, "must be contiguous"))
            })
            .transpose()?;
        let session = py
            .detach(|| Session::start(rule, share, values, n, weights))
            .map_err(to_py)?;
        Ok(ShardSession {
            session: Mutex::new(session),
        })
    }

    /// Runs the rule to its next round: `("partial", float64 array)`, whose sum over every
    /// holder (in holder order) goes to `deliver`; or `("done", float32 array, steps)`, this
    /// holder's coordinates of the result and the rule's report steps.
    fn step<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let step = py.detach(|| self.lock().step()).map_err(to_py)?;
        match step {
            SessionStep::Partial(p) => ("partial", p.into_pyarray(py))
                .into_pyobject(py)
                .map(Bound::into_any),
            SessionStep::Done(out, rep) => {
                let steps = PyList::empty(py);
                for s in &rep.steps {
                    steps.append(report::step_dict(py, s)?)?;
                }
                ("done", out.into_pyarray(py), steps)
                    .into_pyobject(py)
                    .map(Bound::into_any)
            }
            other => Err(invalid(
                "session",
                format!("{other:?}"),
                "a step this binding does not know",
            )),
        }
    }

    /// Hands the combined sum of the open round to the rule.
    fn deliver(&self, py: Python<'_>, sum: PyReadonlyArray1<'_, f64>) -> PyResult<()> {
        let sum = sum
            .as_slice()
            .map_err(|e| invalid("sum", e, "must be contiguous"))?
            .to_vec();
        py.detach(|| self.lock().deliver(sum)).map_err(to_py)
    }
}

impl ShardSession {
    fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The combine step of the protocol: the element-wise sum of every holder's partial, in holder
/// order, so that every host gets the same bits.
#[pyfunction]
pub fn sum_in_order<'py>(
    py: Python<'py>,
    partials: Vec<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
    let slices = partials
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.as_slice()
                .map_err(|e| invalid("partials", format!("holder {i}: {e}"), "must be contiguous"))
        })
        .collect::<PyResult<Vec<&[f64]>>>()?;
    let sum = byzagg::shard::sum_in_order(&slices).map_err(to_py)?;
    Ok(sum.into_pyarray(py))
}
