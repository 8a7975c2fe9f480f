//! Times CUDA's weighted order statistics on data that forces their slow path beside random
//! data, in one run: the pruned kernels sort 32-bit composite keys (a value's order bits with
//! the low ceil(log2 m) bits replaced by the row index) and fall back to the exact 64-bit
//! sort where two neighbours share the high bits but not the value. Here every coordinate's
//! values lie within 2^ceil(log2 n) order steps of one base value whose low 8 order bits are
//! zero, rows 0 and 1 one step apart, so every coordinate has such a collision (rows of near-equal values, as identical Byzantine
//! rows plus noise in the last bits give). The issue's target: the slow path at most 2x random
//! data.
//!
//! ```text
//! cargo run --release --example cuda_collision_paths -- 10000000 16 32 64
//! ```
//!
//! Arguments: d (default 10^7), then the row counts n (default 16 32 64). Weights 1, 2, 3, 4,
//! 1, ... (`byzagg bench --weighted`'s). Prints, per n, the median of 5 runs of the weighted
//! median and of the weighted trimmed mean (lambda = 0.2) on a resident batch of each kind
//! (the clock stops at `synchronize`) and the ratio collision / random, and checks that the
//! pruned kernels' results on the collision data equal the bitonic variant's bit for bit.
//! Without CUDA it still checks, on the CPU, that the generated data collides at every
//! coordinate (the property the timing relies on), and says that the timing was skipped.

use byzagg::cuda::OrderStatsVariant;
use byzagg::{Batch, Kernels, OrderStat};

mod common;
use common::{cuda_or_skip, d_and_row_counts, median_seconds, same_bits, with_variant};

/// The CUDA kernels' order bits of a float (kernels/order_stats.cu `order_bits`).
fn order_bits(v: f32) -> u32 {
    if v.is_nan() {
        return u32::MAX;
    }
    if v == 0.0 {
        return 0x8000_0000;
    }
    let u = v.to_bits();
    if u & 0x8000_0000 != 0 { !u } else { u | 0x8000_0000 }
}

/// The bits of the row index in a composite key of `n` rows (`OS_BITS`), at least 1.
fn row_bits(n: usize) -> u32 {
    usize::BITS - (n.max(2) - 1).leading_zeros()
}

/// Rows of near-equal values: per coordinate a random base whose low 8 f32 bits are zero
/// (so its low 8 order bits are all zeros or, negative, all ones), row i adding i units in
/// the last place for i < 2 and a random 0 .. 2^row_bits(n) - 1 after that. Every value of a
/// coordinate keeps the base's order bits above the low row_bits(n) (at most 7 for n <= 128),
/// and rows 0 and 1 differ: a collision at every coordinate.
fn collision_rows(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let base = byzagg::bench::gaussian_rows(1, d, seed);
    let mut rng = byzagg::SplitMix64(seed ^ 0x5eed);
    let steps = 1u64 << row_bits(n);
    let mut data = Vec::with_capacity(n * d);
    for i in 0..n {
        data.extend(base.iter().map(|b| {
            let step = if i < 2 { i as u64 } else { rng.below(steps) };
            f32::from_bits((b.to_bits() & !0xff) + step as u32)
        }));
    }
    data
}

/// Coordinates (of the first `sample`) where the composite keys of `n` rows would sort some
/// pair of neighbours with equal high bits but different values: the slow path's trigger.
fn colliding(data: &[f32], n: usize, d: usize, sample: usize) -> usize {
    let mask = (1u32 << row_bits(n)) - 1;
    (0..sample.min(d))
        .filter(|&j| {
            let mut k: Vec<(u32, u32)> = (0..n)
                .map(|i| {
                    let o = order_bits(data[i * d + j]);
                    ((o & !mask) | i as u32, o)
                })
                .collect();
            k.sort_unstable();
            k.windows(2)
                .any(|w| (w[0].0 ^ w[1].0) <= mask && w[0].1 != w[1].1)
        })
        .count()
}

fn main() -> byzagg::Result<()> {
    let (d, ns) = d_and_row_counts()?;
    for &n in &ns {
        if !(2..=64).contains(&n) {
            return Err(byzagg::Error::invalid(
                "n",
                n,
                "must be 2 to 64 (the pruned kernels' register path)",
            ));
        }
        let sample = 10_000;
        let hit = colliding(&collision_rows(n, d.min(sample), 3), n, d.min(sample), sample);
        let random = colliding(
            &byzagg::bench::gaussian_rows(n, d.min(sample), 1),
            n,
            d.min(sample),
            sample,
        );
        println!(
            "n = {n:>3}: composite-key collisions in {hit} of {} coordinates of the collision data, {random} of random data",
            d.min(sample)
        );
        if hit != d.min(sample) {
            return Err(byzagg::Error::invalid(
                "collision data",
                hit,
                "must collide at every coordinate",
            ));
        }
    }
    let Some(shared) = cuda_or_skip("timing")? else {
        return Ok(());
    };
    let with = |v| with_variant(&shared, |k| k.order_stats = v);
    let (pruned, bitonic) = (with(OrderStatsVariant::Pruned), with(OrderStatsVariant::Bitonic));
    println!("weighted order_stats (pruned), d = {d}: collision data against random data");
    for n in ns {
        let weights = byzagg::bench::bench_weights(n);
        for stat in [OrderStat::Median, OrderStat::TrimmedMean { lambda: 0.2 }] {
            let mut times = Vec::new();
            for data in [byzagg::bench::gaussian_rows(n, d, 1), collision_rows(n, d, 3)] {
                let batch = Batch::from_contiguous(&data, n)?;
                let rows = shared.upload(&batch)?;
                times.push(median_seconds(|| {
                    let m = pruned.order_stats(&rows, &weights, stat)?;
                    pruned.synchronize().map(|()| drop(std::hint::black_box(m)))
                })?);
                let mut outs = Vec::new();
                for cuda in [&pruned, &bitonic] {
                    let m = cuda.order_stats(&rows, &weights, stat)?;
                    let mut out = vec![0.0f32; d];
                    cuda.download(&m, &mut out)?;
                    outs.push(out);
                }
                if !same_bits(&outs[0], &outs[1]) {
                    return Err(byzagg::Error::invalid(
                        "order_stats",
                        "pruned",
                        "differs from bitonic: the kernels must give the same bits",
                    ));
                }
            }
            let gbs = |t: f64| (n * d * 4) as f64 / t / 1e9;
            println!(
                "n = {n:>3} {stat:?}: random {:9.3} ms ({:7.1} GB/s), collision {:9.3} ms ({:7.1} GB/s), collision / random {:.2} (target <= 2), pruned = bitonic bit for bit",
                times[0] * 1e3,
                gbs(times[0]),
                times[1] * 1e3,
                gbs(times[1]),
                times[1] / times[0],
            );
        }
    }
    Ok(())
}
