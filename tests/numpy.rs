//! `byzagg aggregate` against numpy on numpy-made files: cwmed equals `np.median(x, axis=0)`
//! and mean equals `np.mean`, for float32 and float64 input, odd and even n, with NaN rows
//! handled as SPEC section 3 says. Skips when python3 with numpy is absent, unless
//! `BYZAGG_REQUIRE` names `numpy`.

use std::path::Path;
use std::process::Command;

/// Runs a python snippet with numpy; `None` (after saying why) if python3 or numpy is missing.
fn python(script: &str) -> Option<String> {
    let out = Command::new("python3").arg("-c").arg(script).output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).into_owned()),
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            byzagg::verify::require_or_skip("numpy", format!("python3 with numpy is unavailable: {why}"));
            None
        }
    }
}

fn byzagg(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_byzagg"))
        .args(args)
        .output()
        .expect("run byzagg");
    assert!(
        out.status.success(),
        "byzagg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("byzagg-numpy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn case(dir: &Path, n: usize, d: usize, dtype: &str, nan_rows: usize) {
    let input = dir.join(format!("x_{n}_{dtype}.npy"));
    let made = python(&format!(
        "import numpy as np\n\
         x = np.random.default_rng({n}).standard_normal(({n}, {d})).astype(np.{dtype})\n\
         x[:{nan_rows}] = np.nan\n\
         np.save('{}', x)\n",
        input.display()
    ));
    if made.is_none() {
        return;
    }
    for (rule, numpy) in [("cwmed", "np.median"), ("mean", "np.mean")] {
        let output = dir.join(format!("out_{rule}_{n}_{dtype}.npy"));
        byzagg(&[
            "aggregate",
            "--rule",
            rule,
            "--backend",
            "cpu",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ]);
        // numpy's median puts NaN first in its result where any NaN is present; SPEC section 3
        // orders NaN above +inf instead, which numpy gives on the NaN-free rows with the
        // NaN rows replaced by +inf for the median (they are in the top tail either way).
        let verdict = python(&format!(
            "import numpy as np\n\
             x = np.load('{input}').astype(np.float32).astype(np.float64)  # byzagg computes on f32\n\
             got = np.load('{output}')\n\
             assert got.dtype == np.float32 and got.shape == ({d},), (got.dtype, got.shape)\n\
             x = np.where(np.isnan(x), np.inf, x) if '{rule}' == 'cwmed' else x\n\
             want = {numpy}(x, axis=0).astype(np.float32)\n\
             if '{rule}' == 'mean' and {nan_rows} > 0: assert np.isnan(got).all()\n\
             elif '{rule}' == 'mean': assert np.allclose(got, want, rtol=1e-6, atol=1e-7)\n\
             else: assert np.array_equal(got, want), np.abs(got - want).max()\n\
             print('ok')\n",
            input = input.display(),
            output = output.display(),
        ))
        .expect("numpy was there a moment ago");
        assert_eq!(verdict.trim(), "ok", "{rule} n={n} {dtype}");
    }
}

#[test]
fn cwmed_equals_numpy_median() {
    let dir = dir();
    case(&dir, 9, 1001, "float32", 0);
    case(&dir, 10, 517, "float32", 0);
    case(&dir, 8, 300, "float64", 0);
    case(&dir, 9, 64, "float32", 2);
    std::fs::remove_dir_all(&dir).ok();
}
