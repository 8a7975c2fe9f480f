//! The benchmark grid on tiny synchronous runs of the synthetic task: every cell once, one CSV
//! row each, resume after an interruption (cells already written are not run again), the heat
//! maps' means and worst cases, the SVG, and the `byzagg train --grid` command.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

#[cfg(feature = "plot")]
use byzagg::train::plot_heat_maps;
use byzagg::train::{
    Cell, CellResult, GRID_HEADER, GridRow, GridSpec, SyntheticTask, TrainConfig, heat_maps, read_grid_csv,
    run_grid, simulate_sync,
};
use byzagg::{Backend, Result};

fn dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("byzagg-grid-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A real cell: a 30-round synchronous run on a 10-dimensional synthetic task.
fn tiny_cell(cell: &Cell) -> Result<CellResult> {
    let task = SyntheticTask::new(10, 300, 100, cell.seed);
    let cfg = TrainConfig {
        workers: 9,
        byzantine: 2,
        rule: cell.rule.clone(),
        attack: cell.attack,
        sharding: cell.hetero,
        seed: cell.seed,
        backend: Backend::Reference,
        lr: 0.5,
        iterations: 30,
        eval_every: 30,
        ..TrainConfig::default()
    };
    let run = simulate_sync(&task, &cfg, &mut |_| {})?;
    Ok(CellResult {
        final_accuracy: run.final_accuracy(),
        aggregation_seconds_per_update: run.aggregation_seconds / 30.0,
    })
}

#[test]
fn specs_parse_and_bad_ones_say_why() {
    let g: GridSpec =
        "rules=cwmed,bucketing(cwtm(lambda=0.2),s=2) seeds=2..5 hetero=iid,label-skew,dirichlet(0.1)"
            .parse()
            .unwrap();
    assert_eq!(g.rules.len(), 2);
    assert!(
        g.rules[1].to_string().contains(','),
        "a rule text with a comma: {}",
        g.rules[1]
    );
    assert_eq!(g.seeds, vec![2, 3, 4]);
    assert_eq!(
        g.attacks.len(),
        byzagg::train::Attack::all().len(),
        "attacks default to all"
    );
    assert_eq!(g.cells().len(), 2 * g.attacks.len() * 3 * 3);
    for (bad, says) in [
        ("attacks=all", "rules"),
        ("rules=cwmed seeds=0", "seeds"),
        ("rules=cwmed seeds=4..2", "seeds"),
        ("rules=cwmed seeds=0..18446744073709551615", "seeds"),
        ("rules=cwmed seeds=10001", "seeds"),
        ("rules=cwmed colour=red", "unknown key"),
        ("rules=cwmed attacks=nope", "attack"),
        ("rules=cwmed hetero=dirichlet(0)", "alpha"),
        ("rules=", "empty"),
    ] {
        let err = bad.parse::<GridSpec>().unwrap_err().to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}

#[test]
fn a_grid_runs_every_cell_once_and_resumes_after_an_interruption() {
    let spec: GridSpec = "rules=cwmed,bucketing(cwtm,s=2) attacks=sign-flip,fang,optimal-ipm seeds=2 hetero=iid,dirichlet(0.5)"
        .parse()
        .unwrap();
    let csv = dir("resume").join("grid.csv");
    let _ = std::fs::remove_file(&csv);
    let ran = Mutex::new(Vec::new());
    let counting = |cell: &Cell| {
        ran.lock().unwrap().push(cell.clone());
        tiny_cell(cell)
    };
    let rows = run_grid(&spec, &csv, 3, &counting, &|_| {}).unwrap();
    let n = spec.cells().len();
    assert_eq!(rows.len(), n);
    assert_eq!(ran.lock().unwrap().len(), n);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().next(), Some(GRID_HEADER));
    assert_eq!(text.lines().count(), n + 1);
    // `bucketing(cwtm,s=2)` holds a comma: the rows read back as written (quoted).
    assert_eq!(read_grid_csv(&csv).unwrap().len(), n);

    // Interrupt: keep the header, 5 rows and half of the 6th line.
    let lines: Vec<&str> = text.lines().collect();
    let kept = format!("{}\n{}", lines[..6].join("\n"), &lines[6][..lines[6].len() / 2]);
    std::fs::write(&csv, kept).unwrap();
    let before: Vec<GridRow> = read_grid_csv(&csv).unwrap();
    assert_eq!(before.len(), 5, "the cut line is not a row");
    ran.lock().unwrap().clear();
    let seen = Mutex::new(Vec::new());
    let rows = run_grid(&spec, &csv, 2, &counting, &|p| seen.lock().unwrap().push(p)).unwrap();
    assert_eq!(
        ran.lock().unwrap().len(),
        n - 5,
        "only the missing cells ran again"
    );
    assert_eq!(rows.len(), n);
    let first = seen.lock().unwrap()[0];
    assert_eq!((first.done, first.todo, first.skipped), (0, n - 5, 5));
    let after = read_grid_csv(&csv).unwrap();
    assert_eq!(after.len(), n);
    assert_eq!(
        &after[..5],
        &before[..],
        "the rows already there are kept as they were"
    );
    // Same seeds, same bits: the rerun cells match the first run's.
    let again: Vec<GridRow> = text.lines().skip(1).filter_map(GridRow::parse).collect();
    for r in &after {
        let old = again
            .iter()
            .find(|o| (&o.rule, &o.attack, &o.hetero, o.seed) == (&r.rule, &r.attack, &r.hetero, r.seed));
        assert_eq!(
            old.map(|o| o.result.final_accuracy),
            Some(r.result.final_accuracy)
        );
    }
    // A third run has nothing to do.
    ran.lock().unwrap().clear();
    run_grid(&spec, &csv, 2, &counting, &|_| {}).unwrap();
    assert!(ran.lock().unwrap().is_empty());
}

#[test]
fn a_failing_cell_stops_the_grid_with_its_error_and_keeps_the_finished_rows() {
    let spec: GridSpec = "rules=cwmed attacks=sign-flip,nan seeds=3".parse().unwrap();
    let csv = dir("fail").join("grid.csv");
    let _ = std::fs::remove_file(&csv);
    let failing = |cell: &Cell| {
        if cell.attack.to_string() == "nan" {
            Err(byzagg::Error::invalid("cell", "nan", "fails on purpose"))
        } else {
            tiny_cell(cell)
        }
    };
    let err = run_grid(&spec, &csv, 1, &failing, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("fails on purpose"), "{err}");
    assert_eq!(
        read_grid_csv(&csv).unwrap().len(),
        3,
        "the sign-flip cells ran first"
    );
    // A file that is not a grid CSV is refused, not overwritten.
    std::fs::write(&csv, "something,else\n").unwrap();
    assert!(run_grid(&spec, &csv, 1, &tiny_cell, &|_| {}).is_err());
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "something,else\n");
}

