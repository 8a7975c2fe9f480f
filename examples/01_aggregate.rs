//! First steps: one batch with Byzantine rows, aggregated by several rules on every backend
//! that runs here. `cargo run --release --example 01_aggregate`.

use byzagg::{Aggregator, Backend, Batch, ByzantineShare, Engine, Rule};

fn main() -> byzagg::Result<()> {
    // Seven honest workers agree on about (1, 2, 3); two Byzantine ones send NaN and 1e30.
    let rows = [
        [1.0f32, 2.0, 3.0],
        [1.1, 2.1, 2.9],
        [0.9, 1.9, 3.1],
        [1.0, 2.2, 3.0],
        [1.2, 1.8, 3.2],
        [0.8, 2.0, 2.8],
        [1.0, 2.0, 3.0],
        [f32::NAN, f32::NAN, f32::NAN],
        [1e30, -1e30, 1e30],
    ];
    let batch = Batch::from_rows(&rows)?;
    let rules = ["mean", "cwmed", "cwtm", "krum", "gm", "ctma(cwmed)"];

    // The reference is the f64 oracle; the others are whatever this machine offers.
    let mut engines = vec![Engine::open(Backend::Reference)?];
    engines.extend(Engine::all_with_kernels());
    for engine in engines {
        println!("{}:", engine.name());
        for text in rules {
            let rule: Rule = text.parse()?;
            // Rules that need the Byzantine share get it here: 2 rows of 9.
            let agg =
                Aggregator::with_engine(rule, engine.clone()).with_byzantine_share(ByzantineShare::F(2));
            let out = agg.aggregate(&batch)?;
            println!("  {text:<12} {out:?}");
            if text != "mean" {
                // Every robust rule lands near the honest rows; the plain mean does not.
                assert!(out.iter().zip([1.0, 2.0, 3.0]).all(|(o, h)| (o - h).abs() < 0.3));
            }
        }
    }
    Ok(())
}
