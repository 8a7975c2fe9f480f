//! Times the CUDA distance primitives on adversarial rows beside random rows of the same shape,
//! in one run: the slow paths (pairs recomputed in f64 or exactly, equal rows compared) must
//! not cost more than 2x random data.
//!
//! ```text
//! BYZAGG_CUDA_KERNELS=pairwise=deferred,center_dist=wide,mix=wide \
//!     cargo run --release --example cuda_distance_paths -- 32 100000000
//! ```
//!
//! Arguments: n (default 32) and d (default 10^7). Prints, per kind of batch, the median of 5
//! runs of `pairwise_dist` and `center_dist` (to a zero center) on the resident batch and its
//! ratio to random rows. Kinds: `random` (normal values), `copies` (a quarter of the rows one
//! Byzantine row), `zero-half` (every row zero on its first half), `huge` (a quarter of the rows
//! scaled to 1e19..1e30), `signs` (+-1 rows: many exact ties). Exits with a message, not a
//! panic, where CUDA is unavailable.

use byzagg::{Batch, Kernels};

mod common;
use common::{cuda_or_skip, median_seconds};

fn main() -> byzagg::Result<()> {
    let [n, d] = common::counts(["n", "d"], [32, 10_000_000])?;
    let Some(cuda) = cuda_or_skip("timing")? else {
        return Ok(());
    };
    println!("n = {n}, d = {d}, variants: {}", cuda.kernels());
    let random = byzagg::bench::gaussian_rows(n, d, 1);
    let kinds: Vec<(&str, Vec<f32>)> = vec![
        ("random", random.clone()),
        ("copies", {
            let mut x = random.clone();
            for i in 1..n / 4 + 1 {
                x.copy_within(0..d, i * d);
            }
            x
        }),
        ("zero-half", {
            let mut x = random.clone();
            x.chunks_mut(d).for_each(|r| r[..d / 2].fill(0.0));
            x
        }),
        ("huge", {
            let mut x = random.clone();
            for (i, r) in x.chunks_mut(d).enumerate().take(n / 4) {
                let s = if i % 2 == 0 { 1e19 } else { 1e30 };
                r.iter_mut().for_each(|v| *v *= s);
            }
            x
        }),
        ("signs", random.iter().map(|v| v.signum()).collect()),
    ];
    let mut base = None;
    for (name, data) in &kinds {
        let batch = Batch::from_contiguous(data, n)?;
        let rows = cuda.upload(&batch)?;
        let center = cuda.zeros(1, d)?;
        let pairwise = median_seconds(|| cuda.pairwise_dist(&rows).map(drop))?;
        let center_dist = median_seconds(|| cuda.center_dist(&rows, &center).map(drop))?;
        let (p0, c0) = *base.get_or_insert((pairwise, center_dist));
        println!(
            "{name:>10}: pairwise_dist {:9.3} ms ({:.2}x random), center_dist {:9.3} ms ({:.2}x random)",
            pairwise * 1e3,
            pairwise / p0,
            center_dist * 1e3,
            center_dist / c0
        );
    }
    Ok(())
}
