//! The wgpu backend on a batch larger than one storage binding: n = 32 rows of d = 5,000,000 (640 MB, several
//! 128 MiB storage bindings on lavapipe) aggregate with cwmed, krum(f=4) and
//! ctma(cwmed,lambda=0.2) on wgpu to the CPU's result: the median and Krum bit for bit (they
//! select input values and rows), CTMA within 1e-5 of the scale.
#![cfg(feature = "wgpu")]

mod common;

use byzagg::{Backend, Rule};
use common::{Rng, backend_or_skip, close, run};

#[test]
fn large_batch_matches_the_cpu() {
    let Some(backend) = backend_or_skip(Backend::Wgpu) else {
        return;
    };
    let (n, d) = (32, 5_000_000);
    // A shared center plus per-row noise, and two Byzantine rows.
    let mut rng = Rng(7);
    let mut next = move || rng.range(-0.5, 0.5) as f32;
    let center: Vec<f32> = (0..d).map(|_| 4.0 * next()).collect();
    let mut data = Vec::with_capacity(n * d);
    for i in 0..n {
        let spread = 1.0 + i as f32 / 8.0;
        data.extend(center.iter().map(|c| c + spread * next()));
    }
    data[3 * d..4 * d].fill(f32::NAN);
    data[20 * d..21 * d].iter_mut().for_each(|v| *v *= -100.0);
    for (text, tol) in [
        ("cwmed", 0.0),
        ("krum(f=4)", 0.0),
        ("ctma(cwmed,lambda=0.2)", 1e-5),
    ] {
        let rule: Rule = text.parse().expect("rule");
        let t = std::time::Instant::now();
        let cpu = run(&rule, Backend::Cpu, &data, n, None, None).expect("cpu");
        let t_cpu = t.elapsed();
        let gpu = run(&rule, backend, &data, n, None, None).expect("wgpu");
        eprintln!("{text}: cpu {t_cpu:.2?}, wgpu {:.2?}", t.elapsed() - t_cpu);
        assert!(
            close(&gpu, &cpu, tol),
            "{text}: wgpu differs from the cpu by more than {tol:e} of the scale"
        );
        if tol == 0.0 {
            assert!(
                gpu.iter().zip(&cpu).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{text}: not bit-exact"
            );
        }
    }
}
