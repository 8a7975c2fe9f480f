//! Rows that never leave the GPU: a batch already in device memory (here copied there once, as
//! a training framework would hold it) aggregated in place; the result stays on the device
//! until asked for. Prints why it skips where CUDA cannot run.
//! `cargo run --release --example 03_cuda_resident`.

use byzagg::{Backend, Result};

fn main() -> Result<()> {
    if let Err(why) = Backend::Cuda.available() {
        println!("skipped: {why}");
        return Ok(());
    }
    run()
}

#[cfg(feature = "cuda")]
fn run() -> Result<()> {
    use byzagg::cuda::Cuda;
    use byzagg::{Aggregator, Batch, Kernels, Rule};

    let (n, d) = (9, 100_000);
    let host: Vec<f32> = (0..n * d).map(|i| ((i * 7919) % 1000) as f32 / 100.0).collect();
    let cuda = Cuda::shared()?;
    // The batch on the device: one n x d row-major buffer of this context.
    let slice = cuda
        .stream()
        .clone_htod(&host)
        .map_err(|e| byzagg::Error::Backend {
            backend: "cuda",
            source: Box::new(e),
        })?;
    let rows = cuda.rows_from_slice(&slice, n)?;

    let agg = Aggregator::new(Rule::CwMed, Backend::Cuda)?;
    let (median, _report) = agg.aggregate_resident(&cuda, &rows, None)?;
    let mut out = vec![0.0f32; d];
    cuda.download(&median, &mut out)?;

    // The same batch through host memory on the CPU gives the same median, bit for bit.
    let cpu = Aggregator::new(Rule::CwMed, Backend::Cpu)?.aggregate(&Batch::from_contiguous(&host, n)?)?;
    assert_eq!(out, cpu);
    println!(
        "cwmed of {n} x {d} rows resident on {}: equal to the cpu's",
        cuda.arch()
    );
    Ok(())
}

/// Without the `cuda` feature `Backend::Cuda` is never available, so `main` returns first;
/// this says so if it is ever reached.
#[cfg(not(feature = "cuda"))]
fn run() -> Result<()> {
    Err(byzagg::Error::Unavailable {
        backend: "cuda",
        reason: "byzagg was built without the `cuda` feature".into(),
    })
}
