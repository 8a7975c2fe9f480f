//! The native `Aggregator`: one `byzagg::Aggregator` (rule + opened backend) and the report
//! of its last call. Every input form reaches the crate as borrowed slices of the numpy
//! buffers; the only copy made here is the stacking of layered rows for rules that need
//! whole rows (see [`Aggregator::aggregate_layers`]).

use std::sync::Mutex;

use byzagg::{BackendList, Batch, Engine, Rule};
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray1, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::Share;
use crate::errors::{invalid, to_py};
use crate::report::{self, Outcome};

/// A rule bound to a backend, opened once and reused across calls.
///
/// Frozen (no `&mut self`): several Python threads may aggregate with one instance at once;
/// the last report is behind a mutex and belongs to whichever call finished last.
#[pyclass(module = "byzagg._byzagg", frozen)]
pub struct Aggregator {
    inner: byzagg::Aggregator,
    share: Option<Share>,
    report_non_finite: bool,
    last: Mutex<Option<Outcome>>,
}

#[pymethods]
impl Aggregator {
    #[new]
    #[pyo3(signature = (rule, *, backend = "auto", f = None, lam = None, strict = false, report_non_finite = false))]
    fn new(
        py: Python<'_>,
        rule: &str,
        backend: &str,
        f: Option<i64>,
        lam: Option<f64>,
        strict: bool,
        report_non_finite: bool,
    ) -> PyResult<Self> {
        let rule: Rule = rule.parse().map_err(to_py)?;
        let backend: BackendList = backend.parse().map_err(to_py)?;
        let share = share(f, lam)?;
        // Resolving a backend probes drivers (CUDA, Vulkan) the first time: no GIL needed.
        let mut inner = py
            .detach(|| {
                Ok(byzagg::Aggregator::with_engine(
                    rule,
                    Engine::open_list(&backend)?,
                ))
            })
            .map_err(to_py)?;
        if let Some(s) = share {
            inner = inner.with_byzantine_share(s);
        }
        Ok(Aggregator {
            inner: inner.strict(strict),
            share,
            report_non_finite,
            last: Mutex::new(None),
        })
    }

    /// The concrete backend that runs the rule (`"auto"` resolved; a sharded engine's
    /// devices, `"cpu,wgpu"`).
    #[getter]
    fn backend(&self) -> String {
        self.inner.engine().name()
    }

    /// The rule, in the crate's text form.
    #[getter]
    fn rule(&self) -> String {
        self.inner.rule().to_string()
    }

    /// Whether the rule treats every coordinate on its own (mean, cwmed, cwtm): layered input
    /// is then aggregated layer by layer, with no copy.
    #[getter]
    fn coordinatewise(&self) -> bool {
        matches!(self.inner.rule(), Rule::Mean | Rule::CwMed | Rule::CwTm { .. })
    }

