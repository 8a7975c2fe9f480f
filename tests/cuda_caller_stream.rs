//! `Cuda::from_stream` / `Cuda::from_raw_stream`: the backend on the caller's stream. Without
//! a GPU the constructor says why CUDA is unavailable (never a panic); on a GPU, rules run on
//! the device's default stream and on a caller's own stream give the aggregates of the
//! shared instance, the training server keeps its rows resident there, and a device index
//! past the machine's devices is refused by name.
#![cfg(feature = "cuda")]

mod common;

use byzagg::cuda::Cuda;
use byzagg::train::{OptimizerState, Server, ServerOptimizer, Weighting};
use byzagg::{Aggregator, Backend, Batch, ByzantineShare, Engine, Error, Rule};
use common::Rng;

const N: usize = 9;
const D: usize = 1000;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Every rule on `cuda` against the shared instance.
fn same_as_shared(cuda: &Cuda, what: &str) {
    let mut data = Rng(5).rows(N, D);
    data[3 * D + 17] = f32::NAN;
    let weights: Vec<f64> = (0..N).map(|i| (i % 3) as f64 + 1.0).collect();
    let batch = Batch::from_contiguous(&data, N)
        .unwrap()
        .with_weights(&weights)
        .unwrap();
    for rule in ["cwmed", "cwtm", "krum", "gm", "ctma(cwmed)"] {
        let rule: Rule = rule.parse().unwrap();
        let share = ByzantineShare::Lambda(0.2);
        let shared = Aggregator::new(rule.clone(), Backend::Cuda)
            .unwrap()
            .with_byzantine_share(share)
            .aggregate(&batch)
            .unwrap();
        let mine = Aggregator::with_engine(rule.clone(), Engine::Cuda(cuda.clone()))
            .with_byzantine_share(share)
            .aggregate(&batch)
            .unwrap();
        assert_eq!(bits(&mine), bits(&shared), "{rule} on {what}");
    }
}

#[test]
fn the_callers_stream_runs_the_rules() {
    // SAFETY: the null stream (the legacy default stream) is always alive.
    let default = unsafe { Cuda::from_raw_stream(0, 0) };
    let cuda = match default {
        Ok(cuda) => cuda,
        Err(Error::Unavailable { backend, reason }) => {
            assert_eq!(backend, "cuda");
            assert!(!reason.is_empty());
            byzagg::verify::require_or_skip("cuda", reason);
            return;
        }
        Err(other) => panic!("neither a backend nor why not: {other}"),
    };
    same_as_shared(&cuda, "the default stream");

    // A stream the caller created and owns (as PyTorch owns its streams).
    let ctx = cudarc::driver::CudaContext::new(0).unwrap();
    let stream = ctx.new_stream().unwrap();
    // SAFETY: `stream` outlives `on_caller` (dropped at the end of this test, after it).
    let on_caller = unsafe { Cuda::from_stream(ctx.clone(), stream.cu_stream()) }.unwrap();
    same_as_shared(&on_caller, "the caller's stream");

    // The training server's resident rows on the caller's stream.
    let opt = OptimizerState::new(ServerOptimizer::Sgd, 0.1, vec![0.0; D]).unwrap();
    let agg = Aggregator::with_engine("cwmed".parse().unwrap(), Engine::Cuda(on_caller.clone()));
    let host_agg = Aggregator::new("cwmed".parse().unwrap(), Backend::Cuda).unwrap();
    let mut resident = Server::new(agg, Weighting::Counts, opt.clone());
    let mut host = Server::new(host_agg, Weighting::Counts, opt).keep_resident(false);
    let mut rng = Rng(8);
    for _ in 0..5 {
        resident.register_worker();
        host.register_worker();
    }
    for t in 0..12 {
        let v = rng.rows(1, D);
        resident.submit(t % 5, &v, 0).unwrap();
        host.submit(t % 5, &v, 0).unwrap();
        assert_eq!(
            bits(resident.last_aggregate()),
            bits(host.last_aggregate()),
            "arrival {t}"
        );
    }
    drop((resident, on_caller));
    drop(stream);
}

#[test]
fn a_device_past_the_machines_is_refused() {
    let Ok(count) = byzagg::cuda::device_count() else {
        byzagg::verify::require_or_skip("cuda", "no CUDA device here");
        return;
    };
    // SAFETY: the constructor refuses the ordinal before it touches the stream.
    match unsafe { Cuda::from_raw_stream(count, 0) } {
        Err(Error::InvalidParameter { name, .. }) => assert_eq!(name, "device"),
        other => panic!("{other:?}"),
    }
}
