//! Every CUDA kernel file compiles with NVRTC for sm_80 and sm_90 and holds every entry point
//! the Rust side names. Needs NVRTC only, no GPU: CI installs PyPI's
//! `nvidia-cuda-nvrtc` into `.venv` and sets `BYZAGG_REQUIRE=cuda-compile`, which turns a
//! missing NVRTC from a skip into a failure. NVRTC's log is printed on failure.
// Without the `cuda` feature only the compile probes run; the ptxas helpers go unused.
#![cfg_attr(not(feature = "cuda"), allow(dead_code))]

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
    assert_eq!(results.len(), 10, "five kernel files times two architectures");
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

/// `ptxas`: `BYZAGG_PTXAS`, the one PyPI's `nvidia-cuda-nvcc` puts in `.venv`, or `PATH`'s.
fn ptxas() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("BYZAGG_PTXAS") {
        return Some(p.into());
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/lib");
    for py in std::fs::read_dir(&venv).into_iter().flatten().flatten() {
        let p = py.path().join("site-packages/nvidia/cu13/bin/ptxas");
        if p.is_file() {
            return Some(p);
        }
    }
    std::process::Command::new("ptxas")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "ptxas".into())
}

/// One test's `ptxas -v` runs in a private temporary folder, and what their logs showed.
struct Assembler {
    ptxas: std::path::PathBuf,
    dir: std::path::PathBuf,
    /// Entries over a budget, one line each.
    problems: Vec<String>,
    /// Every entry's register count, printed at the end.
    report: Vec<String>,
}

