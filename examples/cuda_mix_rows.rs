//! Times CUDA's `mix` with as many output rows as input rows (NNM's shape: each output row the
//! mean of its n - n/4 nearest rows) with both `mix_rows` kernels side by side, in one run,
//! and checks that they give the same bits.
//!
//! ```text
//! cargo run --release --example cuda_mix_rows -- 10000000 16 32 64
//! ```
//!
//! Arguments: d (default 10^7), then the row counts n (default 16 32 64). Prints, per n, the
//! median of 5 runs of each kernel on a resident batch (the clock stops at `synchronize`), the
//! batch bytes read per second (n x d x 4 / time, to set beside the device read pass) and the
//! ratio `groups / tiled`, and whether the two outputs are bit-identical. Exits with a message,
//! not a panic, where CUDA is unavailable.

use byzagg::cuda::MixRowsVariant;
use byzagg::{Batch, Kernels};

mod common;
use common::{cuda_or_skip, d_and_row_counts, median_seconds, same_bits, with_variant};

/// NNM-like coefficients: output row r averages row r and the n - n/4 - 1 rows after it
/// (cyclically), so each group of 8 output rows reads nearly every input row.
fn nnm_coeffs(n: usize) -> Vec<f64> {
    let keep = n - n / 4;
    let mut c = vec![0.0; n * n];
    for r in 0..n {
        for j in 0..keep {
            c[r * n + (r + j) % n] = 1.0 / keep as f64;
        }
    }
    c
}

fn main() -> byzagg::Result<()> {
    let (d, ns) = d_and_row_counts()?;
    let Some(shared) = cuda_or_skip("mix_rows timing")? else {
        return Ok(());
    };
    let with = |v| with_variant(&shared, |k| k.mix_rows = v);
    let (groups, tiled) = (with(MixRowsVariant::Groups), with(MixRowsVariant::Tiled));
    println!("mix with k = n output rows, d = {d}: groups (mix_k8) against tiled (mix_tiled)");
    for n in ns {
        let data = byzagg::bench::gaussian_rows(n, d, 1);
        let batch = Batch::from_contiguous(&data, n)?;
        let rows = shared.upload(&batch)?;
        let coeffs = nnm_coeffs(n);
        let mut outs = Vec::new();
        let mut times = Vec::new();
        for cuda in [&groups, &tiled] {
            let t = median_seconds(|| {
                let m = cuda.mix(&rows, &coeffs, n, None)?;
                cuda.synchronize().map(|()| drop(std::hint::black_box(m)))
            })?;
            let m = cuda.mix(&rows, &coeffs, n, None)?;
            let mut out = vec![0.0f32; n * d];
            cuda.download(&m, &mut out)?;
            outs.push(out);
            times.push(t);
        }
        let same = same_bits(&outs[0], &outs[1]);
        let gbs = |t: f64| (n * d * 4) as f64 / t / 1e9;
        println!(
            "n = {n:>3}: groups {:9.3} ms ({:7.1} GB/s), tiled {:9.3} ms ({:7.1} GB/s), groups / tiled {:.2}, bit-identical: {}",
            times[0] * 1e3,
            gbs(times[0]),
            times[1] * 1e3,
            gbs(times[1]),
            times[0] / times[1],
            if same { "yes" } else { "NO" }
        );
        if !same {
            return Err(byzagg::Error::invalid(
                "mix_rows",
                "tiled",
                "differs from groups: the kernels must give the same bits",
            ));
        }
    }
    Ok(())
}
