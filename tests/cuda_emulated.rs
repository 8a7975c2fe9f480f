//! The CUDA kernels' logic without a GPU: `tests/emulate/harness.cpp` compiles `kernels/*.cu`
//! as C++ (one std::thread per CUDA thread, a barrier for `__syncthreads`) and runs them on
//! the CPU; the results are compared with `reference.rs` primitive by primitive, on data full
//! of NaN, infinities, 1e38, 1e-30 and signed zeros, with zero, integer and real weights, n
//! across the register (n <= 64) and scratch (n > 64) sorting paths.
//!
//! This checks what the kernels compute, not how the GPU runs them (warp timing, launch
//! limits, the real shuffle): scripts/gpu-check.sh does that on a device. Skipped, with a
//! reason, where no C++20 compiler is found.

use std::path::PathBuf;
use std::process::Command;

use byzagg::OrderStat;
use byzagg::reference;

/// Test data from the crate's SplitMix64.
struct Rng(byzagg::SplitMix64);
impl Rng {
    fn unif(&mut self) -> f64 {
        self.0.unit()
    }
    fn below(&mut self, n: usize) -> usize {
        self.0.below(n as u64) as usize
    }
}

/// The emulator in a folder of its own for test `name` (tests run in parallel, and each
/// removes its folder when done).
fn harness(name: &str) -> Option<PathBuf> {
    build_harness(name, &[])
}

/// Compiles the emulator with `extra` flags into a fresh temporary folder. NVRTC contracts
/// `a * b + c` into fused multiply-adds by default, so the emulator does too where the CPU has
/// FMA (`-ffp-contract=fast -mfma`): a kernel whose accuracy depends on the rounding of an
/// unfused product is caught here. `None` (with the reason printed) only when no C++20
/// compiler runs or a sanitizer's runtime is missing; a compiler that rejects the kernels fails.
fn build_harness(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("byzagg-emulate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let exe = dir.join("harness");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/emulate/harness.cpp");
    let mut cmd = Command::new(std::env::var("CXX").unwrap_or_else(|_| "c++".into()));
    cmd.args([
        "-std=c++20",
        "-O1",
        "-pthread",
        "-Wno-unknown-pragmas",
        "-ffp-contract=fast",
    ]);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("fma") {
        cmd.arg("-mfma");
    }
    let output = cmd.args(extra).arg("-o").arg(&exe).arg(src).output();
    match output {
        Ok(o) if o.status.success() => Some(exe),
        Ok(o) => {
            let log = String::from_utf8_lossy(&o.stderr);
            // A sanitizer whose runtime library is absent is a missing tool, not a bug.
            if !extra.is_empty() && (log.contains("cannot find -l") || log.contains("libtsan")) {
                byzagg::verify::require_or_skip(
                    "tsan",
                    format!(
                        "the compiler cannot link {extra:?}: {}",
                        log.lines().next().unwrap_or("")
                    ),
                );
                return None;
            }
            panic!("the kernel emulator did not compile ({}):\n{log}", o.status)
        }
        Err(e) => {
            byzagg::verify::require_or_skip(
                "cuda-emulate",
                format!("cannot run a C++20 compiler for the kernel emulator: {e}"),
            );
            None
        }
    }
}

struct Case {
    n: usize,
    d: usize,
    w: Vec<f64>,
    data: Vec<f32>,
    center: Vec<f32>,
}

/// Values from a common center plus noise, with hostile values sprinkled in.
fn case(rng: &mut Rng, n: usize, d: usize, weights: usize) -> Case {
    let hostile = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1e38,
        -1e38,
        1e-30,
        -0.0,
        0.0,
    ];
    let base: Vec<f32> = (0..d).map(|_| (rng.unif() * 6.0 - 3.0) as f32).collect();
    let mut data = Vec::with_capacity(n * d);
    for i in 0..n {
        let bad_row = n > 3 && i % 5 == 3;
        for b in &base {
            let v = if rng.below(10) == 0 || (bad_row && rng.below(3) == 0) {
                hostile[rng.below(hostile.len())]
            } else if rng.below(6) == 0 {
                *b // exact ties
            } else {
                b + (rng.unif() * 2.0 - 1.0) as f32
            };
            data.push(v);
        }
    }
    let w = (0..n)
        .map(|i| match weights {
            0 => 1.0,
            1 => [0.0, 1.0, 2.0, 3.0][rng.below(4)] + if i == 0 { 1.0 } else { 0.0 },
            _ => 0.1 + 3.0 * rng.unif(),
        })
        .collect();
    let center = (0..d)
        .map(|j| if j % 17 == 16 { 1e38 } else { base[j] })
        .collect();
    Case {
        n,
        d,
        w,
        data,
        center,
    }
}

fn run(exe: &PathBuf, mode: &str, c: &Case, param: f64, coeffs: &[f64], k: usize) -> Vec<u8> {
    run_module(exe, mode, c, param, coeffs, k, None)
}

/// [`run`] with the pruned module `module` (modes pmedian, ptrim, pmeamed).
fn run_module(
    exe: &PathBuf,
    mode: &str,
    c: &Case,
    param: f64,
    coeffs: &[f64],
    k: usize,
    module: Option<&str>,
) -> Vec<u8> {
    let dir = exe.parent().expect("temp dir");
    let (inp, out) = (dir.join(format!("{mode}.in")), dir.join(format!("{mode}.out")));
    let mut bytes = Vec::new();
    bytes.extend((c.n as u64).to_le_bytes());
    bytes.extend((c.d as u64).to_le_bytes());
    bytes.extend(param.to_le_bytes());
    bytes.extend((k as u64).to_le_bytes());
    c.w.iter().for_each(|v| bytes.extend(v.to_le_bytes()));
    c.data.iter().for_each(|v| bytes.extend(v.to_le_bytes()));
    c.center.iter().for_each(|v| bytes.extend(v.to_le_bytes()));
    coeffs.iter().for_each(|v| bytes.extend(v.to_le_bytes()));
    std::fs::write(&inp, bytes).expect("write input");
    let status = Command::new(exe)
        .arg(mode)
        .arg(&inp)
        .arg(&out)
        .args(module)
        .status()
        .expect("run harness");
    assert!(status.success(), "harness {mode} failed: {status}");
    std::fs::read(&out).expect("read output")
}

