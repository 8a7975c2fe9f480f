//! Process-wide launch limits from the environment: the whole conformance suite on wgpu with
//! one workgroup per grid row (`BYZAGG_WGPU_MAX_GROUPS=1`: every shader runs with
//! `workgroup_id.y > 0`) and a small `order_stats` budget (`BYZAGG_WGPU_ORDER_STATS_WORK`: order
//! statistics in many dispatches and submissions) passes as without them, and a value that is
//! not a whole number >= 1 is an error naming the variable. The suite runs in a child process
//! of this test binary, started with the variables set, so no test changes its own environment.
#![cfg(feature = "wgpu")]

use std::process::Command;

use byzagg::wgpu::Wgpu;
use byzagg::{Backend, verify};

/// Set in the child process: which part it runs.
const CHILD: &str = "BYZAGG_LAUNCH_LIMITS_CHILD";
const NAME: &str = "launch_limits_from_the_environment";

/// Runs this test again in a child process with `vars` set; its output if it failed.
fn child(part: &str, vars: &[(&str, &str)]) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, part);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn launch_limits_from_the_environment() {
    match std::env::var(CHILD).as_deref() {
        Ok("suite") => {
            let results = verify::run(Backend::Wgpu).expect("wgpu");
            let failures: Vec<String> = results
                .iter()
                .flat_map(|r| r.failures.iter().map(|f| format!("{}: {}", f.case, f.message)))
                .collect();
            assert!(failures.is_empty(), "{}", failures.join("\n"));
            return;
        }
        Ok(var) => {
            let err = Wgpu::new().expect_err("an invalid launch limit").to_string();
            assert!(err.contains(var), "{err}");
            return;
        }
        Err(_) => {}
    }
    if let Err(e) = Wgpu::new() {
        verify::require_or_skip("wgpu", e);
        return;
    }
    child(
        "suite",
        &[
            ("BYZAGG_WGPU_MAX_GROUPS", "1"),
            ("BYZAGG_WGPU_ORDER_STATS_WORK", "1048576"),
        ],
    )
    .unwrap_or_else(|e| panic!("the suite under tight launch limits failed:\n{e}"));
    for var in ["BYZAGG_WGPU_MAX_GROUPS", "BYZAGG_WGPU_ORDER_STATS_WORK"] {
        for bad in ["0", "-3", "many"] {
            child(var, &[(var, bad)]).unwrap_or_else(|e| panic!("{var}={bad}:\n{e}"));
        }
    }
}
