//! `byzagg devices`: which backends can run here, and why not (CUDA devices and NVRTC too,
//! the wgpu adapters, the CPU's threads and SIMD level).

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

/// The SIMD instruction sets this CPU offers, detected at run time.
fn simd_level() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let mut found = Vec::new();
        if std::arch::is_x86_feature_detected!("avx512f") {
            found.push("avx512f");
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            found.push("avx2");
        }
        if std::arch::is_x86_feature_detected!("fma") {
            found.push("fma");
        }
        if found.is_empty() {
            "sse2 (x86_64 baseline)".to_string()
        } else {
            found.join(" ")
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        "neon".to_string()
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "none detected (scalar code)".to_string()
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
