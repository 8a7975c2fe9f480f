//! Prints the defines the CUDA backend puts in front of `kernels/order_stats.cu` for the
//! `order_stats=pruned` module of m rows (`byzagg::cuda::pruned_defines`: the row count, the
//! kind and the pruned sorting network), so that tools outside Rust compile the very module the
//! backend compiles: `scripts/sass_budget.py` counts its SASS per m.
//!
//! ```text
//! cargo run --release --example cuda_pruned_module -- 32 median_u
//! ```
//!
//! Arguments: m (1..=64) and the kind: `median_u` (the median, weights 1), `trim_u:LO:HI`
//! (the trimmed mean, weights 1, ranks LO..HI keeping mass) or `weighted` (any weights).

use byzagg::cuda::PrunedKind;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: cuda_pruned_module M median_u|trim_u:LO:HI|weighted (1 <= M <= 64)";
    let m = match args.first().and_then(|a| a.parse::<usize>().ok()) {
        Some(m) if (1..=64).contains(&m) => m,
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let kind = match args.get(1).map(String::as_str) {
        Some("median_u") => PrunedKind::MedianUniform,
        Some("weighted") => PrunedKind::Weighted,
        Some(k) if k.starts_with("trim_u:") => {
            let r: Vec<usize> = k[7..].split(':').filter_map(|x| x.parse().ok()).collect();
            match r[..] {
                [lo, hi] if lo <= hi && hi <= m => PrunedKind::TrimUniform { lo, hi },
                _ => {
                    eprintln!("{usage}");
                    std::process::exit(2);
                }
            }
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    print!("{}", byzagg::cuda::pruned_defines(m, kind));
}
