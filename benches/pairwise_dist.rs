//! Criterion bench of primitive `pairwise_dist` (SPEC section 5) on every available backend; ids
//! `pairwise_dist/<backend>/<n>x<d>`. Run with `cargo bench --bench pairwise_dist`.

mod common;

use byzagg::bench::Primitive;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    common::primitive(c, Primitive::PairwiseDist);
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench
}
criterion_main!(benches);
