//! `byzagg devices`: which backends can run here, and why not (CUDA devices and NVRTC too,
//! the wgpu adapters, the CPU's threads and SIMD level, and the `BYZAGG_SIMD` cap).

use std::fmt::Write as _;

use byzagg::Backend;

use crate::reason;

/// One line per backend: available or not (and why); for the CPU, threads and SIMD level.
pub(crate) fn list() -> String {
    let mut text = String::new();
    for backend in Backend::ALL {
        let status = match backend.available() {
            Err(e) => format!("unavailable: {}", reason(&e)),
            Ok(()) => match backend {
                Backend::Reference => "available: the f64 oracle (slow, for checking)".to_string(),
                Backend::Cpu => format!(
                    "available: {} rayon threads, SIMD {}",
                    rayon::current_num_threads(),
                    simd_level()
                ),
                _ => "available".to_string(),
            },
        };
        let _ = writeln!(text, "{:<10} {status}", backend.name());
        if backend == Backend::Wgpu {
            for line in byzagg::wgpu::adapters() {
                let _ = writeln!(text, "{:<10} {line}", "");
            }
        }
        if backend == Backend::Cuda {
            for line in byzagg::cuda::describe() {
                let _ = writeln!(text, "{:<10} {line}", "");
            }
        }
    }
    let _ = writeln!(
        text,
        "{:<10} --backend cpu,wgpu, cuda:0,cuda:1 or cuda:all split the coordinates across devices",
        "lists"
    );
    text
}

/// The SIMD level the CPU backend runs at, what the CPU offers, and the `BYZAGG_SIMD` cap
/// (or why its value is refused).
fn simd_level() -> String {
    use byzagg::cpu::{SIMD_VAR, SimdLevel, simd_cap, simd_level};
    let detected = SimdLevel::detected();
    match (simd_level(), simd_cap()) {
        (Ok(level), Ok(None)) => format!("{level} (the CPU's best; {SIMD_VAR} unset)"),
        (Ok(level), Ok(Some(cap))) => {
            format!("{level} (capped by {SIMD_VAR}={cap}; the CPU offers {detected})")
        }
        (Err(e), _) | (_, Err(e)) => format!("{detected} offered, but the cap is refused: {}", reason(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_lists_every_backend() {
        let text = list();
        for backend in Backend::ALL {
            assert_eq!(
                text.lines().filter(|l| l.starts_with(backend.name())).count(),
                1,
                "{text}"
            );
        }
        assert!(text.contains("nvrtc"), "{text}");
        let cpu = text.lines().find(|l| l.starts_with("cpu")).unwrap();
        assert!(cpu.contains("rayon threads") && cpu.contains("SIMD"), "{cpu}");
    }
}
