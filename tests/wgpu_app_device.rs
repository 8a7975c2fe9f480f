//! An application that opens its own wgpu device and keeps its rows in its own buffer:
//! `Wgpu::from_device` runs byzagg on that device and `Wgpu::rows_from_buffer` reads the
//! buffer, with or without a copy; the aggregates equal those of the normal path (a host
//! batch on byzagg's shared device), and bad buffers are refused with errors naming them.
//! Runs on lavapipe here; skipped with a reason where wgpu cannot run (unless
//! `BYZAGG_REQUIRE=wgpu`).
#![cfg(feature = "wgpu")]

mod common;

use byzagg::wgpu::Wgpu;
use byzagg::{Aggregator, Backend, Batch, ByzantineShare, Engine, Error, Kernels, Rule};
use common::{Rng, backend_or_skip};
use wgpu::util::DeviceExt;

const N: usize = 7;
const D: usize = 300;

/// The application's own device, opened the way an application would (nothing of byzagg's).
fn app_device() -> (wgpu::Device, wgpu::Queue) {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter = pollster::block_on(instance.request_adapter(&Default::default())).unwrap();
    pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("application"),
        ..Default::default()
    }))
    .unwrap()
}

fn data() -> Vec<f32> {
    let mut data = Rng(21).rows(N, D);
    data[2 * D + 5] = f32::NAN;
    data[4 * D + 9] = f32::INFINITY;
    data[6 * D..7 * D].iter_mut().for_each(|v| *v *= 1e30);
    data
}

fn buffer(device: &wgpu::Device, data: &[f32], usage: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("application rows"),
        contents: bytemuck::cast_slice(data),
        usage,
    })
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

const RULES: [&str; 6] = ["cwmed", "cwtm", "krum", "gm", "ctma(cwmed)", "nnm(cwmed)"];
const WEIGHTS: [f64; N] = [1.0, 2.0, 0.0, 3.0, 1.0, 1.0, 2.0];

/// Every rule on `rows` (of `gpu`) against the normal path on the shared device.
fn check_rules(gpu: &Wgpu, rows: &byzagg::wgpu::WgpuRows, data: &[f32], what: &str) {
    let batch = Batch::from_contiguous(data, N)
        .unwrap()
        .with_weights(&WEIGHTS)
        .unwrap();
    for rule in RULES {
        let rule: Rule = rule.parse().unwrap();
        let share = ByzantineShare::Lambda(0.2);
        let normal = Aggregator::new(rule.clone(), Backend::Wgpu)
            .unwrap()
            .with_byzantine_share(share)
            .aggregate(&batch)
            .unwrap();
        let agg =
            Aggregator::with_engine(rule.clone(), Engine::Wgpu(gpu.clone())).with_byzantine_share(share);
        let (out, _) = agg.aggregate_resident(gpu, rows, Some(&WEIGHTS)).unwrap();
        let mut shared = vec![0.0f32; D];
        gpu.download(&out, &mut shared).unwrap();
        assert_eq!(bits(&shared), bits(&normal), "{rule}, {what}");
    }
}

#[test]
fn rows_in_an_application_buffer_aggregate_as_the_normal_path() {
    if backend_or_skip(Backend::Wgpu).is_none() {
        return;
    }
    let (device, queue) = app_device();
    let data = data();
    let gpu = Wgpu::from_device(device.clone(), queue.clone()).unwrap();

    // Exactly k x d and one binding: the rows are the buffer itself, read-only.
    let storage = buffer(&device, &data, wgpu::BufferUsages::STORAGE);
    let mut rows = gpu.rows_from_buffer(&storage, N, D).unwrap();
    check_rules(&gpu, &rows, &data, "the buffer itself");
    let Err(Error::InvalidParameter { name, .. }) = gpu.write_row(&mut rows, 0, &[0.0; D]) else {
        panic!("the application's buffer was written");
    };
    assert_eq!(name, "rows");

    // Larger than k x d: copied into byzagg's buffers, which COPY_SRC allows.
    let mut padded = data.clone();
    padded.extend_from_slice(&[7.0; 13]);
    let copyable = buffer(
        &device,
        &padded,
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    );
    let mut rows = gpu.rows_from_buffer(&copyable, N, D).unwrap();
    check_rules(&gpu, &rows, &data, "a copy of a larger buffer");
    // A copy is byzagg's: rows can be replaced in it, and the buffer keeps its values.
    gpu.write_row(&mut rows, 1, &data[3 * D..4 * D]).unwrap();
    let mut out = vec![0.0f32; N * D];
    gpu.download(&rows, &mut out).unwrap();
    assert_eq!(bits(&out[D..2 * D]), bits(&data[3 * D..4 * D]));

    // Several coordinate chunks: copied chunk by chunk.
    let chunked = gpu.clone().with_chunk_cols(64);
    let rows = chunked.rows_from_buffer(&copyable, N, D).unwrap();
    assert_eq!(rows.chunks(), D.div_ceil(64));
    check_rules(&chunked, &rows, &data, "64-coordinate chunks");

    // byzagg never destroys the application's device: it still works afterwards.
    gpu.destroy_device();
    let rows = gpu.rows_from_buffer(&storage, N, D).unwrap();
    check_rules(&gpu, &rows, &data, "after destroy_device");
    drop(device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 4,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    }));
}

#[test]
fn unusable_buffers_are_refused_by_name() {
    if backend_or_skip(Backend::Wgpu).is_none() {
        return;
    }
    let (device, queue) = app_device();
    let gpu = Wgpu::from_device(device.clone(), queue).unwrap();
    let data = data();
    let refused = |r: byzagg::Result<byzagg::wgpu::WgpuRows>| match r {
        Err(Error::InvalidParameter { name, bound, .. }) => format!("{name}: {bound}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("accepted"),
    };
    // No STORAGE usage.
    let plain = buffer(&device, &data, wgpu::BufferUsages::COPY_SRC);
    let message = refused(gpu.rows_from_buffer(&plain, N, D));
    assert!(
        message.starts_with("buffer:") && message.contains("STORAGE"),
        "{message}"
    );
    // Too small for k x d.
    let storage = buffer(&device, &data, wgpu::BufferUsages::STORAGE);
    let message = refused(gpu.rows_from_buffer(&storage, N + 1, D));
    assert!(
        message.starts_with("buffer:") && message.contains(&format!("{}", (N + 1) * D * 4)),
        "{message}"
    );
    // Needs a copy (larger than k x d, or several chunks) but has no COPY_SRC.
    let message = refused(gpu.rows_from_buffer(&storage, N - 1, D));
    assert!(
        message.starts_with("buffer:") && message.contains("COPY_SRC"),
        "{message}"
    );
    let message = refused(gpu.clone().with_chunk_cols(64).rows_from_buffer(&storage, N, D));
    assert!(message.contains("COPY_SRC"), "{message}");
    // No rows or no coordinates.
    assert!(refused(gpu.rows_from_buffer(&storage, 0, D)).starts_with("shape:"));
    assert!(refused(gpu.rows_from_buffer(&storage, N, 0)).starts_with("shape:"));
}
