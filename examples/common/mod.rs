//! What the GPU timing examples share: their arguments, the CUDA handle (or the reason there is
//! none), one handle per kernel variant, the timing and the bit-for-bit check. The CUDA pieces
//! need the `cuda` feature; the wgpu example builds without it.
// Each example uses a part of this module; the rest is dead code in that example's build.
#![allow(dead_code)]

#[cfg(feature = "cuda")]
use byzagg::cuda::{Cuda, KernelVariants};
use std::time::Instant;

/// `d` (the first argument, 10^7 unless given) and the row counts (the other arguments,
/// 16, 32 and 64 unless given); an argument that is not a whole number is an error.
pub fn d_and_row_counts() -> byzagg::Result<(usize, Vec<usize>)> {
    let mut args = std::env::args().skip(1);
    let d = args.next().map_or(Ok(10_000_000), |a| count("d", &a))?;
    let ns = args.map(|a| count("n", &a)).collect::<byzagg::Result<Vec<_>>>()?;
    Ok((d, if ns.is_empty() { vec![16, 32, 64] } else { ns }))
}

/// The positional arguments `names` in order, each `defaults`'s value where it is not given;
/// an argument that is not a whole number is an error naming it (so that `1e7` is not taken
/// for the default).
pub fn counts<const N: usize>(names: [&'static str; N], defaults: [usize; N]) -> byzagg::Result<[usize; N]> {
    let mut out = defaults;
    for ((slot, name), arg) in out.iter_mut().zip(names).zip(std::env::args().skip(1)) {
        *slot = count(name, &arg)?;
    }
    Ok(out)
}

/// One argument as a whole number, or an error naming it.
fn count(name: &'static str, arg: &str) -> byzagg::Result<usize> {
    arg.parse().map_err(|_| {
        byzagg::Error::invalid(
            name,
            format!("{arg:?}"),
            "must be a whole number (10000000, not 1e7)",
        )
    })
}

#[cfg(feature = "cuda")]
/// The shared CUDA handle, or `None` after printing why there is none (the examples then
/// skip their timings: no GPU is not an error).
pub fn cuda_or_skip(what: &str) -> byzagg::Result<Option<Cuda>> {
    match byzagg::cuda::available() {
        Ok(()) => Cuda::shared().map(Some),
        Err(e) => {
            eprintln!("{what} skipped: {e}");
            Ok(None)
        }
    }
}

#[cfg(feature = "cuda")]
/// `shared` with its kernel variants changed by `set`.
pub fn with_variant(shared: &Cuda, set: impl FnOnce(&mut KernelVariants)) -> Cuda {
    let mut kernels = shared.kernels();
    set(&mut kernels);
    shared.clone().with_kernels(kernels)
}

/// Whether `a` and `b` hold the same bits, value by value.
pub fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// The median of five timed calls of `f`, in seconds, after one untimed call (which compiles
/// the kernels).
pub fn median_seconds(mut f: impl FnMut() -> byzagg::Result<()>) -> byzagg::Result<f64> {
    f()?;
    let t: Vec<f64> = (0..5)
        .map(|_| {
            let t0 = Instant::now();
            f().map(|()| t0.elapsed().as_secs_f64())
        })
        .collect::<byzagg::Result<_>>()?;
    Ok(byzagg::bench::median(&t))
}
