//! `byzagg train --grid`: the robustness benchmark grid on the setting the preset and flags
//! give. Each cell replaces the setting's rule, attack, sharding and seed; the cells run in
//! parallel (`--jobs`), each finished one is appended to the `--out` CSV at once, a rerun skips
//! the cells already there, and `--plot` draws the heat maps from the whole CSV.

use std::path::Path;

use byzagg::train::{CellResult, GridProgress, GridSpec, check_run, heat_maps, plot_heat_maps, run_grid};
use byzagg::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};

use crate::train::{TrainArgs, build_task, run_mode, settings};

/// Runs the grid `spec` (the `--grid` text).
pub(crate) fn run(args: &TrainArgs, spec: &str) -> Result<()> {
    let spec: GridSpec = spec.parse()?;
    if !args.compare.is_empty() {
        return Err(Error::invalid(
            "compare",
            "given",
            "--grid varies the setting itself; drop --compare",
        ));
    }
    let Some(csv) = args.out.as_deref() else {
        return Err(Error::invalid(
            "out",
            "missing",
            "--grid needs --out FILE.csv (it is also the resume log)",
        ));
    };
    if byzagg::output::is_stdout(csv) || args.plot.as_deref().is_some_and(byzagg::output::is_stdout) {
        return Err(Error::invalid(
            "out",
            "-",
            "--grid writes files, not standard output",
        ));
    }
    let outputs: Vec<&Path> = std::iter::once(csv).chain(args.plot.as_deref()).collect();
    crate::check_outputs(&outputs)?;
    let jobs = match args.jobs {
        Some(0) => return Err(Error::invalid("jobs", 0, "need at least one")),
        Some(j) => j,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    // Each cell runs in a thread pool of its own, the cores split evenly between the jobs: in
    // one shared pool the cells' many small parallel steps (four examples a worker, a rule on
    // 17 rows) wait on one another's.
    let threads_per_job = (rayon::current_num_threads() / jobs).max(1);
    let base = settings(args)?.remove(0);
    let t = &base.task;
    // `jobs` runs are in memory at once.
    check_run(&base.cfg, &t.name, t.dim, t.hidden, t.train_size, jobs as u64)?;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} cells  {elapsed_precise} (eta {eta})  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = |p: GridProgress| {
        bar.set_length(p.todo as u64);
        bar.set_position(p.done as u64);
        bar.set_message(format!("{} already in {}", p.skipped, csv.display()));
        if p.done == 0 {
            bar.suspend(|| {
                eprintln!(
                    "grid: {} cells to run, {} already in {} (skipped), {jobs} at a time",
                    p.todo,
                    p.skipped,
                    csv.display()
                )
            });
        }
    };
    let run_cell_in_pool = |cell: &byzagg::train::Cell| -> Result<CellResult> {
        let mut cfg = base.cfg.clone();
        cfg.rule = cell.rule.clone();
        cfg.attack = cell.attack;
        cfg.sharding = cell.hetero;
        cfg.seed = cell.seed;
        let task = build_task(&base.task, cell.seed)?;
        let run = run_mode(base.mode, task.as_ref(), &cfg, &mut |_| {})?;
        let updates = run.records.last().map_or(0, |r| r.iteration);
        Ok(CellResult {
            final_accuracy: run.final_accuracy(),
            aggregation_seconds_per_update: run.aggregation_seconds / updates.max(1) as f64,
        })
    };
    let run_cell = |cell: &byzagg::train::Cell| -> Result<CellResult> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads_per_job)
            .build()
            .map_err(|e| Error::Backend {
                backend: "cpu",
                source: Box::new(e),
            })?;
        pool.install(|| run_cell_in_pool(cell))
    };
    let rows = run_grid(&spec, csv, jobs, &run_cell, &progress)?;
    bar.finish_and_clear();
    let maps = heat_maps(&spec, &rows);
    for m in &maps {
        println!("\nheterogeneity {}: mean final accuracy over seeds", m.hetero);
        for (i, rule) in m.rules.iter().enumerate() {
            println!(
                "  {rule:<24} worst {:.4}  {:.4} ms/update aggregating",
                m.worst[i],
                1e3 * m.seconds_per_update[i]
            );
        }
    }
    println!("\n{} rows in {}", rows.len(), csv.display());
    if let Some(svg) = &args.plot {
        let title = format!(
            "{} grid: mean final accuracy over seeds {:?}",
            args.preset, spec.seeds
        );
        plot_heat_maps(svg, &title, &maps)?;
    }
    Ok(())
}
