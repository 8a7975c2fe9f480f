//! Every CUDA kernel file compiles with NVRTC for sm_80 and sm_90 and holds every entry point
//! the Rust side names (issue #4). Needs NVRTC only, no GPU: CI installs PyPI's
//! `nvidia-cuda-nvrtc` into `.venv` and sets `BYZAGG_REQUIRE=cuda-compile`, which turns a
//! missing NVRTC from a skip into a failure. NVRTC's log is printed on failure.

#[test]
fn every_kernel_compiles_for_sm80_and_sm90() {
    let results = byzagg::cuda::compile_all(&byzagg::cuda::CI_ARCHS);
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(file, arch, r)| r.as_ref().err().map(|log| format!("{file} for {arch}:\n{log}")))
        .collect();
    let no_nvrtc = failures
        .iter()
        .all(|f| f.contains("no NVRTC library found") || f.contains("without the `cuda` feature"));
    if !failures.is_empty() && no_nvrtc {
        byzagg::verify::require_or_skip("cuda-compile", &failures[0]);
        return;
    }
    assert!(
        failures.is_empty(),
        "{} of {} compilations failed:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n\n")
    );
    assert_eq!(results.len(), 8, "four kernel files times two architectures");
    for line in byzagg::cuda::describe() {
        eprintln!("{line}");
    }
}

#[test]
fn a_compile_error_comes_back_with_its_log() {
    // An architecture NVRTC does not know must be an Err naming it, never a panic.
    let results = byzagg::cuda::compile_all(&["sm_1"]);
    assert!(results.iter().all(|(_, _, r)| r.is_err()));
}

#[test]
fn the_cuda_probe_never_panics_and_explains_itself() {
    match byzagg::Backend::Cuda.available() {
        Ok(()) => eprintln!("cuda available"),
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains("cuda"), "{text}");
            eprintln!("cuda unavailable: {text}");
        }
    }
    assert!(!byzagg::cuda::describe().is_empty());
}
