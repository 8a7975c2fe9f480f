//! Times wgpu's distance kernels and Krum with `distances=coalesced` and `distances=fast` side
//! by side in one process, on random rows and on the adversarial rows that send the fast
//! kernels to their exact recomputation: identical Byzantine rows (distances exactly 0),
//! +-1 rows (exact ties), shuffles of one vector (ties that the fast f32 lane sums do not see
//! as ties: the rules recompute them) and rows one ulp from another (small totals, recomputed
//! inside the primitive). Each selection is checked to be the same under both variants.
//!
//! ```text
//! WGPU_BACKEND=vulkan cargo run --release --example wgpu_distance_paths -- 32 10000000
//! ```
//!
//! Arguments: n (default 16) and d (default 10^5). Prints, per kind of batch, the median of 5
//! runs of `pairwise_dist`, `center_dist` (to a zero center) and Krum (f = n/5) on the resident
//! batch under each variant, and fast / coalesced. Exits with a message, not a panic, where wgpu
//! is unavailable.

use byzagg::wgpu::{KernelVariant, Wgpu};
use byzagg::{Aggregator, Backend, Batch, ByzantineShare, Kernels, Rule};

mod common;
use common::{median_seconds, same_bits};

fn main() -> byzagg::Result<()> {
    let [n, d] = common::counts(["n", "d"], [16, 100_000])?;
    let gpu = match Wgpu::new() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("skipped: {e}");
            return Ok(());
        }
    };
    println!("n = {n}, d = {d}");
    let random = byzagg::bench::gaussian_rows(n, d, 1);
    let mut rng = byzagg::SplitMix64(7);
    let kinds: Vec<(&str, Vec<f32>)> = vec![
        ("random", random.clone()),
        ("copies", {
            let mut x = random.clone();
            for i in 1..n / 4 + 1 {
                x.copy_within(0..d, i * d);
            }
            x
        }),
        ("signs", random.iter().map(|v| v.signum()).collect()),
        ("shuffles", {
            let mut x = random.clone();
            for i in 1..n {
                x.copy_within(0..d, i * d);
                let row = &mut x[i * d..(i + 1) * d];
                for j in (1..d).rev() {
                    row.swap(j, rng.below(j as u64 + 1) as usize);
                }
            }
            x
        }),
        ("one-ulp", {
            let mut x = random.clone();
            for i in 1..n / 4 + 1 {
                x.copy_within(0..d, i * d);
                x[i * d + i] = f32::from_bits(x[i * d + i].to_bits() + 1);
            }
            x
        }),
    ];
    let krum = Aggregator::new("krum".parse::<Rule>()?, Backend::Wgpu)?
        .with_byzantine_share(ByzantineShare::F(n / 5));
    println!(
        "{:>9}  {:>23}  {:>23}  {:>23}",
        "kind", "pairwise_dist ms", "center_dist ms", "krum ms"
    );
    println!(
        "{:>9}  {:>23}  {:>23}  {:>23}",
        "", "coal / fast = ratio", "coal / fast = ratio", "coal / fast = ratio"
    );
    for (name, data) in &kinds {
        let batch = Batch::from_contiguous(data, n)?;
        let mut times = Vec::new();
        let mut outs = Vec::new();
        for v in [KernelVariant::Coalesced, KernelVariant::Fast] {
            let g = gpu.clone().with_kernels(v);
            let rows = g.upload(&batch)?;
            let zero = g.zeros(1, d)?;
            let pairwise = median_seconds(|| g.pairwise_dist(&rows).map(drop))?;
            let center = median_seconds(|| g.center_dist(&rows, &zero).map(drop))?;
            let rule = median_seconds(|| krum.aggregate_resident(&g, &rows, None).map(drop))?;
            let (out, _) = krum.aggregate_resident(&g, &rows, None)?;
            let mut host = vec![0.0f32; d];
            g.download(&out, &mut host)?;
            outs.push(host);
            times.push([pairwise, center, rule]);
        }
        let same = same_bits(&outs[0], &outs[1]);
        let cell = |k: usize| {
            format!(
                "{:7.1} / {:7.1} = {:4.2}",
                times[0][k] * 1e3,
                times[1][k] * 1e3,
                times[1][k] / times[0][k]
            )
        };
        println!(
            "{name:>9}  {}  {}  {}  krum {}",
            cell(0),
            cell(1),
            cell(2),
            if same { "same" } else { "DIFFERS" }
        );
        if !same {
            return Err(byzagg::Error::invalid(
                "distances",
                "fast",
                format!("Krum selected other rows than coalesced on {name} rows"),
            ));
        }
    }
    Ok(())
}
