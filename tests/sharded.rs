//! The in-process sharded engine (`--backend cpu,cpu`, `cpu,wgpu`) on the whole conformance
//! matrix: equal to the unsharded CPU run (bit for bit for medians and selections, within the
//! suite's accuracy for sums) and to the reference; and the same through the binary.

use std::path::PathBuf;
use std::process::Command;

use byzagg::Sharded;
use byzagg::verify::{self, Accuracy, Case};
use byzagg::{Aggregator, Backend, BackendList, Batch, Engine, Error, Kernels, Plan, Report, Step, npy};

/// The case's batch, run by its rule on `engine`.
fn run(case: &Case, engine: &Engine) -> (Vec<f32>, Report) {
    let rows = case.rows();
    let weights = case.weight_values();
    let root = case.root();
    let mut batch = Batch::from_contiguous(&rows, case.n).unwrap();
    if let Some(w) = &weights {
        batch = batch.with_weights(w).unwrap();
    }
    if let Some(g) = &root {
        batch = batch.with_root(g).unwrap();
    }
    let agg = Aggregator::with_engine(case.rule.clone(), engine.clone());
    let mut out = vec![0.0f32; case.d];
    let report = agg
        .aggregate_into(&batch, &mut out)
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    (out, report)
}

/// The rows each Krum and CTMA step chose (the decisions the protocol makes once).
fn selections(report: &Report) -> Vec<Vec<usize>> {
    report
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Krum { selected, .. } => Some(selected.clone()),
            Step::Ctma { kept, .. } => Some(kept.clone()),
            _ => None,
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Checks `sharded` against the unsharded CPU on every case of the suite; `exact_selections`:
/// Krum and CTMA choose the same rows (distances of one precision on both sides).
fn matches_unsharded(sharded: &Engine, exact_selections: bool) {
    let cpu = Engine::open(Backend::Cpu).unwrap();
    let cases = verify::cases();
    assert!(cases.len() > 100);
    for case in &cases {
        let plan = case.plan().unwrap();
        let (want, want_report) = run(case, &cpu);
        let (got, got_report) = run(case, sharded);
        let name = sharded.name();
        if plan == Plan::Median || (exact_selections && verify::accuracy(&plan) == Accuracy::Exact) {
            assert_eq!(bits(&got), bits(&want), "{name}: {case}");
        }
        if exact_selections {
            assert_eq!(
                selections(&got_report),
                selections(&want_report),
                "{name}: {case}"
            );
        }
        // Within the suite's accuracy of the reference, as every backend is.
        let outcome = verify::check(case, Backend::Cpu);
        assert!(outcome.failure.is_none(), "cpu itself: {case}: {outcome:?}");
        let expected: Vec<f64> = want.iter().map(|v| f64::from(*v)).collect();
        let robust = plan != Plan::Mean || case.poisoned.is_empty();
        let accuracy = match verify::accuracy(&plan) {
            Accuracy::Exact if !exact_selections => Accuracy::Relative(1e-5),
            a => a,
        };
        let outcome = verify::compare(accuracy, &expected, &got, robust, case.data_scale());
        assert!(outcome.failure.is_none(), "{name}: {case}: {outcome:?}");
    }
}

#[test]
fn two_cpu_shards_equal_one_cpu_on_every_verify_case() {
    let engine = Engine::open_list(&"cpu,cpu".parse::<BackendList>().unwrap()).unwrap();
    assert!(matches!(engine, Engine::Sharded(_)));
    matches_unsharded(&engine, true);
}

#[test]
fn three_uneven_cpu_shards_equal_one_cpu_on_every_verify_case() {
    let cpu = || Engine::open(Backend::Cpu).unwrap();
    let sharded = Sharded::with_shares(vec![cpu(), cpu(), cpu()], vec![1.0, 2.0, 5.0]).unwrap();
    assert_eq!(sharded.ranges(7), vec![0..1, 1..3, 3..7]);
    matches_unsharded(&Engine::Sharded(sharded), true);
}

#[test]
fn a_cpu_and_wgpu_mix_meets_the_suite() {
    let list: BackendList = "cpu,wgpu".parse().unwrap();
    let engine = match Engine::open_list(&list) {
        Ok(engine) => engine,
        Err(e) => return verify::require_or_skip("wgpu", format!("cpu,wgpu: {e}")),
    };
    assert_eq!(engine.name(), "cpu,wgpu");
    // wgpu's distances are not the CPU's to the last bit, so Krum's near-ties may go the
    // other way (SPEC 5 allows it): medians are compared bit for bit, the rest by accuracy.
    matches_unsharded(&engine, false);
}

#[test]
fn rows_of_another_engine_are_an_error() {
    let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let batch = Batch::from_contiguous(&data, 2).unwrap();
    let sharded = Engine::open_list(&"cpu,cpu".parse().unwrap()).unwrap();
    let cpu = Engine::open(Backend::Cpu).unwrap();
    let rows = sharded.upload(&batch).unwrap();
    assert_eq!(sharded.shape(&rows), (2, 3));
    match cpu.pairwise_dist(&rows) {
        Err(Error::InvalidParameter { name: "rows", .. }) => {}
        other => panic!("{other:?}"),
    }
    let mut whole = [0.0f32; 6];
    sharded.download(&rows, &mut whole).unwrap();
    assert_eq!(whole, data);
    assert!(Sharded::new(vec![]).is_err());
    assert!(Sharded::new(vec![Engine::Reference]).is_err());
    let bad = Sharded::with_shares(vec![cpu.clone(), cpu], vec![1.0, f64::NAN]).unwrap_err();
    assert!(bad.to_string().contains("shares"), "{bad}");
}

#[test]
fn cuda_all_without_cuda_says_why() {
    if Backend::Cuda.available().is_ok() {
        return; // the GPU check script covers it where CUDA exists
    }
    let err = Engine::open_list(&"cuda:all".parse().unwrap()).unwrap_err();
    assert!(matches!(err, Error::Unavailable { backend: "cuda", .. }), "{err}");
}

/// A fresh directory for one test.
fn dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("byzagg-sharded-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// `byzagg aggregate --backend B` on the file, the output read back.
fn aggregate_cli(rule: &str, backend: &str, input: &std::path::Path, dir: &std::path::Path) -> Vec<f32> {
    let output = dir.join(format!("out-{}.npy", backend.replace(',', "+")));
    let mut command = Command::new(env!("CARGO_BIN_EXE_byzagg"));
    command.args(["aggregate", "--rule", rule, "--backend", backend]);
    if rule.parse::<byzagg::Rule>().is_ok_and(|r| r.needs_root()) {
        // FLTrust's root update: written beside the rows by the caller.
        command.arg("--root").arg(dir.join("root.npy"));
    }
    let out = command
        .arg(input)
        .arg("-o")
        .arg(&output)
        .output()
        .expect("the byzagg binary runs");
    assert!(
        out.status.success(),
        "{rule} on {backend}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let values = npy::read_vector_f64(&output).expect("output readable");
    values.iter().map(|v| *v as f32).collect()
}

#[test]
fn the_binary_gives_the_same_aggregate_on_backend_lists() {
    let dir = dir("lists");
    let (n, d) = (11, 3000);
    let case = Case {
        rule: byzagg::Rule::CwMed,
        n,
        d,
        weights: verify::Weights::Uniform,
        pattern: verify::Pattern::Outliers,
        poisoned: vec![(3, verify::Poison::Nan), (8, verify::Poison::Huge)],
        magnitude: 1.0,
        seed: 42,
    };
    let input = dir.join("rows.npy");
    npy::write_matrix_f32(&input, &case.rows(), n).unwrap();
    // FLTrust's root: row 0 (finite), as a (d,) vector.
    npy::write_vector_f32(dir.join("root.npy"), &case.rows()[..d]).unwrap();
    let wgpu = Backend::Wgpu.available();
    if let Err(e) = &wgpu {
        verify::require_or_skip("wgpu", format!("cpu,wgpu in the binary: {e}"));
    }
    for rule in verify::rules() {
        let text = rule.to_string();
        let want = aggregate_cli(&text, "cpu", &input, &dir);
        let got = aggregate_cli(&text, "cpu,cpu", &input, &dir);
        let plan = rule.plan(n, None).unwrap();
        let expected: Vec<f64> = want.iter().map(|v| f64::from(*v)).collect();
        if plan == Plan::Median || verify::accuracy(&plan) == Accuracy::Exact {
            assert_eq!(bits(&got), bits(&want), "{text} on cpu,cpu");
        }
        let ok = verify::compare(
            verify::accuracy(&plan),
            &expected,
            &got,
            plan != Plan::Mean,
            case.data_scale(),
        );
        assert!(ok.failure.is_none(), "{text} on cpu,cpu: {ok:?}");
        if wgpu.is_ok() {
            let got = aggregate_cli(&text, "cpu,wgpu", &input, &dir);
            let accuracy = match verify::accuracy(&plan) {
                Accuracy::Exact if plan != Plan::Median => Accuracy::Relative(1e-5),
                a => a,
            };
            let ok = verify::compare(accuracy, &expected, &got, plan != Plan::Mean, case.data_scale());
            assert!(ok.failure.is_none(), "{text} on cpu,wgpu: {ok:?}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
