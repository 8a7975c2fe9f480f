//! Device memory of the wgpu backend is bounded by one coordinate chunk's worth of scratch,
//! never by all chunks at once: the peak bytes of byzagg's buffers (the live-bytes counter of
//! `byzagg::wgpu::memory_stats`, which counts a buffer until the last submission using it has
//! completed) above the resident batch, for pairwise distances, center distances, order
//! statistics and Krum, with the batch cut into one chunk, into many, and into eight times as
//! many. Its own test binary with one test: the counter is process-wide.
#![cfg(feature = "wgpu")]

use byzagg::wgpu::{Wgpu, WgpuRows, memory_stats, reset_peak};
use byzagg::{Aggregator, Backend, Batch, Kernels, OrderStat, Rule};

/// Rows: enough that the n^2 pair terms dominate a chunk's scratch.
const N: usize = 64;
/// Coordinates per chunk in the many-chunk runs.
const CHUNK: usize = 64;

/// Peak bytes above those alive when `f` starts (the resident rows among them).
fn extra_peak(f: impl FnOnce()) -> u64 {
    let before = memory_stats().live;
    reset_peak();
    f();
    memory_stats().peak - before
}

fn data(d: usize) -> Vec<f32> {
    (0..N * d)
        .map(|i| ((i * 7919) % 1013) as f32 / 101.0 - 5.0)
        .collect()
}

/// The extra peak of each operation on `N x d` rows in chunks of `chunk` coordinates.
fn peaks(d: usize, chunk: usize) -> Vec<(&'static str, u64)> {
    let gpu = Wgpu::new().expect("device").with_chunk_cols(chunk);
    let values = data(d);
    let batch = Batch::from_contiguous(&values, N).expect("batch");
    let rows: WgpuRows = gpu.upload(&batch).expect("upload");
    assert_eq!(rows.chunks(), d.div_ceil(chunk));
    let center = gpu
        .upload(&Batch::from_contiguous(&values[..d], 1).expect("center"))
        .expect("center upload");
    let krum =
        Aggregator::new("krum(f=4)".parse::<Rule>().expect("rule"), Backend::Wgpu).expect("aggregator");
    let out = vec![
        (
            "pairwise_dist",
            extra_peak(|| {
                gpu.pairwise_dist(&rows).expect("pairwise");
            }),
        ),
        (
            "center_dist",
            extra_peak(|| {
                gpu.center_dist(&rows, &center).expect("center");
            }),
        ),
        (
            "order_stats",
            extra_peak(|| {
                gpu.order_stats(&rows, &[1.0; N], OrderStat::Median)
                    .expect("median");
            }),
        ),
        (
            "krum",
            extra_peak(|| {
                krum.aggregate_resident(&gpu, &rows, None).expect("krum");
            }),
        ),
    ];
    eprintln!("d = {d}, chunks of {chunk}: {out:?}");
    out
}

#[test]
fn scratch_memory_does_not_grow_with_the_number_of_chunks() {
    if let Err(e) = Wgpu::new() {
        byzagg::verify::require_or_skip("wgpu", e);
        return;
    }
    let d = 16 * CHUNK;
    let one = peaks(8 * d, 8 * d);
    let many = peaks(d, CHUNK);
    let eight_times = peaks(8 * d, CHUNK);
    for ((name, one), ((_, many), (_, eight))) in one.iter().zip(many.iter().zip(&eight_times)) {
        // Results (a 1 x d row at most, and its copies) may grow with d; scratch may not.
        let per_d = 4 * 4 * (8 * d) as u64;
        assert!(
            eight <= &(many + per_d),
            "{name}: {eight} bytes with {} chunks, {many} with {} (scratch grows with the chunks)",
            8 * d / CHUNK,
            d / CHUNK
        );
        assert!(
            eight <= &(one + per_d),
            "{name}: {eight} bytes with {} chunks, {one} with one",
            8 * d / CHUNK
        );
    }
    // The upload stages one chunk at a time: the batch plus one chunk, not the batch twice.
    let gpu = Wgpu::new().expect("device").with_chunk_cols(CHUNK);
    let values = data(8 * d);
    let batch = Batch::from_contiguous(&values, N).expect("batch");
    let upload = extra_peak(|| {
        gpu.upload(&batch).expect("upload");
    });
    let (batch_bytes, chunk_bytes) = ((4 * N * 8 * d) as u64, (4 * N * CHUNK) as u64);
    assert!(
        upload <= batch_bytes + chunk_bytes + 4096,
        "upload peak {upload} bytes for a {batch_bytes}-byte batch in chunks of {chunk_bytes}"
    );
}
