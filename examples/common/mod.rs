//! What the CUDA timing examples share.

use std::time::Instant;

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
