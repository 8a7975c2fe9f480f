//! The training server with its latest vectors resident on the engine: a run of arrivals
//! (Byzantine rows, a worker joining midway, a synchronous round, rejected submissions)
//! gives bit for bit the aggregates of the same server handing all m vectors to the
//! aggregator each time, while moving d values per arrival instead of m x d. On the CPU,
//! wgpu (lavapipe here), CUDA where there is a GPU, and sharded engines; `write_row`'s own
//! errors on each backend.

mod common;

use byzagg::train::{OptimizerState, Server, ServerOptimizer, Transfers, Weighting};
use byzagg::{Aggregator, Backend, BackendList, ByzantineShare, Engine, Error, Kernels, Rule};
use common::{Rng, backend_or_skip};

const D: usize = 37;

/// The engines to compare on: the CPU, two CPU shards, and wgpu and CUDA where they run.
fn engines() -> Vec<Engine> {
    let mut out = vec![
        Engine::open(Backend::Cpu).unwrap(),
        Engine::open_list(&"cpu,cpu".parse::<BackendList>().unwrap()).unwrap(),
    ];
    if backend_or_skip(Backend::Wgpu).is_some() {
        out.push(Engine::open(Backend::Wgpu).unwrap());
        out.push(Engine::open_list(&"cpu,wgpu".parse::<BackendList>().unwrap()).unwrap());
    }
    if backend_or_skip(Backend::Cuda).is_some() {
        out.push(Engine::open(Backend::Cuda).unwrap());
    }
    out
}

