//! Criterion bench of the CPU's fused kernels against the primitives they fuse, on the same
//! batch: `order_stats` then `center_dist` beside `order_stats_with_dist`, and `mix` then
//! `center_dist` beside `mix_with_dist` (CTMA, MoNNA and the geometric median take the fused
//! ones); ids `fused_dist/<pair>/<n>x<d>`. Run with `cargo bench --bench fused_dist`.

mod common;

use std::hint::black_box;

use byzagg::cpu::Cpu;
use byzagg::{Batch, Kernels, OrderStat};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let cpu = Cpu::new();
    let mut group = c.benchmark_group("fused_dist");
    for (n, d) in common::SHAPES {
        let x = common::data(n, d);
        let batch = Batch::from_contiguous(&x, n).expect("a valid batch");
        let rows = cpu.upload(&batch).expect("upload");
        let w = vec![1.0; n];
        let coeffs = vec![1.0 / n as f64; n];
        group.throughput(Throughput::Bytes((4 * n * d) as u64));
        let id = |pair: &str| BenchmarkId::new(pair, format!("{n}x{d}"));
        group.bench_function(id("order_stats+center_dist"), |b| {
            b.iter(|| {
                let m = cpu
                    .order_stats(&rows, &w, OrderStat::Median)
                    .expect("order_stats");
                black_box(cpu.center_dist(&rows, &m).expect("center_dist"))
            })
        });
        group.bench_function(id("order_stats_with_dist"), |b| {
            b.iter(|| {
                black_box(
                    cpu.order_stats_with_dist(&rows, &w, OrderStat::Median)
                        .expect("fused"),
                )
            })
        });
        group.bench_function(id("mix+center_dist"), |b| {
            b.iter(|| {
                let m = cpu.mix(&rows, &coeffs, 1, None).expect("mix");
                black_box(cpu.center_dist(&rows, &m).expect("center_dist"))
            })
        });
        group.bench_function(id("mix_with_dist"), |b| {
            b.iter(|| black_box(cpu.mix_with_dist(&rows, &coeffs).expect("fused")))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench
}
criterion_main!(benches);
