//! `devices()` and `verify()`: what the machine offers, and the conformance suite, as lists
//! of dicts (the CLI's `byzagg devices` and `byzagg verify` for Python).

use byzagg::Backend;
use byzagg::verify::RuleResult;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::to_py;

/// One dict per backend: `backend`, `available`, `reason` (why not, else None) and `details`
/// (the CPU's threads, wgpu adapters, CUDA devices and NVRTC, one line each).
#[pyfunction]
pub fn devices(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let found: Vec<(Backend, Result<(), String>, Vec<String>)> = py.detach(|| {
        Backend::ALL
            .into_iter()
            .map(|b| {
                let available = b.available().map_err(|e| reason(&e));
                let details = match b {
                    Backend::Cpu => vec![format!("{} rayon threads", rayon::current_num_threads())],
                    Backend::Wgpu => byzagg::wgpu::adapters(),
                    Backend::Cuda => byzagg::cuda::describe(),
                    _ => Vec::new(),
                };
                (b, available, details)
            })
            .collect()
    });
    let list = PyList::empty(py);
    for (backend, available, details) in found {
        let dict = PyDict::new(py);
        dict.set_item("backend", backend.name())?;
        dict.set_item("available", available.is_ok())?;
        dict.set_item("reason", available.err())?;
        dict.set_item("details", details)?;
        list.append(dict)?;
    }
    Ok(list)
}

/// Runs the conformance suite (every rule against the f64 reference) on `backend`, or on every
/// backend but the reference with `"all"`. One dict per rule and backend: `backend`, `rule`,
/// `cases`, `max_error`, `passed`, `failures` (dicts of `case` and `message`). A backend that
/// cannot run here gives one dict with `rule` None, `passed` None and the `reason`. Failures
/// are reported, never raised; only an unknown backend name is a ValueError.
#[pyfunction]
#[pyo3(signature = (backend = "all"))]
pub fn verify<'py>(py: Python<'py>, backend: &str) -> PyResult<Bound<'py, PyList>> {
    let backends: Vec<Backend> = if backend == "all" {
        Backend::ALL
            .into_iter()
            .filter(|b| *b != Backend::Reference)
            .collect()
    } else {
        let b: Backend = backend.parse().map_err(to_py)?;
        vec![b.resolve().unwrap_or(b)]
    };
    let runs: Vec<(Backend, Result<Vec<RuleResult>, String>)> = py.detach(|| {
        backends
            .into_iter()
            .map(|b| (b, byzagg::verify::run(b).map_err(|e| reason(&e))))
            .collect()
    });
    let list = PyList::empty(py);
    for (backend, run) in runs {
        match run {
            Err(why) => {
                let dict = PyDict::new(py);
                dict.set_item("backend", backend.name())?;
                dict.set_item("rule", py.None())?;
                dict.set_item("passed", py.None())?;
                dict.set_item("reason", why)?;
                list.append(dict)?;
            }
            Ok(results) => {
                for r in results {
                    list.append(result_dict(py, &r)?)?;
                }
            }
        }
    }
    Ok(list)
}

fn result_dict<'py>(py: Python<'py>, r: &RuleResult) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("backend", r.backend.name())?;
    dict.set_item("rule", &r.rule)?;
    dict.set_item("cases", r.cases)?;
    dict.set_item("max_error", r.max_error)?;
    dict.set_item("passed", r.pass())?;
    let failures = PyList::empty(py);
    for f in &r.failures {
        let fd = PyDict::new(py);
        fd.set_item("case", &f.case)?;
        fd.set_item("message", &f.message)?;
        failures.append(fd)?;
    }
    dict.set_item("failures", failures)?;
    Ok(dict)
}

/// An unavailable backend's reason without the "backend X is unavailable" preamble.
fn reason(e: &byzagg::Error) -> String {
    match e {
        byzagg::Error::Unavailable { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}