impl Assembler {
    /// `None` (after a skip, or a failure where BYZAGG_REQUIRE names `ptxas`) with no ptxas.
    fn new(name: &str) -> Option<Assembler> {
        let Some(ptxas) = ptxas() else {
            byzagg::verify::require_or_skip(
                "ptxas",
                "no ptxas (pip install 'nvidia-cuda-nvcc==13.0.*' into .venv)",
            );
            return None;
        };
        let dir = std::env::temp_dir().join(format!("byzagg-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (problems, report) = (Vec::new(), Vec::new());
        Some(Assembler {
            ptxas,
            dir,
            problems,
            report,
        })
    }

    /// Assembles `ptx` for `arch` and checks its log: an entry with a stack frame or spills
    /// beyond `spills` (arch, entry, most spill-store bytes), or on sm_90 over its budget in
    /// `registers`, is a problem. `label` prefixes the entry's name in both lists.
    fn check(
        &mut self,
        ptx: &str,
        arch: &str,
        label: &str,
        spills: &[(&str, &str, u32)],
        registers: &[(&str, u32)],
    ) {
        let path = self.dir.join("module.ptx");
        std::fs::write(&path, ptx).expect("write ptx");
        let out = std::process::Command::new(&self.ptxas)
            .args(["-v", "--gpu-name", arch, "-o"])
            .arg(self.dir.join("out.cubin"))
            .arg(&path)
            .output()
            .expect("run ptxas");
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "ptxas failed on {label}for {arch}:\n{log}");
        let mut entry = String::new();
        for line in log.lines() {
            if let Some(rest) = line.split("Compiling entry function '").nth(1) {
                entry = rest.split('\'').next().unwrap_or("").to_string();
            }
            let here = format!("{arch} {label}{entry}");
            if line.contains("bytes stack frame")
                && !line.contains(" 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads")
            {
                let stores = line
                    .split(", ")
                    .find(|p| p.contains("spill stores"))
                    .and_then(|p| p.split_whitespace().next())
                    .and_then(|b| b.parse::<u32>().ok())
                    .unwrap_or(u32::MAX);
                let allowed = spills
                    .iter()
                    .any(|(a, e, most)| *a == arch && *e == entry && stores <= *most);
                if !allowed {
                    self.problems.push(format!("{here}: {}", line.trim()));
                }
            }
            if let Some(regs) = line
                .split("Used ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|r| r.parse::<u32>().ok())
            {
                self.report.push(format!("{here}: {regs} registers"));
                if let Some((_, budget)) = registers.iter().find(|(e, _)| *e == entry)
                    && arch == "sm_90"
                    && regs > *budget
                {
                    self.problems
                        .push(format!("{here}: {regs} registers, budget {budget}"));
                }
            }
        }
    }

    /// Removes the folder, prints the registers and fails with every problem found.
    fn finish(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        eprintln!("{}", self.report.join("\n"));
        assert!(self.problems.is_empty(), "{}", self.problems.join("\n"));
    }
}

/// Register budgets of the hot entry points on sm_90 (`ptxas -v`), with headroom over what
/// they use now: growth past these is a change to look at, not noise.
const REGISTER_BUDGET: [(&str, u32); 13] = [
    ("order_stats_median_u32", 64),
    ("order_stats_median_u64", 96),
    ("order_stats_median_n32", 192),
    ("pairwise_dist_partial", 200),
    ("center_dist_partial", 96),
    ("mix_k1", 64),
    // The variants of BYZAGG_CUDA_KERNELS (157, 96 and 48 when written).
    ("pairwise_dist_deferred", 168),
    // pairwise=tiled (134 each on sm_90 when written; 384-thread blocks leave 170 per thread).
    ("pairwise_dist_tiled", 150),
    ("pairwise_dist_tiled_scaled", 150),
    ("center_dist_wide", 128),
    ("mix_k1_wide", 64),
    // mix_rows=tiled (74 on sm_90 when written: 16 f64 sums and 8 coefficients live).
    ("mix_tiled", 96),
    // center_dist=slices (59 on sm_90 when written; blocks of up to 1024 threads cap it at 64).
    ("center_dist_slices", 64),
];

/// Local-memory use recorded on sm_80 (Ampere), where ptxas keeps a few values of these two
/// register-heavy kernels in a small stack frame that sm_90 does not need: (arch, entry, most
/// spill-store bytes). Anything more, or any other entry with a stack frame, fails.
/// `exact_dist_partial` keeps its 21 digits (168 bytes) in local memory by design, indexed by
/// each term's exponent (a register array cannot be), with no spills.
const SPILL_BUDGET: [(&str, &str, u32); 4] = [
    ("sm_80", "order_stats_median_n32", 32),
    ("sm_80", "pairwise_dist_partial", 48),
    ("sm_80", "exact_dist_partial", 0),
    ("sm_90", "exact_dist_partial", 0),
];

/// Every kernel assembles to machine code for sm_80 and sm_90 without spilling to local memory
/// or a stack frame (except the recorded [`SPILL_BUDGET`]), and the hot entry points stay
/// within their register budgets. Needs NVRTC
/// and ptxas (PyPI's `nvidia-cuda-nvcc`); skipped with the reason otherwise, unless
/// BYZAGG_REQUIRE names `ptxas`.
#[test]
#[cfg(feature = "cuda")] // KERNEL_FILES exists only with the feature
fn kernels_assemble_without_spills_within_register_budgets() {
    let Some(mut asm) = Assembler::new("ptxas") else {
        return;
    };
    for arch in byzagg::cuda::CI_ARCHS {
        for (file, _, _) in byzagg::cuda::KERNEL_FILES {
            let ptx = match byzagg::cuda::ptx(file, arch) {
                Ok(p) => p,
                Err(e) if e.contains("no NVRTC") || e.contains("without the `cuda` feature") => {
                    byzagg::verify::require_or_skip("cuda-compile", &e);
                    return;
                }
                Err(e) => panic!("{file} for {arch}: {e}"),
            };
            asm.check(&ptx, arch, &format!("{file}: "), &SPILL_BUDGET, &REGISTER_BUDGET);
        }
    }
    asm.finish();
}

/// Register budgets of the pruned `order_stats` modules on sm_90 at m = 64 (the largest;
/// smaller m use fewer), with headroom over what they use now: the uniform median holds 64
/// values and keys, the trimmed mean too (80 registers at m = 64: only its first and last
/// ranks' kept masses stay live across the coordinate loop; 176 when every rank's was a loop
/// invariant of its own); the weighted median and trimmed mean
/// hold one array of 32-bit keys through their fallback too (95-96 registers at m = 64, 153-157
/// when the fallback sorted 64-bit keys: 5 blocks per multiprocessor instead of 3), MeaMed
/// too (96; 142 when its search for the median rank was unrolled).
const PRUNED_REGISTER_BUDGET: [(&str, u32); 5] = [
    ("os_median_u", 96),
    ("os_trim_u", 96),
    ("os_median_w", 112),
    ("os_trim_w", 112),
    ("os_meamed_w", 112),
];

/// Local memory recorded for the pruned modules, as [`SPILL_BUDGET`]: (arch, entry, most
/// spill-store bytes). MeaMed's outward walk (run-time ranks, f64 sums) keeps a word or two in
/// a stack frame on sm_80 at some m; its sorting network does not. On sm_90 at m = 32 and 33
/// ptxas (CUDA 13.0) fits the weighted kernels in 72 registers, 7 blocks per multiprocessor
/// instead of the 6 that 80 would allow, by keeping the thread index (and, for the median and
/// the trimmed mean, one more word) in a stack slot: one cached local load per coordinate.
const PRUNED_SPILL_BUDGET: [(&str, &str, u32); 4] = [
    ("sm_80", "os_meamed_w", 16),
    ("sm_90", "os_meamed_w", 4),
    ("sm_90", "os_median_w", 12),
    ("sm_90", "os_trim_w", 12),
];

/// The `pruned` variant's modules (one per row count and kind, src/cuda/order_stats.rs)
/// assemble for sm_80 and sm_90 with no stack frame or spill (but [`PRUNED_SPILL_BUDGET`]) at
/// any of a spread of row counts up to 64, within [`PRUNED_REGISTER_BUDGET`] on sm_90. Needs NVRTC and ptxas, as above.
#[test]
#[cfg(feature = "cuda")]
fn pruned_order_stats_modules_assemble_without_spills() {
    use byzagg::cuda::{PrunedKind, pruned_ptx};
    let Some(mut asm) = Assembler::new("ptxas-pruned") else {
        return;
    };
    for arch in byzagg::cuda::CI_ARCHS {
        for m in [1usize, 2, 3, 5, 8, 16, 17, 32, 33, 48, 64] {
            let trim = PrunedKind::TrimUniform {
                lo: m / 5,
                hi: m - m / 5,
            };
            for kind in [PrunedKind::MedianUniform, trim, PrunedKind::Weighted] {
                let ptx = match pruned_ptx(m, kind, arch) {
                    Ok(p) => p,
                    Err(e) if e.contains("no NVRTC") => {
                        byzagg::verify::require_or_skip("cuda-compile", &e);
                        return;
                    }
                    Err(e) => panic!("m = {m} {kind:?} for {arch}: {e}"),
                };
                let label = format!("m = {m} ");
                asm.check(&ptx, arch, &label, &PRUNED_SPILL_BUDGET, &PRUNED_REGISTER_BUDGET);
            }
        }
    }
    asm.finish();
}