fn server(rule: &Rule, engine: &Engine, share: Option<ByzantineShare>, resident: bool) -> Server {
    let opt = OptimizerState::new(ServerOptimizer::Sgd, 0.1, vec![0.0; D]).unwrap();
    let mut agg = Aggregator::with_engine(rule.clone(), engine.clone());
    if let Some(s) = share {
        agg = agg.with_byzantine_share(s);
    }
    let mut s = Server::new(agg, Weighting::Counts, opt).keep_resident(resident);
    for _ in 0..5 {
        s.register_worker();
    }
    s
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// One step of the scripted run, applied to both servers.
enum Step {
    Arrival(usize, Vec<f32>),
    Register,
    Round(Vec<Vec<f32>>),
}

fn script(seed: u64) -> Vec<Step> {
    let mut rng = Rng(seed);
    let mut steps = Vec::new();
    let mut workers = 5;
    for t in 0..24 {
        if t == 9 || t == 12 {
            steps.push(Step::Register);
            workers += 1;
        }
        // A round with 5 workers (refused by Krum with f = 2), and one with 7.
        if t == 6 || t == 15 {
            let rows = rng.rows(workers, D);
            steps.push(Step::Round(rows.chunks(D).map(<[f32]>::to_vec).collect()));
        }
        let worker = rng.below(workers);
        let mut v = rng.rows(1, D);
        match t % 7 {
            3 => v[rng.below(D)] = f32::NAN,
            5 => v.iter_mut().for_each(|x| *x *= 1e30),
            6 => v[0] = f32::INFINITY,
            _ => {}
        }
        steps.push(Step::Arrival(worker, v));
    }
    steps
}

/// Runs the script on a resident and a host server; returns how many arrivals the rule
/// refused (both servers must refuse the same ones and agree bit for bit on the rest).
fn compare(rule: &Rule, engine: &Engine, share: Option<ByzantineShare>) -> usize {
    let (mut resident, mut host) = (
        server(rule, engine, share, true),
        server(rule, engine, share, false),
    );
    let mut refused = 0;
    // Whether the next accepted arrival builds the resident matrix again: after a worker
    // joined, or after a refused round dropped the matrix.
    let mut rebuild = false;
    for (i, step) in script(7).iter().enumerate() {
        let what = format!("{rule} on {} step {i}", engine.name());
        match step {
            Step::Arrival(w, v) => {
                let before = resident.transfers();
                let (a, b) = (resident.submit(*w, v, 0), host.submit(*w, v, 0));
                assert_eq!(a.is_ok(), b.is_ok(), "{what}: {a:?} vs {b:?}");
                let after = resident.transfers();
                if a.is_err() {
                    refused += 1;
                } else if !std::mem::take(&mut rebuild) {
                    // d values up (the arrival's row) and d down (the aggregate).
                    assert_eq!(after.downloaded - before.downloaded, D as u64, "{what}");
                    assert_eq!(after.uploaded - before.uploaded, D as u64, "{what}");
                }
            }
            Step::Register => {
                resident.register_worker();
                host.register_worker();
                rebuild = true;
            }
            Step::Round(rows) => {
                let rows: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
                let (a, b) = (resident.submit_round(&rows), host.submit_round(&rows));
                assert_eq!(a.is_ok(), b.is_ok(), "{what}: {a:?} vs {b:?}");
                if a.is_err() {
                    refused += 1;
                    rebuild = true;
                }
            }
        }
        assert_eq!(
            bits(resident.last_aggregate()),
            bits(host.last_aggregate()),
            "{what}"
        );
        assert_eq!(bits(resident.query_point()), bits(host.query_point()), "{what}");
        assert_eq!(resident.counts(), host.counts(), "{what}");
    }
    // Without refusals (which cost the resident server rows written and restored, or a
    // rebuild) it moved far less: one row per arrival against all of them.
    let (r, h) = (resident.transfers(), host.transfers());
    if refused == 0 {
        assert!(r.uploaded * 3 < h.uploaded, "{rule}: {r:?} vs {h:?}");
    }
    assert_eq!(r.downloaded, h.downloaded, "{rule}");
    assert!(r.downloaded > 0, "{rule}: no arrival was accepted");
    refused
}

#[test]
fn resident_aggregates_equal_the_host_path() {
    for engine in engines() {
        for rule in [
            "mean",
            "cwmed",
            "cwtm",
            "meamed",
            "krum",
            "gm",
            "ctma(cwmed)",
            "nnm(cwmed)",
            "cclip(cwmed,tau=1,iters=2)",
        ] {
            let rule: Rule = rule.parse().unwrap();
            let refused = compare(&rule, &engine, Some(ByzantineShare::Lambda(0.2)));
            assert_eq!(refused, 0, "{rule} on {}", engine.name());
        }
    }
}

#[test]
fn a_refused_aggregate_leaves_the_resident_rows_as_they_were() {
    // Krum with f = 2 needs n > 2f + 2 = 6 rows: every arrival before the seventh worker
    // joins is refused after its row was written, and the later aggregates still agree.
    let rule: Rule = "krum".parse().unwrap();
    for engine in engines() {
        let refused = compare(&rule, &engine, Some(ByzantineShare::F(2)));
        assert!(
            refused > 0,
            "the script must exercise refusals on {}",
            engine.name()
        );
    }
}

#[test]
fn resident_transfers_are_d_per_arrival() {
    let rule: Rule = "cwmed".parse().unwrap();
    let engine = Engine::open(Backend::Cpu).unwrap();
    let mut s = server(&rule, &engine, None, true);
    let mut rng = Rng(3);
    for t in 0..10 {
        s.submit(t % 5, &rng.rows(1, D), 0).unwrap();
    }
    let d = D as u64;
    assert_eq!(
        s.transfers(),
        Transfers {
            uploaded: 10 * d,
            downloaded: 10 * d
        }
    );
    // A new worker: the next arrival builds the 6 x d matrix from the 5 delivered rows.
    s.register_worker();
    s.submit(5, &rng.rows(1, D), 0).unwrap();
    assert_eq!(s.transfers().uploaded, 10 * d + 5 * d + d);
    // The reference has no resident rows: it takes the host path whatever was asked.
    let reference = Engine::open(Backend::Reference).unwrap();
    let mut s = server(&rule, &reference, None, true);
    s.submit(0, &rng.rows(1, D), 0).unwrap();
    assert_eq!(s.transfers().uploaded, 5 * d);
}

#[test]
fn write_row_refuses_a_bad_row_or_length() {
    let name = |r: byzagg::Result<()>| match r {
        Err(Error::InvalidParameter { name, .. }) => name,
        other => panic!("{other:?}"),
    };
    for engine in engines() {
        let mut rows = engine.zeros(3, D).unwrap();
        engine.write_row(&mut rows, 2, &[1.5; D]).unwrap();
        assert_eq!(
            name(engine.write_row(&mut rows, 3, &[0.0; D])),
            "row",
            "{}",
            engine.name()
        );
        assert_eq!(name(engine.write_row(&mut rows, 0, &[0.0; D + 1])), "values");
        let message = engine.write_row(&mut rows, 7, &[0.0; D]).unwrap_err().to_string();
        assert!(message.contains("k = 3"), "{message}");
        // Nothing changed: row 2 holds what was written, the others are zero.
        let mut out = vec![9.0f32; 3 * D];
        engine.download(&rows, &mut out).unwrap();
        assert!(out[..2 * D].iter().all(|&v| v == 0.0), "{}", engine.name());
        assert!(out[2 * D..].iter().all(|&v| v == 1.5), "{}", engine.name());
    }
}

#[test]
fn by_default_only_gpu_engines_keep_the_rows_resident() {
    let rule: Rule = "cwmed".parse().unwrap();
    let d = D as u64;
    for engine in engines() {
        let opt = OptimizerState::new(ServerOptimizer::Sgd, 0.1, vec![0.0; D]).unwrap();
        let agg = Aggregator::with_engine(rule.clone(), engine.clone());
        let mut s = Server::new(agg, Weighting::Counts, opt);
        for _ in 0..4 {
            s.register_worker();
        }
        s.submit(1, &Rng(4).rows(1, D), 0).unwrap();
        // The CPU reads the host copies in place (all 4 rows handed over); a device gets one.
        let expect = match engine.backend() {
            Backend::Cpu => 4 * d,
            _ => d,
        };
        assert_eq!(s.transfers().uploaded, expect, "{}", engine.name());
    }
}
