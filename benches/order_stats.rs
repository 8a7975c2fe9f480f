//! Criterion bench of primitive `order_stats` (SPEC section 5) on every available backend; ids
//! `order_stats/<backend>/<n>x<d>`. Run with `cargo bench --bench order_stats`.

mod common;

use byzagg::bench::Primitive;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    common::primitive(c, Primitive::OrderStats);
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench
}
criterion_main!(benches);