    /// The report of the last call, as a dict (None before the first call).
    #[getter]
    fn last_report<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref()
            .map(|o| report::to_dict(py, o, &self.rule(), &self.backend()))
            .transpose()
    }

    /// Aggregates the rows of a C-contiguous `(n, d)` float32 array into `out` (float32, d),
    /// reading the array in place.
    #[pyo3(signature = (x, weights, out, root=None))]
    fn aggregate_matrix(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f32>,
        weights: Option<PyReadonlyArray1<'_, f64>>,
        mut out: PyReadwriteArray1<'_, f32>,
        root: Option<PyReadonlyArray1<'_, f32>>,
    ) -> PyResult<()> {
        if !x.is_c_contiguous() {
            return Err(invalid("x", "a non-C-contiguous array", "must be C-contiguous"));
        }
        let (n, d) = (x.shape()[0], x.shape()[1]);
        if d == 0 {
            return Err(invalid("d", 0, "rows need at least one value"));
        }
        let data = x
            .as_slice()
            .map_err(|e| invalid("x", e, "must be C-contiguous"))?;
        let w = slice(&weights, "weights")?;
        let g = slice(&root, "root")?;
        let out = out
            .as_slice_mut()
            .map_err(|e| invalid("out", e, "must be contiguous"))?;
        let outcome = py
            .detach(|| self.run(Batch::from_contiguous(data, n), w, g, out))
            .map_err(to_py)?;
        self.remember(outcome);
        Ok(())
    }

    /// Aggregates n separate contiguous float32 rows of length d into `out`, each read in place.
    #[pyo3(signature = (rows, weights, out, root=None))]
    fn aggregate_rows(
        &self,
        py: Python<'_>,
        rows: Vec<PyReadonlyArray1<'_, f32>>,
        weights: Option<PyReadonlyArray1<'_, f64>>,
        mut out: PyReadwriteArray1<'_, f32>,
        root: Option<PyReadonlyArray1<'_, f32>>,
    ) -> PyResult<()> {
        let slices = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.as_slice()
                    .map_err(|e| invalid("rows", format!("row {i}: {e}"), "must be contiguous"))
            })
            .collect::<PyResult<Vec<&[f32]>>>()?;
        let w = slice(&weights, "weights")?;
        let g = slice(&root, "root")?;
        let out = out
            .as_slice_mut()
            .map_err(|e| invalid("out", e, "must be contiguous"))?;
        let outcome = py
            .detach(|| self.run(Batch::from_rows(&slices), w, g, out))
            .map_err(to_py)?;
        self.remember(outcome);
        Ok(())
    }

    /// Aggregates layered rows: `clients[i][l]` is layer l of client i (flat, contiguous
    /// float32), every client with the same layer sizes; client i's row is its layers end to
    /// end, and `out` (length: the sum of the layer sizes) gets the aggregate in that order.
    ///
    /// Coordinate-wise rules run layer by layer on the buffers in place; the others need each
    /// row in one piece, so the rows are stacked into one `n x d` buffer first (one copy).
    #[pyo3(signature = (clients, weights, out, root=None))]
    fn aggregate_layers(
        &self,
        py: Python<'_>,
        clients: Vec<Vec<PyReadonlyArray1<'_, f32>>>,
        weights: Option<PyReadonlyArray1<'_, f64>>,
        mut out: PyReadwriteArray1<'_, f32>,
        root: Option<PyReadonlyArray1<'_, f32>>,
    ) -> PyResult<()> {
        let layers = layer_slices(&clients)?;
        let w = slice(&weights, "weights")?;
        let g = slice(&root, "root")?;
        let out = out
            .as_slice_mut()
            .map_err(|e| invalid("out", e, "must be contiguous"))?;
        let coordinatewise = self.coordinatewise();
        let outcome = py
            .detach(|| {
                if coordinatewise {
                    self.run_by_layer(&layers, w, g, out)
                } else {
                    let stacked: Vec<f32> = layers
                        .iter()
                        .flat_map(|c| c.iter().flat_map(|l| l.iter().copied()))
                        .collect();
                    self.run(Batch::from_contiguous(&stacked, layers.len()), w, g, out)
                }
            })
            .map_err(to_py)?;
        self.remember(outcome);
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("Aggregator(rule={:?}, backend={:?})", self.rule(), self.backend())
    }
}

impl Aggregator {
    /// The crate's aggregator (rule, share, strictness, opened engine).
    pub(crate) fn inner(&self) -> &byzagg::Aggregator {
        &self.inner
    }

