//! A training server fed by asynchronous workers: each worker sends its gradient at the model
//! it last read, fast workers more often than slow ones, and the server aggregates the latest
//! vector of every worker weighted by how many updates each delivered (the weighted rules'
//! purpose). One fast worker is Byzantine. `cargo run --release --example 02_weighted_async`.

use byzagg::train::{OptimizerState, Server, ServerOptimizer, Weighting};
use byzagg::{Aggregator, Backend, ByzantineShare, Rule, SplitMix64};

fn main() -> byzagg::Result<()> {
    // Minimise ||x - target||^2 in d = 4. The server steps on every arrival while each
    // honest vector is a few updates old, so the step is small.
    let target = [3.0f32, -1.0, 0.5, 2.0];
    let opt = OptimizerState::new(ServerOptimizer::Sgd, 0.02, vec![0.0; target.len()])?;
    let agg = Aggregator::new("ctma(cwmed)".parse::<Rule>()?, Backend::Cpu)?
        .with_byzantine_share(ByzantineShare::Lambda(0.4));
    let mut server = Server::new(agg, Weighting::Counts, opt);
    let workers: Vec<usize> = (0..5).map(|_| server.register_worker()).collect();
    let byzantine = workers[4];

    let mut rng = SplitMix64(7);
    // What each worker last read: the model and its version.
    let mut seen: Vec<(Vec<f32>, u64)> = workers
        .iter()
        .map(|_| (server.query_point().to_vec(), server.version()))
        .collect();
    for _ in 0..1500 {
        // Arrivals: the Byzantine worker takes a quarter of them (far more than any honest
        // worker, but below the share of 0.4 that the rule trims), the honest ones the rest.
        let w = if rng.unit() < 0.25 {
            byzantine
        } else {
            workers[rng.below(4) as usize]
        };
        let (x, version) = &seen[w];
        let message: Vec<f32> = if w == byzantine {
            vec![-1e6; target.len()] // pushes the model far away
        } else {
            // The gradient 2 (x - target) at the model this worker read, plus noise.
            x.iter()
                .zip(target)
                .map(|(xi, ti)| 2.0 * (xi - ti) + (rng.unit() as f32 - 0.5) * 0.1)
                .collect()
        };
        server.submit(w, &message, *version)?;
        seen[w] = (server.query_point().to_vec(), server.version());
    }
    let x = server.query_point();
    println!(
        "after {} updates: x = {x:?} (target {target:?})",
        server.version()
    );
    println!("update counts (the weights): {:?}", server.counts());
    assert!(x.iter().zip(target).all(|(xi, ti)| (xi - ti).abs() < 0.1));
    Ok(())
}
