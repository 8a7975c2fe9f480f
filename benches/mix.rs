//! Criterion bench of primitive `mix` (SPEC section 5) on every available backend, at `k = 1`
//! and at NNM's `k = n`; ids `mix/<backend>/<n>x<d>` and `mix_rows/...`. Run with
//! `cargo bench --bench mix`.

mod common;

use byzagg::bench::Primitive;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    common::primitive(c, Primitive::Mix);
    common::primitive(c, Primitive::MixRows);
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench
}
criterion_main!(benches);