    /// Weighs the batch, attaches the root update (FLTrust's), runs the rule into `out`, and
    /// gathers the report.
    fn run<'a>(
        &self,
        batch: byzagg::Result<Batch<'a>>,
        weights: Option<&[f64]>,
        root: Option<&'a [f32]>,
        out: &mut [f32],
    ) -> byzagg::Result<Outcome> {
        let mut batch = batch?;
        if let Some(w) = weights {
            batch = batch.with_weights(w)?;
        }
        if let Some(g) = root {
            batch = batch.with_root(g)?;
        }
        let report = self.inner.aggregate_into(&batch, out)?;
        Ok(Outcome::new(
            report,
            &batch,
            self.inner.rule(),
            self.share,
            self.report_non_finite,
        ))
    }

    /// A coordinate-wise rule on layered rows: one batch per layer, each written to its part
    /// of `out` (with its part of the root, if any); the outcome covers all layers (a row is
    /// non-finite if any layer of it is).
    fn run_by_layer(
        &self,
        layers: &[Vec<&[f32]>],
        weights: Option<&[f64]>,
        root: Option<&[f32]>,
        out: &mut [f32],
    ) -> byzagg::Result<Outcome> {
        let d: usize = layers[0].iter().map(|l| l.len()).sum();
        if out.len() != d {
            return Err(byzagg::Error::invalid(
                "out",
                format!("length {}", out.len()),
                format!("must have length d = {d}"),
            ));
        }
        if let Some(g) = root
            && g.len() != d
        {
            return Err(byzagg::Error::invalid(
                "root",
                format!("{} values", g.len()),
                format!("the root update must have the rows' length d = {d}"),
            ));
        }
        let mut total: Option<Outcome> = None;
        let mut offset = 0;
        for l in 0..layers[0].len() {
            let size = layers[0][l].len();
            if size == 0 {
                continue; // an empty layer has no coordinate to aggregate
            }
            let rows: Vec<&[f32]> = layers.iter().map(|c| c[l]).collect();
            let part = self.run(
                Batch::from_rows(&rows),
                weights,
                root.map(|g| &g[offset..offset + size]),
                &mut out[offset..offset + size],
            )?;
            offset += size;
            total = Some(match total {
                None => part,
                Some(t) => t.merge(part),
            });
        }
        total.ok_or_else(|| byzagg::Error::invalid("d", 0, "rows need at least one value"))
    }

    fn remember(&self, outcome: Outcome) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
    }
}

/// f or lam, not both; f must be >= 0 and lam in [0, 0.5) (the crate's bound, checked here so
/// the error comes at construction rather than at the first call).
pub(crate) fn share(f: Option<i64>, lam: Option<f64>) -> PyResult<Option<Share>> {
    match (f, lam) {
        (Some(f), Some(l)) => Err(invalid(
            "f",
            format!("{f} with lam = {l}"),
            "give f or lam, not both",
        )),
        (Some(f), None) => usize::try_from(f)
            .map(|f| Some(Share::F(f)))
            .map_err(|_| invalid("f", f, "f must be >= 0")),
        (None, Some(l)) if (0.0..0.5).contains(&l) => Ok(Some(Share::Lambda(l))),
        (None, Some(l)) => Err(invalid("lam", l, "lambda must be in [0, 0.5)")),
        (None, None) => Ok(None),
    }
}

/// An optional 1-D array as a slice (the Python layer makes it contiguous).
fn slice<'a, T: numpy::Element>(
    a: &'a Option<PyReadonlyArray1<'_, T>>,
    name: &'static str,
) -> PyResult<Option<&'a [T]>> {
    a.as_ref()
        .map(|a| a.as_slice().map_err(|e| invalid(name, e, "must be contiguous")))
        .transpose()
}

/// The layers of every client as slices, checked: at least one client, and every client with
/// the layer count and sizes of client 0.
fn layer_slices<'a>(clients: &'a [Vec<PyReadonlyArray1<'_, f32>>]) -> PyResult<Vec<Vec<&'a [f32]>>> {
    let layers = clients
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.iter()
                .enumerate()
                .map(|(l, a)| {
                    a.as_slice()
                        .map_err(|e| invalid("x", format!("client {i} layer {l}: {e}"), "must be contiguous"))
                })
                .collect::<PyResult<Vec<&[f32]>>>()
        })
        .collect::<PyResult<Vec<_>>>()?;
    let Some(first) = layers.first() else {
        return Err(invalid("n", 0, "a batch needs at least one row"));
    };
    for (i, c) in layers.iter().enumerate() {
        if c.len() != first.len() {
            return Err(invalid(
                "x",
                format!("client {i} with {} layers", c.len()),
                format!("every client must have the {} layers of client 0", first.len()),
            ));
        }
        if let Some(l) = (0..c.len()).find(|&l| c[l].len() != first[l].len()) {
            return Err(invalid(
                "x",
                format!("client {i} layer {l} of size {}", c[l].len()),
                format!("must have the size of client 0's layer {l}, {}", first[l].len()),
            ));
        }
    }
    Ok(layers)
}
