//! What every criterion bench shares: the shapes, the seeded data, and one generic function
//! per primitive stamped out for every available backend (ids `<stem>/<backend>/<n>x<d>`).
//!
//! Every timed closure brings its result back to the host (`download`, or the distances a
//! primitive returns), which waits for a GPU: the clock never stops before the device does.

#![allow(dead_code)] // each bench file uses part of this

use std::hint::black_box;

use byzagg::bench::{Primitive, gaussian_rows};
use byzagg::{Backend, Batch, Engine, Kernels, OrderStat};
use criterion::{BenchmarkId, Criterion, Throughput};

/// (n, d) shapes of the primitive benches.
pub const SHAPES: [(usize, usize); 3] = [(16, 1_000_000), (32, 1_000_000), (64, 1_000_000)];

/// Criterion with few samples: each run reads 64-256 MB.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3))
}

/// The seeded `n x d` batch of `byzagg bench`.
pub fn data(n: usize, d: usize) -> Vec<f32> {
    gaussian_rows(n, d, 0x5EED)
}

/// Benches primitive `p` at every shape on every available backend.
pub fn primitive(c: &mut Criterion, p: Primitive) {
    let engines = Engine::all_with_kernels();
    let mut group = c.benchmark_group(p.stem());
    for (n, d) in SHAPES {
        let x = data(n, d);
        let batch = Batch::from_contiguous(&x, n).expect("a valid batch");
        group.throughput(Throughput::Bytes((4 * n * d) as u64));
        for engine in &engines {
            let id = BenchmarkId::new(engine.name(), format!("{n}x{d}"));
            bench_primitive(engine, &mut group, p, &batch, id).expect("a backend with kernels");
        }
    }
    group.finish();
}

/// One primitive on one backend (an engine's own [`Kernels`]), the batch resident before
/// the clock starts.
fn bench_primitive<K: Kernels>(
    k: &K,
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    p: Primitive,
    batch: &Batch<'_>,
    id: BenchmarkId,
) -> byzagg::Result<()> {
    let rows = k.upload(batch)?;
    let (n, d) = (batch.n(), batch.d());
    let w = vec![1.0; n];
    let mut out = vec![0.0f32; d];
    match p {
        Primitive::OrderStats => group.bench_function(id, |b| {
            b.iter(|| {
                let m = k.order_stats(&rows, &w, OrderStat::Median).expect("order_stats");
                k.download(&m, &mut out).expect("download");
            })
        }),
        Primitive::PairwiseDist => group.bench_function(id, |b| {
            b.iter(|| black_box(k.pairwise_dist(&rows).expect("pairwise_dist")))
        }),
        Primitive::CenterDist => {
            let center = k.zeros(1, d)?;
            group.bench_function(id, |b| {
                b.iter(|| black_box(k.center_dist(&rows, &center).expect("center_dist")))
            })
        }
        Primitive::Mix => {
            let coeffs = vec![1.0 / n as f64; n];
            group.bench_function(id, |b| {
                b.iter(|| {
                    let m = k.mix(&rows, &coeffs, 1, None).expect("mix");
                    k.download(&m, &mut out).expect("download");
                })
            })
        }
        Primitive::MixRows => {
            let coeffs = byzagg::bench::nnm_shaped_coeffs(&w);
            let mut out = vec![0.0f32; n * d];
            group.bench_function(id, |b| {
                b.iter(|| {
                    let m = k.mix(&rows, &coeffs, n, None).expect("mix");
                    k.download(&m, &mut out).expect("download");
                })
            })
        }
    };
    Ok(())
}

/// The backends a rule bench runs on: every one with kernels that is available here (the
/// CPU, wgpu, CUDA).
pub fn rule_backends() -> Vec<Backend> {
    Engine::all_with_kernels().iter().map(Engine::backend).collect()
}