fn f32s(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(4)
        .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
        .collect()
}

fn f64s(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// Whether `got` matches `want` within `tol` of the scale (NaN matches NaN, inf matches inf).
fn close(got: f64, want: f64, tol: f64) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want.is_infinite() || got.is_infinite() {
        return want == got;
    }
    approx::abs_diff_eq!(got, want, epsilon = tol * want.abs().max(1.0))
}

fn rows_f64(c: &Case) -> Vec<Vec<f64>> {
    c.data
        .chunks(c.d)
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect()
}

#[test]
fn emulated_kernels_match_the_reference() {
    let Some(exe) = harness("conformance") else {
        return;
    };
    let mut rng = Rng(byzagg::SplitMix64(4));
    let mut failures = Vec::new();
    for n in [1, 2, 3, 4, 7, 8, 9, 16, 17, 33, 64, 65, 70] {
        for weights in 0..3 {
            // 64 and 2100: rows 16-byte aligned (the wide kernels' vector path), and more
            // coordinates than one step of the wide grids covers.
            let d = [1, 37, 101, 64, 2100][rng.below(5)];
            let c = case(&mut rng, n, d, weights);
            let rows = rows_f64(&c);
            let tag = format!("n={n} d={d} weights={:?}", &c.w[..n.min(6)]);
            // order_stats: the median is exact (it picks input values or an f64 midpoint).
            let got = f32s(&run(&exe, "median", &c, 0.0, &[], 0));
            let want = reference::order_stats(&rows, &c.w, OrderStat::Median);
            for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                if !close(*g, f64::from(*w as f32), 0.0) {
                    failures.push(format!("median {tag} j={j}: got {g:e}, want {w:e}"));
                }
            }
            for lambda in [0.0, 0.2, 0.45] {
                let got = f32s(&run(&exe, "trim", &c, lambda, &[], 0));
                let want = reference::order_stats(&rows, &c.w, OrderStat::TrimmedMean { lambda });
                for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                    if !close(*g, f64::from(*w as f32), 1e-6) {
                        failures.push(format!("trim({lambda}) {tag} j={j}: got {g:e}, want {w:e}"));
                    }
                }
            }
            for lambda in [0.0, 0.2, 0.45] {
                let got = f32s(&run(&exe, "meamed", &c, lambda, &[], 0));
                let want = reference::order_stats(&rows, &c.w, OrderStat::MeaMed { lambda });
                for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                    if !close(*g, f64::from(*w as f32), 1e-6) {
                        failures.push(format!("meamed({lambda}) {tag} j={j}: got {g:e}, want {w:e}"));
                    }
                }
            }
            // pairwise_dist: the raw upper-triangle sums, mapped as src/cuda/pairwise_dist.rs does.
            let raw = f64s(&run(&exe, "pairwise", &c, 0.0, &[], 0));
            let want = reference::pairwise_dist(&rows);
            for i in 0..n {
                for j in i..n {
                    let g = raw[i * n + j];
                    let g = if g.is_finite() { g } else { f64::INFINITY };
                    if !close(g, want[i * n + j], 1e-5) {
                        failures.push(format!(
                            "pairwise {tag} ({i},{j}): got {g:e}, want {:e}",
                            want[i * n + j]
                        ));
                    }
                }
            }
            #[cfg(feature = "cuda")]
            {
                let (got, _) = tiled_distances(&exe, &c, &want);
                for i in 0..n {
                    for j in i..n {
                        if !close(got[i * n + j], want[i * n + j], 1e-5) {
                            failures.push(format!(
                                "pairwise_tiled {tag} ({i},{j}): got {:e}, want {:e}",
                                got[i * n + j],
                                want[i * n + j]
                            ));
                        }
                    }
                }
            }
            // center_dist, both variants, against a center holding 1e38 (f64 differences: no
            // overflow).
            let center: Vec<f64> = c.center.iter().map(|&v| f64::from(v)).collect();
            let want = reference::center_dist(&rows, &center);
            for mode in ["center", "center_wide"] {
                let raw = f64s(&run(&exe, mode, &c, 0.0, &[], 0));
                for (i, (g, w)) in raw.iter().zip(&want).enumerate() {
                    let g = if g.is_finite() { *g } else { f64::INFINITY };
                    if !close(g, *w, 1e-5) {
                        failures.push(format!("{mode} {tag} row {i}: got {g:e}, want {w:e}"));
                    }
                }
            }
            // mix with k = 1, 3 and n, many zero coefficients (NaN rows must leave no trace).
            let mut ks = vec![1, 3, n];
            ks.dedup();
            for k in ks {
                let coeffs: Vec<f64> = (0..k * n)
                    .map(|_| if rng.below(3) == 0 { rng.unif() - 0.3 } else { 0.0 })
                    .collect();
                let got = f32s(&run(&exe, "mix", &c, 0.0, &coeffs, k));
                let want = reference::mix(&rows, &coeffs, k);
                for (e, (g, w)) in got.iter().zip(&want).enumerate() {
                    if !close(*g, f64::from(*w as f32), 1e-5) {
                        failures.push(format!("mix k={k} {tag} entry {e}: got {g:e}, want {w:e}"));
                    }
                }
                // The wide variant: the same sums in the same order, so the same bits (any NaN
                // equals any NaN: which payload an x86 addition of two NaNs keeps depends on the
                // compiler's operand order, and the GPU has one canonical NaN).
                let bits = |b: Vec<u8>| -> Vec<u32> {
                    f32s(&b)
                        .iter()
                        .map(|v| {
                            if v.is_nan() {
                                u32::MAX
                            } else {
                                (*v as f32).to_bits()
                            }
                        })
                        .collect()
                };
                for (classic, wide) in [("mix", "mix_wide"), ("mixbase", "mixbase_wide")] {
                    let a = bits(run(&exe, classic, &c, -0.75, &coeffs, k));
                    let b = bits(run(&exe, wide, &c, -0.75, &coeffs, k));
                    if a != b {
                        failures.push(format!("{wide} k={k} {tag}: not bit-identical to {classic}"));
                    }
                }
                // mix_rows=tiled (k > 1): mix_k8's sums from a shared-memory tile, the same bits.
                if k > 1 {
                    for (groups, tiled) in [("mix", "mix_tiled"), ("mixbase", "mixbase_tiled")] {
                        let a = bits(run(&exe, groups, &c, -0.75, &coeffs, k));
                        let b = bits(run(&exe, tiled, &c, -0.75, &coeffs, k));
                        if a != b {
                            failures.push(format!("{tiled} k={k} {tag}: not bit-identical to {groups}"));
                        }
                    }
                }
                // The base path (centered clipping's update): out = C rows + scale * base.
                let scale = -0.75;
                let got = f32s(&run(&exe, "mixbase", &c, scale, &coeffs, k));
                let center: Vec<f64> = c.center.iter().map(|&v| f64::from(v)).collect();
                for (e, (g, w)) in got.iter().zip(&want).enumerate() {
                    let w = w + scale * center[e % c.d];
                    if !close(*g, f64::from(w as f32), 1e-5) {
                        failures.push(format!("mix+base k={k} {tag} entry {e}: got {g:e}, want {w:e}"));
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(exe.parent().expect("temp dir"));
    assert!(
        failures.is_empty(),
        "{} mismatches, first 30:\n{}",
        failures.len(),
        failures.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// `pairwise=tiled` as src/cuda/pairwise_dist.rs runs it: the kernel's raw sums and row
/// maxima, the scaled second pass for pairs whose squares overflowed f32
/// (`tiled_overflow`, `tiled_rescue`, the launcher's own functions), then the pairs of finite
/// rows still non-finite or below d 2^-100 with the reference's value standing in for the
/// exact recomputation (`exact_dist.cu`, checked bit for bit below). Returns the matrix
/// (upper triangle, non-finite mapped to +inf) and how many pairs were left to the exact pass
/// (sums of exactly 0 not counted: the launcher compares those rows first).
#[cfg(feature = "cuda")]
fn tiled_distances(exe: &PathBuf, c: &Case, want: &[f64]) -> (Vec<f64>, usize) {
    let n = c.n;
    let raw = run(exe, "pairwise_tiled", c, 0.0, &[], 0);
    let mut sums = f64s(&raw[..8 * n * n]);
    let top: Vec<f32> = raw[8 * n * n..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    if let Some((s, pairs)) = byzagg::cuda::tiled_overflow(&sums, &top, n) {
        let scaled = f64s(&run(exe, "pairwise_tiled_scaled", c, 2f64.powi(-s), &[], 0)[..8 * n * n]);
        byzagg::cuda::tiled_rescue(&mut sums, &scaled, &pairs, s, n, c.d);
    }
    let tiny = c.d as f64 * 2f64.powi(-100);
    let mut left = 0;
    for i in 0..n {
        for j in i..n {
            let g = &mut sums[i * n + j];
            let finite = raw_diag_zero(&raw, n, i) && raw_diag_zero(&raw, n, j);
            if i != j && finite && (!g.is_finite() || *g < tiny) {
                // A sum of exactly 0 is first compared as equal rows (identical Byzantine
                // rows nearly always): not an exact sum.
                if *g != 0.0 {
                    left += 1;
                }
                *g = want[i * n + j];
            }
            if !g.is_finite() {
                *g = f64::INFINITY;
            }
        }
    }
    (sums, left)
}

/// Whether row i's raw diagonal sum is exactly 0 (a finite row).
#[cfg(feature = "cuda")]
fn raw_diag_zero(raw: &[u8], n: usize, i: usize) -> bool {
    let k = 8 * (i * n + i);
    f64::from_le_bytes(raw[k..k + 8].try_into().expect("8 bytes")) == 0.0
}

/// The emulator built with ThreadSanitizer on a few small cases of every kernel: the emulated
/// CUDA threads are real threads sharing `__shared__` arrays behind barriers, so a missing
/// `__syncthreads` (a read of shared memory another thread of the block is still writing)
/// is a data race TSan reports, and the harness then exits non-zero.
#[test]
fn emulated_kernels_have_no_data_races() {
    let mut rng = Rng(byzagg::SplitMix64(9));
    let cases: Vec<Case> = [3, 17, 65].map(|n| case(&mut rng, n, 37, n % 3)).into();
    // The pruned variant's modules for these cases (the weighted one holds the shared
    // memory its threads fill and read behind a barrier).
    #[cfg(feature = "cuda")]
    let (exe, pruned_runs) = {
        let mut modules = std::collections::BTreeMap::new();
        let mut runs = Vec::new();
        for (i, c) in cases.iter().enumerate() {
            for (mode, stat) in [
                ("pmedian", OrderStat::Median),
                ("ptrim", OrderStat::TrimmedMean { lambda: 0.2 }),
                ("pmeamed", OrderStat::MeaMed { lambda: 0.2 }),
            ] {
                if let Some((which, ns, defines)) = pruned::module_of(c, stat) {
                    modules.insert(which.clone(), (ns, defines));
                    runs.push((i, mode, which));
                }
            }
        }
        let Some(exe) = pruned::harness_with("tsan", &modules, &["-fsanitize=thread", "-g"]) else {
            return;
        };
        (exe, runs)
    };
    #[cfg(not(feature = "cuda"))]
    let Some(exe) = build_harness("tsan", &["-fsanitize=thread", "-g"]) else {
        return;
    };
    #[cfg(feature = "cuda")]
    for (i, mode, which) in &pruned_runs {
        run_module(&exe, mode, &cases[*i], 0.2, &[], 0, Some(which));
    }
    for c in &cases {
        let n = c.n;
        for (mode, param) in [
            ("median", 0.0),
            ("trim", 0.2),
            ("pairwise", 0.0),
            ("pairwise_tiled", 0.0),
            ("pairwise_tiled_scaled", 0.5),
            ("center", 0.0),
            ("center_wide", 0.0),
            ("center_slices", 0.0),
        ] {
            run(&exe, mode, c, param, &[], 0);
        }
        let coeffs: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { 0.5 } else { 0.0 }).collect();
        run(&exe, "mixbase", c, 0.5, &coeffs, 1);
        run(&exe, "mixbase_wide", c, 0.5, &coeffs, 1);
    }
    // mix_rows=tiled: the shared tile written by every thread and read across warps, re-staged
    // three times by one block (64-coordinate tiles at k = 65).
    let c = case(&mut rng, 65, 200, 1);
    let coeffs: Vec<f64> = (0..65 * 65)
        .map(|e| if e % 3 == 0 { 0.0 } else { 0.25 })
        .collect();
    run(&exe, "mixbase_tiled", &c, 0.5, &coeffs, 65);
    // The exact recomputation: shared-memory digit atomics, the differ flags.
    let c = tie_case(&mut rng, 3, 150, 3e9);
    run(&exe, "exact", &c, 0.0, &[], 0);
    run(&exe, "refined", &c, 0.0, &[], 0);
    run(&exe, "differ", &c, 0.0, &[], 0);
    let _ = std::fs::remove_dir_all(exe.parent().expect("temp dir"));
}

/// The pruned variant's modules (src/cuda/order_stats.rs) in the emulator: each module the
/// launcher would compile for a case, with the launcher's own defines, as one namespace of
/// `os_modules.h`, and `pruned_run("NAMESPACE/ENTRY", ...)` launching its entry point on a
/// grid smaller than d (the stride loop runs) of 32-thread blocks.
#[cfg(feature = "cuda")]
mod pruned {
    use super::*;
    use byzagg::cuda::{PrunedKind, pruned_defines, pruned_plan};
    use std::collections::BTreeMap;

    /// The namespace of a module.
    fn namespace(m: usize, kind: PrunedKind) -> String {
        let tag: String = format!("{kind:?}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        format!("os_m{m}_{tag}")
    }

    /// The module and entry the launcher would run `stat` on `c` with, as the harness's
    /// MODULE argument; `None` on the heap path.
    pub(super) fn module_of(c: &Case, stat: OrderStat) -> Option<(String, String, String)> {
        let (m, kind, entry) = pruned_plan(&c.w, stat)?;
        let ns = namespace(m, kind);
        Some((format!("{ns}/{entry}"), ns, pruned_defines(m, kind)))
    }

    /// The emulator with every module in `modules` (name -> (namespace, defines)).
    pub(super) fn harness_with(
        name: &str,
        modules: &BTreeMap<String, (String, String)>,
        extra: &[&str],
    ) -> Option<PathBuf> {
        let dir = std::env::temp_dir().join(format!("byzagg-emulate-{name}-modules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let kernel = concat!(env!("CARGO_MANIFEST_DIR"), "/kernels/order_stats.cu");
        let mut h = String::new();
        let mut namespaces = BTreeMap::new();
        for (ns, defines) in modules.values() {
            namespaces.insert(ns.clone(), defines.clone());
        }
        for (ns, defines) in &namespaces {
            h.push_str(&format!(
                "namespace {ns} {{\n{defines}#include \"{kernel}\"\n#undef OS_M\n#undef OS_KIND\n#undef OS_RANK_LO\n#undef OS_RANK_HI\n#undef OS_NET\n}}\n"
            ));
        }
        h.push_str(
            "static bool pruned_run(const std::string& which, const std::vector<const float*>& pos,\n\
             const std::vector<double>& wpos, double total, double lo, double hi, double eps, u64 d, float* res) {\n\
             #define OS_CALL(NS, F) { NS::OsRows r{}; NS::OsWeights ww{};\\\n\
               for (size_t i = 0; i < pos.size(); ++i) { r.p[i] = pos[i]; ww.w[i] = wpos[i]; }\\\n\
               launch({3}, {32}, [&] { NS::F(r, ww, total, lo, hi, eps, d, res); }); return true; }\n",
        );
        for (which, (ns, _)) in modules {
            let entry = which.rsplit('/').next().expect("entry");
            h.push_str(&format!("  if (which == \"{which}\") OS_CALL({ns}, {entry})\n"));
        }
        h.push_str("  return false;\n}\n");
        std::fs::write(dir.join("os_modules.h"), h).expect("write os_modules.h");
        let include = format!("-I{}", dir.display());
        let mut flags = vec!["-DOS_MODULES", include.as_str()];
        flags.extend_from_slice(extra);
        build_harness(name, &flags)
    }
}

/// A special case of order statistics: `rows` (n x d) with weights `w`.
#[cfg(feature = "cuda")]
fn special(rows: Vec<Vec<f32>>, w: Vec<f64>) -> Case {
    let (n, d) = (rows.len(), rows[0].len());
    Case {
        n,
        d,
        w,
        data: rows.concat(),
        center: vec![0.0; d],
    }
}

/// Cases that the pruned variant's shortcuts must survive: exact duplicates (Byzantine
/// copies), every kind of NaN, infinities and signed zeros, and values whose order bits
/// differ only in the low bits that the weighted path's 32-bit keys give to the row index
/// (their order is then decided by the exact fallback), at row counts 1 to 64.
#[cfg(feature = "cuda")]
fn special_cases(rng: &mut Rng) -> Vec<Case> {
    let nan = [
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7f80_0001),
        f32::from_bits(0xffc0_1234),
    ];
    let mut out = Vec::new();
    for n in [1, 2, 3, 5, 8, 13, 16, 31, 32, 33, 47, 64] {
        let d = 67;
        let weights = |rng: &mut Rng, kind: usize| -> Vec<f64> {
            (0..n)
                .map(|i| match kind {
                    0 => 1.0,
                    1 => 1.0 + (i % 3) as f64,
                    _ => 0.25 + 0.37 * i as f64 + rng.unif(),
                })
                .collect()
        };
        for kind in 0..3 {
            // Exact duplicates: every row alike, then a block of identical Byzantine rows.
            let base: Vec<f32> = (0..d).map(|_| (rng.unif() * 4.0 - 2.0) as f32).collect();
            out.push(special(vec![base.clone(); n], weights(rng, kind)));
            let rows = (0..n)
                .map(|i| {
                    if i < n.div_ceil(2) {
                        vec![7.5; d]
                    } else {
                        base.iter().map(|b| b + rng.unif() as f32).collect()
                    }
                })
                .collect();
            out.push(special(rows, weights(rng, kind)));
            // NaN of every sign and payload, infinities, signed zeros, the largest finites.
            let pool = [
                nan[0],
                nan[1],
                nan[2],
                nan[3],
                f32::INFINITY,
                f32::NEG_INFINITY,
                0.0,
                -0.0,
                f32::MAX,
                -f32::MAX,
                f32::MIN_POSITIVE,
                1.0,
            ];
            let rows = (0..n)
                .map(|_| (0..d).map(|_| pool[rng.below(pool.len())]).collect())
                .collect();
            out.push(special(rows, weights(rng, kind)));
            // Near-equal values: one value per coordinate plus 0..63 ulps, positive or
            // negative, so that the 32-bit keys' row index hides the difference.
            let rows = (0..n)
                .map(|_| {
                    base.iter()
                        .map(|&b| {
                            let ulps = rng.below(64) as u32;
                            let v = f32::from_bits(b.abs().to_bits() + ulps);
                            if b < 0.0 { -v } else { v }
                        })
                        .collect()
                })
                .collect();
            out.push(special(rows, weights(rng, kind)));
        }
    }
    out
}

/// The pruned variant against the reference and, bit for bit, against the bitonic variant
/// (its promise: the same results), on the conformance data of
/// [`emulated_kernels_match_the_reference`] at every n <= 64 and on [`special_cases`],
/// including a trimmed mean that keeps no mass (lambda a hair below 1/2: 0 / 0 in the
/// kernel, as in the reference).
#[test]
#[cfg(feature = "cuda")]
fn emulated_pruned_order_stats_match_the_reference_and_the_bitonic_variant() {
    use std::collections::BTreeMap;
    let mut rng = Rng(byzagg::SplitMix64(4));
    let mut cases = Vec::new();
    for n in [1, 2, 3, 4, 7, 8, 9, 16, 17, 33, 64] {
        for weights in 0..3 {
            let d = [1, 37, 101][rng.below(3)];
            cases.push(case(&mut rng, n, d, weights));
        }
    }
    cases.extend(special_cases(&mut rng));
    let stats = |lambda: f64| {
        [
            ("median", OrderStat::Median, 0.0),
            ("trim", OrderStat::TrimmedMean { lambda }, lambda),
            ("meamed", OrderStat::MeaMed { lambda }, lambda),
        ]
    };
    let lambdas = [0.0, 0.2, 0.45, 0.499_999_999_9];
    let mut modules = BTreeMap::new();
    for c in &cases {
        for lambda in lambdas {
            for (_, stat, _) in stats(lambda) {
                let (which, ns, defines) = pruned::module_of(c, stat).expect("m <= 64");
                modules.insert(which, (ns, defines));
            }
        }
    }
    let Some(exe) = pruned::harness_with("pruned", &modules, &[]) else {
        return;
    };
    let mut failures = Vec::new();
    for c in &cases {
        let rows = rows_f64(c);
        let tag = format!("n={} d={} weights={:?}", c.n, c.d, &c.w[..c.n.min(4)]);
        for lambda in lambdas {
            for (mode, stat, param) in stats(lambda) {
                if mode == "median" && lambda != 0.0 {
                    continue;
                }
                let (which, _, _) = pruned::module_of(c, stat).expect("m <= 64");
                let got = run_module(&exe, &format!("p{mode}"), c, param, &[], 0, Some(&which));
                let old = run(&exe, mode, c, param, &[], 0);
                let want = reference::order_stats(&rows, &c.w, stat);
                let tol = if mode == "median" { 0.0 } else { 1e-6 };
                for (j, ((g, o), w)) in got.chunks(4).zip(old.chunks(4)).zip(&want).enumerate() {
                    // Bit for bit, except a NaN's payload: the GPU makes every NaN result
                    // canonical, while here it depends on the operand order of an addition,
                    // which the C++ compiler may swap.
                    let (gf, of) = (
                        f32::from_le_bytes(g.try_into().expect("4 bytes")),
                        f32::from_le_bytes(o.try_into().expect("4 bytes")),
                    );
                    if g != o && !(gf.is_nan() && of.is_nan()) {
                        failures.push(format!(
                            "{mode}({lambda}) {tag} j={j}: pruned {gf:e} ({:#x}), bitonic {of:e} ({:#x})",
                            gf.to_bits(),
                            of.to_bits()
                        ));
                    }
                    let g = f64::from(gf);
                    if !close(g, f64::from(*w as f32), tol) {
                        failures.push(format!("{mode}({lambda}) {tag} j={j}: got {g:e}, want {w:e}"));
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(exe.parent().expect("temp dir"));
    assert!(
        failures.is_empty(),
        "{} mismatches, first 30:\n{}",
        failures.len(),
        failures.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// Finite rows built to tie: +-s sign rows at scales from 1 to 3e38, a duplicated row, a row
/// of zeros, values near the f32 extremes (1e-45, 3.4e38) and signed zeros.
fn tie_case(rng: &mut Rng, n: usize, d: usize, scale: f32) -> Case {
    let mut data: Vec<f32> = (0..n * d)
        .map(|_| if rng.below(2) == 0 { scale } else { -scale })
        .collect();
    if n > 3 {
        data.copy_within(0..d, 3 * d);
    }
    if n > 4 {
        data[4 * d..5 * d].fill(0.0);
    }
    if n > 5 {
        for (j, v) in data[5 * d..6 * d].iter_mut().enumerate() {
            *v = [1e-45, -1e-45, 3.4e38, -3.4e38, -0.0, 1e-30, 7.0][j % 7];
        }
    }
    let center = (0..d)
        .map(|j| if j % 3 == 0 { -0.0 } else { scale * 0.5 })
        .collect();
    Case {
        n,
        d,
        w: vec![1.0; n],
        data,
        center,
    }
}

/// [`tie_case`] with row 1 holding a NaN and row 2 an infinity (when there are such rows):
/// every distance touching them is `+inf` (SPEC 3), exact or refined.
#[cfg(feature = "cuda")]
fn tie_case_with_non_finite(rng: &mut Rng, n: usize, d: usize, scale: f32) -> Case {
    let mut c = tie_case(rng, n, d, scale);
    if n > 2 {
        c.data[d + d / 2] = f32::NAN;
        c.data[2 * d + d - 1] = f32::NEG_INFINITY;
    }
    c
}

/// The cases of the exact and refined checks: sign rows at scales from 1e-20 to 3e38, with
/// and without non-finite rows.
#[cfg(feature = "cuda")]
fn exact_cases(rng: &mut Rng) -> Vec<(String, Case)> {
    let mut out = Vec::new();
    for scale in [1.0f32, 3.0e9, 1e19, 1e38, 3e38, 1e-20] {
        for (n, d) in [(2, 5), (7, 130), (6, 301)] {
            out.push((format!("scale {scale:e} n={n} d={d}"), tie_case(rng, n, d, scale)));
            let c = tie_case_with_non_finite(rng, n, d, scale);
            out.push((format!("scale {scale:e} n={n} d={d} non-finite"), c));
        }
    }
    out
}

/// The reference's distances of the harness's exact and refined pairs: every (i, j), then
/// every row to the center.
#[cfg(feature = "cuda")]
fn reference_pairs(c: &Case) -> Vec<f64> {
    let rows = rows_f64(c);
    let center: Vec<f64> = c.center.iter().map(|&v| f64::from(v)).collect();
    let mut want = reference::pairwise_dist(&rows);
    want.extend(reference::center_dist(&rows, &center));
    want
}

/// `kernels/exact_dist.cu` gives the reference's distances bit for bit (its digits rounded by
/// the backend's own rounding), pair by pair and row to center, `+inf` for a pair touching a
/// row with NaN or an infinity: what `Kernels::exact_pair_dist` and `exact_center_dist` return
/// on CUDA; `rows_differ` finds exactly the pairs of rows that differ as values. (The rounding
/// is the backend's: `cuda` feature.)
#[cfg(feature = "cuda")]
#[test]
fn emulated_exact_distances_are_the_references_bit_for_bit() {
    let Some(exe) = harness("exact") else {
        return;
    };
    let mut rng = Rng(byzagg::SplitMix64(23));
    let mut failures = Vec::new();
    for (tag, c) in exact_cases(&mut rng) {
        let slots: Vec<u64> = f64s(&run(&exe, "exact", &c, 0.0, &[], 0))
            .iter()
            .map(|v| v.to_bits())
            .collect();
        let got: Vec<f64> = slots
            .chunks(byzagg::cuda::EXACT_SLOTS)
            .map(byzagg::cuda::exact_from_slots)
            .collect();
        for (p, w) in reference_pairs(&c).iter().enumerate() {
            if got[p].to_bits() != w.to_bits() {
                failures.push(format!("{tag} pair {p}: got {:e}, want {w:e}", got[p]));
            }
        }
        if tag.contains("non-finite") {
            continue;
        }
        let rows = rows_f64(&c);
        let n = c.n;
        let differ: Vec<i32> = run(&exe, "differ", &c, 0.0, &[], 0)
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        for i in 0..n {
            for j in 0..n {
                let want = rows[i] != rows[j];
                if (differ[i * n + j] != 0) != want {
                    failures.push(format!("differ {tag} ({i},{j}): want {want}"));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(exe.parent().expect("temp dir"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `refined_dist_partial` (`Kernels::exact_pair_dist` with `exact = false`) lies within its
/// proven bound of the reference's distances, `+inf` exactly where the reference has it; on
/// the sign rows (terms of one value) it is exact, so check that the bound is not vacuous on
/// rows whose terms round: the random case must differ from the exact value somewhere.
#[cfg(feature = "cuda")]
#[test]
fn emulated_refined_distances_lie_within_their_bound() {
    let Some(exe) = harness("refined") else {
        return;
    };
    let mut rng = Rng(byzagg::SplitMix64(31));
    let mut cases = exact_cases(&mut rng);
    for (n, d) in [(5, 3000), (9, 700)] {
        let mut c = case(&mut rng, n, d, 0);
        // A center of ordinary values (case's 1e38 coordinates would dwarf every other term).
        c.center.iter_mut().for_each(|v| *v = v.sin());
        cases.push((format!("random n={n} d={d}"), c));
    }
    let mut failures = Vec::new();
    let mut rounded = 0;
    for (tag, c) in cases {
        let (_, bound) = byzagg::cuda::dist_bounds(byzagg::cuda::PairwiseVariant::Registers, c.d);
        let out = f64s(&run(&exe, "refined", &c, 0.0, &[], 0));
        for (p, w) in reference_pairs(&c).iter().enumerate() {
            let (sum, bad) = (out[2 * p], out[2 * p + 1]);
            let got = if bad != 0.0 { f64::INFINITY } else { sum };
            let ok = if w.is_finite() {
                (got - w).abs() <= bound * w
            } else {
                got == *w
            };
            if !ok {
                failures.push(format!("{tag} pair {p}: got {got:e}, want {w:e}"));
            }
            rounded += usize::from(got != *w);
        }
    }
    let _ = std::fs::remove_dir_all(exe.parent().expect("temp dir"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        rounded > 0,
        "no refined value differed from the exact one: a vacuous check"
    );
}

/// Every fast distance kernel (`pairwise` registers, deferred and tiled, `center_dist`
/// classic and wide) lies within the relative bound that `Kernels::dist_error` claims for it
/// (`exact_dist::fast_bound`, derived in its comment), on sign rows at every scale, the
/// adversarial rows and random rows: the rules' exact recompute relies on it to find every
/// distance that could tie. Pairs the launchers leave to the exact recomputation (non-finite
/// or tiny sums of `deferred` and `tiled`) take the reference's value, as there. The f32
/// kernels must round somewhere on these rows (or the check says nothing).
#[cfg(feature = "cuda")]
#[test]
fn emulated_fast_distances_lie_within_the_proven_bound() {
    use byzagg::cuda::PairwiseVariant::{Deferred, Registers, Tiled};
    let Some(exe) = harness("bound") else {
        return;
    };
    let mut rng = Rng(byzagg::SplitMix64(37));
    let mut cases = exact_cases(&mut rng);
    cases.extend(adversarial_cases(&mut rng));
    for (n, d) in [(9, 2100), (12, 400)] {
        let mut c = case(&mut rng, n, d, 0);
        c.center.iter_mut().for_each(|v| *v = v.sin());
        cases.push((format!("random n={n} d={d}"), c));
    }
    let mut failures = Vec::new();
    let mut worst = std::collections::BTreeMap::new();
    let mut check = |mode: &str, tag: &str, got: &[f64], want: &[f64], bound: f64| {
        let w = worst.entry(mode.to_string()).or_insert(0.0f64);
        for (p, (&g, &x)) in got.iter().zip(want).enumerate() {
            let g = if g.is_finite() { g } else { f64::INFINITY };
            if !x.is_finite() || x == 0.0 {
                if g != x {
                    failures.push(format!("{mode} {tag} entry {p}: got {g:e}, want {x:e}"));
                }
                continue;
            }
            let rel = (g - x).abs() / x;
            *w = w.max(rel / bound);
            if rel > bound {
                failures.push(format!(
                    "{mode} {tag} entry {p}: relative error {rel:e} > {bound:e}"
                ));
            }
        }
    };
    for (tag, c) in &cases {
        let (n, d) = (c.n, c.d);
        let rows = rows_f64(c);
        let want = reference::pairwise_dist(&rows);
        let center: Vec<f64> = c.center.iter().map(|&v| f64::from(v)).collect();
        let want_center = reference::center_dist(&rows, &center);
        let bound = |v| byzagg::cuda::dist_bounds(v, d).0;
        let upper = |m: &[f64]| -> Vec<f64> {
            (0..n * n)
                .map(|e| m[(e / n).min(e % n) * n + (e / n).max(e % n)])
                .collect()
        };
        let registers = f64s(&run(&exe, "pairwise", c, 0.0, &[], 0));
        check(
            "pairwise=registers",
            tag,
            &upper(&registers),
            &want,
            bound(Registers),
        );
        let mut deferred = f64s(&run(&exe, "pairwise_deferred", c, 0.0, &[], 0));
        let tiny = d as f64 * 2f64.powi(-100);
        for i in 0..n {
            for j in i + 1..n {
                let finite = deferred[i * n + i] == 0.0 && deferred[j * n + j] == 0.0;
                let g = deferred[i * n + j];
                if finite && (!g.is_finite() || g < tiny) {
                    deferred[i * n + j] = want[i * n + j];
                }
            }
        }
        check(
            "pairwise=deferred",
            tag,
            &upper(&deferred),
            &want,
            bound(Deferred),
        );
        let (tiled, _) = tiled_distances(&exe, c, &want);
        check("pairwise=tiled", tag, &upper(&tiled), &want, bound(Tiled));
        for mode in ["center", "center_wide"] {
            let got = f64s(&run(&exe, mode, c, 0.0, &[], 0));
            check(mode, tag, &got, &want_center, bound(Registers));
        }
    }
    let _ = std::fs::remove_dir_all(exe.parent().expect("temp dir"));
    eprintln!("largest error / bound per kernel: {worst:?}");
    assert!(
        failures.is_empty(),
        "{} beyond the bound, first 30:\n{}",
        failures.len(),
        failures.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
    for mode in ["pairwise=registers", "pairwise=deferred", "pairwise=tiled"] {
        assert!(
            worst[mode] > 0.0,
            "{mode} never rounded on these rows: a vacuous check"
        );
    }
}

/// Rows that stress the distance kernels' slow paths: sign rows with a duplicate, a zero row
/// and f32 extremes ([`tie_case`]); rows of magnitude 1e19 to 1e30 (squares overflow f32);
/// rows zero on their first half (all-zero regions: every lane sum there is 0); several
/// copies of one Byzantine row.
fn adversarial_cases(rng: &mut Rng) -> Vec<(String, Case)> {
    let mut out = Vec::new();
    for scale in [1.0f32, 3e9, 1e19, 3e38, 1e-20] {
        out.push((format!("signs at {scale:e}"), tie_case(rng, 9, 301, scale)));
    }
    for (n, d) in [(9, 300), (17, 1030)] {
        let mut c = case(rng, n, d, 0);
        for (i, row) in c.data.chunks_mut(d).enumerate() {
            for v in row.iter_mut() {
                if !v.is_finite() || v.abs() > 1e30 {
                    *v = 0.5;
                }
            }
            match i % 4 {
                0 => row.iter_mut().for_each(|v| *v *= 1e19),
                1 => row[..d / 2].fill(0.0),
                2 => row.iter_mut().for_each(|v| *v *= 1e30),
                _ => {}
            }
        }
        let first: Vec<f32> = c.data[d..2 * d].to_vec();
        for i in [5, 6] {
            c.data[i * d..(i + 1) * d].copy_from_slice(&first);
        }
        out.push((format!("huge, zero regions, copies n={n} d={d}"), c));
    }
    out
}

/// Both pairwise variants on the adversarial rows. `pairwise=deferred` leaves the pairs of
/// finite rows whose sums are non-finite or below d 2^-100 to the host, which recomputes
/// them exactly (checked bit for bit above): here the reference's value stands in for that
/// recomputation, and every other sum must be within tolerance as it is.
#[test]
fn emulated_pairwise_variants_survive_adversarial_rows() {
    let Some(exe) = harness("adversarial") else {
        return;
    };
    let mut rng = Rng(byzagg::SplitMix64(29));
    let mut failures = Vec::new();
    for (tag, c) in adversarial_cases(&mut rng) {
        let rows = rows_f64(&c);
        let want = reference::pairwise_dist(&rows);
        let n = c.n;
        for mode in ["pairwise", "pairwise_deferred"] {
            let raw = f64s(&run(&exe, mode, &c, 0.0, &[], 0));
            let tiny = c.d as f64 * 2f64.powi(-100);
            let mut redone = 0;
            for i in 0..n {
                for j in i..n {
                    let mut g = raw[i * n + j];
                    let finite = raw[i * n + i] == 0.0 && raw[j * n + j] == 0.0;
                    if mode == "pairwise_deferred" && i != j && finite && (!g.is_finite() || g < tiny) {
                        g = want[i * n + j];
                        redone += 1;
                    }
                    let g = if g.is_finite() { g } else { f64::INFINITY };
                    if !close(g, want[i * n + j], 1e-5) {
                        failures.push(format!(
                            "{mode} {tag} ({i},{j}): got {g:e}, want {:e}",
                            want[i * n + j]
                        ));
                    }
                }
            }
            eprintln!("{mode} {tag}: {redone} pairs left to the host");
        }
        // pairwise=tiled: rows of 1e19 and 1e30 overflow f32 squares and are summed again
        // scaled, so no pair of them is left to the exact recomputation.
        #[cfg(feature = "cuda")]
        {
            let (got, left) = tiled_distances(&exe, &c, &want);
            for i in 0..n {
                for j in i..n {
                    if !close(got[i * n + j], want[i * n + j], 1e-5) {
                        failures.push(format!(
                            "pairwise_tiled {tag} ({i},{j}): got {:e}, want {:e}",
                            got[i * n + j],
                            want[i * n + j]
                        ));
                    }
                }
            }
            eprintln!("pairwise_tiled {tag}: {left} pairs left to the exact pass");
            if tag.starts_with("huge") && left > 0 {
                failures.push(format!(
                    "pairwise_tiled {tag}: {left} pairs left to the exact pass"
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(exe.parent().expect("temp dir"));
    assert!(
        failures.is_empty(),
        "{} mismatches, first 30:\n{}",
        failures.len(),
        failures.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// `center_dist=slices` gives `classic`'s distances bit for bit (the same splits, per-thread
/// order and reductions, four steps in flight, several row groups per block, a persistent
/// grid), and both lie within 1e-5 of the reference: row counts from one row group to several
/// items per block, splits whose last step of four is partial, rows with and without NaN and
/// infinities.
#[cfg(feature = "cuda")]
#[test]
fn emulated_center_slices_equal_classic_to_the_bit() {
    let Some(exe) = harness("slices") else {
        return;
    };
    let mut rng = Rng(byzagg::SplitMix64(53));
    let mut failures = Vec::new();
    let mut finite_rows = 0;
    for (n, d) in [
        (1, 300),
        (3, 2100),
        (4, 1030),
        (5, 2100),
        (16, 777),
        (17, 2100),
        (33, 600),
    ] {
        for hostile in [true, false] {
            let mut c = case(&mut rng, n, d, 0);
            if !hostile {
                c.data
                    .iter_mut()
                    .filter(|v| !v.is_finite())
                    .for_each(|v| *v = 1e30);
            }
            let classic = f64s(&run(&exe, "center", &c, 0.0, &[], 0));
            let sliced = f64s(&run(&exe, "center_slices", &c, 0.0, &[], 0));
            let center: Vec<f64> = c.center.iter().map(|&v| f64::from(v)).collect();
            let want = reference::center_dist(&rows_f64(&c), &center);
            for i in 0..n {
                let (a, b) = (classic[i], sliced[i]);
                finite_rows += usize::from(b.is_finite());
                if a.to_bits() != b.to_bits() {
                    failures.push(format!(
                        "n={n} d={d} hostile={hostile} row {i}: classic {a:e} slices {b:e}"
                    ));
                }
                let g = if b.is_finite() { b } else { f64::INFINITY };
                if !close(g, want[i], 1e-5) {
                    failures.push(format!(
                        "n={n} d={d} hostile={hostile} row {i}: slices {g:e}, want {:e}",
                        want[i]
                    ));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(exe.parent().expect("temp dir"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        finite_rows > 50,
        "only {finite_rows} finite distances: a vacuous check"
    );
    // Under TSan: the slices' shared sums, written again by a block's next item behind the
    // barrier (n = 33: 9 row groups in 3 items, the last with slices of no rows; 3 blocks).
    let Some(tsan) = build_harness("slices-tsan", &["-fsanitize=thread", "-g"]) else {
        return;
    };
    for n in [5, 33] {
        let c = case(&mut rng, n, 700, 0);
        run(&tsan, "center_slices", &c, 0.0, &[], 0);
    }
    let _ = std::fs::remove_dir_all(tsan.parent().expect("temp dir"));
}
