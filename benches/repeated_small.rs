//! Criterion bench of many small aggregations on one `Aggregator` (n = 8, d = 1,000, the
//! weighted median), on every available backend: what a training server does once per
//! update. It shows the fixed cost of one call (opening nothing, uploading, one primitive,
//! downloading), which the large-batch benches hide. Ids `repeated_small/<backend>/8x1000`;
//! run with `cargo bench --bench repeated_small`.

mod common;

use byzagg::{Aggregator, Batch, Rule};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// Calls timed per iteration: criterion reports the time of all of them together.
const CALLS: usize = 1_000;

fn bench(c: &mut Criterion) {
    let (n, d) = (8, 1_000);
    let x = common::data(n, d);
    let weights: Vec<f64> = (0..n).map(|i| (1 + i % 4) as f64).collect();
    let batch = Batch::from_contiguous(&x, n)
        .and_then(|b| b.with_weights(&weights))
        .expect("a valid batch");
    let mut out = vec![0.0f32; d];
    let mut group = c.benchmark_group("repeated_small");
    for backend in common::rule_backends() {
        let agg = Aggregator::new(Rule::CwMed, backend).expect("an available backend");
        group.bench_function(BenchmarkId::new(backend.name(), format!("{n}x{d}")), |b| {
            b.iter(|| {
                for _ in 0..CALLS {
                    agg.aggregate_into(&batch, &mut out).expect("aggregate");
                }
            })
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
