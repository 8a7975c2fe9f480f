//! Criterion bench of whole rules through the public `Aggregator` (upload, primitives, host
//! logic, download), on every available backend; ids `<rule>/<backend>/<n>x<d>`. Rules that
//! need f get f = n/5, as in `byzagg bench`. Run with `cargo bench --bench rules`.

mod common;

use byzagg::{Aggregator, Batch, ByzantineShare, Rule};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const RULES: [&str; 6] = ["mean", "cwmed", "cwtm", "krum", "gm", "ctma(cwmed)"];

fn bench(c: &mut Criterion) {
    for (n, d) in [(16, 1_000_000)] {
        let x = common::data(n, d);
        let batch = Batch::from_contiguous(&x, n).expect("a valid batch");
        let mut out = vec![0.0f32; d];
        for text in RULES {
            let rule: Rule = text.parse().expect("a rule");
            let mut group = c.benchmark_group(text);
            group.throughput(Throughput::Bytes((4 * n * d) as u64));
            for backend in common::rule_backends() {
                let agg = Aggregator::new(rule.clone(), backend)
                    .expect("an available backend")
                    .with_byzantine_share(ByzantineShare::F(n / 5));
                group.bench_function(BenchmarkId::new(backend.name(), format!("{n}x{d}")), |b| {
                    b.iter(|| agg.aggregate_into(&batch, &mut out).expect("aggregate"))
                });
            }
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench
}
criterion_main!(benches);