#[test]
fn heat_maps_average_seeds_and_take_the_worst_attack() {
    let spec: GridSpec = "rules=cwmed,gm attacks=sign-flip,fang seeds=2 hetero=iid"
        .parse()
        .unwrap();
    let row = |rule: &str, attack: &str, seed, acc, secs| GridRow {
        rule: rule.into(),
        attack: attack.into(),
        hetero: "iid".into(),
        seed,
        result: CellResult {
            final_accuracy: acc,
            aggregation_seconds_per_update: secs,
        },
    };
    let rows = vec![
        row("cwmed", "sign-flip", 0, 0.8, 1.0),
        row("cwmed", "sign-flip", 1, 0.6, 3.0),
        row("cwmed", "fang:2", 0, 0.9, 1.0),
        row("cwmed", "fang:2", 1, 0.9, 3.0),
        row("gm", "sign-flip", 0, 0.5, 10.0),
        // gm under fang never ran: its cell is empty, the worst is over what ran.
    ];
    let maps = heat_maps(&spec, &rows);
    assert_eq!(maps.len(), 1);
    let m = &maps[0];
    assert_eq!(m.attacks, vec!["sign-flip", "fang:2"]);
    assert!((m.accuracy[0][0] - 0.7).abs() < 1e-12 && (m.accuracy[0][1] - 0.9).abs() < 1e-12);
    assert!((m.worst[0] - 0.7).abs() < 1e-12);
    assert!(m.accuracy[1][1].is_nan());
    assert_eq!(m.worst[1], 0.5);
    assert_eq!(m.seconds_per_update, vec![2.0, 10.0]);
    assert_eq!(m.seeds, 2);
    assert_eq!(m.seeds_run, vec![vec![2, 2], vec![1, 0]]);

    #[cfg(feature = "plot")]
    svg_holds_the_maps(&maps);
}

/// The heat-map SVG (feature `plot`) names the rules, attacks and worst case, with the numbers.
#[cfg(feature = "plot")]
fn svg_holds_the_maps(maps: &[byzagg::train::HeatMap]) {
    let svg = dir("svg").join("heat.svg");
    plot_heat_maps(&svg, "tiny grid", maps).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    for needle in [
        "<svg",
        "worst",
        "cwmed",
        "fang:2",
        "0.700",
        "agg ms/update",
        "2000.0000",
        // gm ran one of two seeds under sign flip and none under fang: partial.
        "0.500 (1/2)",
        "0.500*",
    ] {
        assert!(text.contains(needle), "{needle} missing from the SVG");
    }
}

#[test]
fn the_command_runs_a_grid_and_resumes_it() {
    let d = dir("cli");
    let (csv, svg) = (d.join("g.csv"), d.join("g.svg"));
    let _ = std::fs::remove_file(&csv);
    let args = |csv: &PathBuf, svg: &PathBuf| {
        let out = Command::new(env!("CARGO_BIN_EXE_byzagg"))
            .args([
                "train",
                "--task",
                "synthetic",
                "--dim",
                "10",
                "--train-size",
                "300",
                "--workers",
                "7",
                "--byzantine",
                "2",
                "--mode",
                "sync",
                "--iterations",
                "20",
                "--eval-every",
                "20",
                "--lr",
                "0.5",
                "--backend",
                "reference",
                "--quiet",
                "--jobs",
                "2",
                "--grid",
                "rules=cwmed,ctma(cwmed) attacks=min-max,mimic seeds=2 hetero=iid,dirichlet(0.5)",
            ])
            .arg("--out")
            .arg(csv)
            .arg("--plot")
            .arg(svg)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = args(&csv, &svg);
    assert!(first.contains("16 cells to run, 0 already"), "{first}");
    assert_eq!(read_grid_csv(&csv).unwrap().len(), 16);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("dirichlet(0.5)"));
    let text = std::fs::read_to_string(&csv).unwrap();
    let cut: Vec<&str> = text.lines().take(10).collect();
    std::fs::write(&csv, cut.join("\n") + "\n").unwrap();
    let second = args(&csv, &svg);
    assert!(second.contains("7 cells to run, 9 already"), "{second}");
    assert_eq!(read_grid_csv(&csv).unwrap().len(), 16);

    let list = Command::new(env!("CARGO_BIN_EXE_byzagg"))
        .args(["train", "--list-attacks"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for name in [
        "mimic",
        "optimal-ipm",
        "optimal-alie",
        "min-max",
        "min-sum",
        "fang",
        "inf",
    ] {
        assert!(list.contains(name), "{name} not listed");
    }
}
