//! The robustness benchmark grid: every (rule, attack, heterogeneity, seed) cell of a spec run
//! once, in parallel, into one CSV that doubles as the resume log (a cell already in it is not
//! run again), and the summary the heat map draws: mean final accuracy per rule and attack, the
//! worst case over attacks, and the aggregation time per update.
//!
//! The grid does not know how a cell trains: the caller passes a function from [`Cell`] to
//! [`CellResult`] (the `byzagg train --grid` command builds the task and runs the configured
//! mode), so tests can run it on any task.

use std::collections::{BTreeMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::{Error, Result};
use crate::rule::Rule;

use super::attack::Attack;
use super::task::Sharding;

/// The CSV's header line (without the newline).
pub const GRID_HEADER: &str = "rule,attack,heterogeneity,seed,final_accuracy,aggregation_seconds_per_update";

/// The most seeds a grid takes (a typo like `seeds=1000000000` is an error, not a huge list).
pub const MAX_GRID_SEEDS: u64 = 10_000;

/// What a grid runs: the product of its lists.
#[derive(Clone, Debug, PartialEq)]
pub struct GridSpec {
    /// Rules (rows of the heat map).
    pub rules: Vec<Rule>,
    /// Attacks (columns).
    pub attacks: Vec<Attack>,
    /// Heterogeneity settings (one heat map each).
    pub hetero: Vec<Sharding>,
    /// Seeds.
    pub seeds: Vec<u64>,
}

/// One run of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// The rule.
    pub rule: Rule,
    /// The attack.
    pub attack: Attack,
    /// How the training set is dealt.
    pub hetero: Sharding,
    /// The seed.
    pub seed: u64,
}

/// What a cell measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CellResult {
    /// Test accuracy at the end of the run.
    pub final_accuracy: f64,
    /// Seconds inside the aggregator per server update.
    pub aggregation_seconds_per_update: f64,
}

/// One CSV row: a cell's labels as written, and its result.
#[derive(Clone, Debug, PartialEq)]
pub struct GridRow {
    /// The rule as written.
    pub rule: String,
    /// The attack as written.
    pub attack: String,
    /// The heterogeneity as written.
    pub hetero: String,
    /// The seed.
    pub seed: u64,
    /// The result.
    pub result: CellResult,
}

impl Cell {
    /// The labels the CSV keys this cell by.
    fn key(&self) -> (String, String, String, u64) {
        (
            self.rule.to_string(),
            self.attack.to_string(),
            self.hetero.to_string(),
            self.seed,
        )
    }
}

impl GridSpec {
    /// Every cell, in the order rules, attacks, heterogeneity, seeds (seed fastest).
    pub fn cells(&self) -> Vec<Cell> {
        let mut out = Vec::new();
        for rule in &self.rules {
            for attack in &self.attacks {
                for hetero in &self.hetero {
                    for &seed in &self.seeds {
                        out.push(Cell {
                            rule: rule.clone(),
                            attack: *attack,
                            hetero: *hetero,
                            seed,
                        });
                    }
                }
            }
        }
        out
    }
}

/// Splits at commas outside parentheses: `cwmed,ctma(cwtm(0.1)),gm` has three items.
fn split_top(list: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0, Vec::new());
    for (i, c) in list.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&list[start..]);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

impl FromStr for GridSpec {
    type Err = Error;

    /// Space-separated `key=list` pairs: `rules=cwmed,ctma(cwmed)` (required), `attacks=all` or a
    /// list (default all), `hetero=iid,label-skew,dirichlet(0.5)` (default iid), `seeds=N` (seeds
    /// 0..N, default 1) or `seeds=A..B` (A to B-1).
    ///
    /// # Examples
    ///
    /// ```
    /// use byzagg::train::GridSpec;
    ///
    /// let g: GridSpec = "rules=cwmed,nnm(cwtm) attacks=sign-flip,fang seeds=3 hetero=iid,dirichlet(0.5)".parse()?;
    /// assert_eq!(g.cells().len(), 2 * 2 * 2 * 3);
    /// # Ok::<(), byzagg::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        let mut spec = GridSpec {
            rules: Vec::new(),
            attacks: Attack::all(),
            hetero: vec![Sharding::Iid],
            seeds: vec![0],
        };
        for pair in s.split_whitespace() {
            let (key, list) = pair.split_once('=').ok_or_else(|| {
                Error::invalid(
                    "grid",
                    pair,
                    "write key=value (rules=, attacks=, hetero=, seeds=)",
                )
            })?;
            let items = split_top(list);
            if items.is_empty() {
                return Err(Error::invalid("grid", pair, "the list after '=' is empty"));
            }
            match key {
                "rules" | "rule" => spec.rules = items.iter().map(|r| r.parse()).collect::<Result<_>>()?,
                "attacks" | "attack" => {
                    spec.attacks = if items == ["all"] {
                        Attack::all()
                    } else {
                        items.iter().map(|a| a.parse()).collect::<Result<_>>()?
                    }
                }
                "hetero" | "shards" => {
                    spec.hetero = items.iter().map(|h| h.parse()).collect::<Result<_>>()?
                }
                "seeds" => {
                    let bad = || {
                        Error::invalid(
                            "grid seeds",
                            list,
                            format!(
                                "a count N in 1..={MAX_GRID_SEEDS} (seeds 0..N) or a range A..B, 0 < B - A <= {MAX_GRID_SEEDS}"
                            ),
                        )
                    };
                    let (a, b) = match list.split_once("..") {
                        Some((a, b)) => (
                            a.parse::<u64>().map_err(|_| bad())?,
                            b.parse::<u64>().map_err(|_| bad())?,
                        ),
                        None => (0, list.parse::<u64>().map_err(|_| bad())?),
                    };
                    if a >= b || b - a > MAX_GRID_SEEDS {
                        return Err(bad());
                    }
                    spec.seeds = (a..b).collect();
                }
                _ => {
                    return Err(Error::invalid(
                        "grid",
                        key,
                        "unknown key: rules, attacks, hetero or seeds",
                    ));
                }
            }
        }
        if spec.rules.is_empty() {
            return Err(Error::invalid("grid", s, "name the rules: rules=cwmed,krum,..."));
        }
        Ok(spec)
    }
}

/// A CSV field, quoted if it holds a comma or a quote.
fn field(s: &str) -> String {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The fields of one CSV line (quotes as [`field`] writes them).
fn fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

impl GridRow {
    /// The CSV line (without the newline).
    pub fn to_line(&self) -> String {
        format!(
            "{},{},{},{},{},{}",
            field(&self.rule),
            field(&self.attack),
            field(&self.hetero),
            self.seed,
            self.result.final_accuracy,
            self.result.aggregation_seconds_per_update
        )
    }

    /// Parses a CSV line; None if it is not a complete row (an interrupted write).
    pub fn parse(line: &str) -> Option<GridRow> {
        let f = fields(line);
        if f.len() != 6 {
            return None;
        }
        Some(GridRow {
            rule: f[0].clone(),
            attack: f[1].clone(),
            hetero: f[2].clone(),
            seed: f[3].parse().ok()?,
            result: CellResult {
                final_accuracy: f[4].parse().ok()?,
                aggregation_seconds_per_update: f[5].parse().ok()?,
            },
        })
    }

    fn key(&self) -> (String, String, String, u64) {
        (
            self.rule.clone(),
            self.attack.clone(),
            self.hetero.clone(),
            self.seed,
        )
    }
}

/// Reads a grid CSV: its complete rows (a last line cut by an interruption is dropped).
/// Err if the file exists with another header.
pub fn read_grid_csv(path: &Path) -> Result<Vec<GridRow>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            });
        }
    };
    let mut lines = text.lines();
    match lines.next() {
        None => return Ok(Vec::new()),
        Some(h) if h == GRID_HEADER => {}
        Some(h) => {
            return Err(Error::invalid(
                "out",
                path.display(),
                format!("exists and is not a grid CSV (header {h:?}); pick another file"),
            ));
        }
    }
    Ok(lines.filter_map(GridRow::parse).collect())
}

/// Progress of a grid run, reported after every cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridProgress {
    /// Cells finished in this run.
    pub done: usize,
    /// Cells this run has to do.
    pub todo: usize,
    /// Cells skipped because the CSV already had them.
    pub skipped: usize,
}

/// Runs every cell of `spec` not yet in the CSV at `csv`, `jobs` at a time, appending each
/// finished cell's row at once (so an interruption loses at most the cells in flight), and
/// returns every row of the spec (old and new). `progress` is called with the state before the
/// first cell and after each one. The first failing cell stops the grid and is the error.
pub fn run_grid(
    spec: &GridSpec,
    csv: &Path,
    jobs: usize,
    run_cell: &(dyn Fn(&Cell) -> Result<CellResult> + Sync),
    progress: &(dyn Fn(GridProgress) + Sync),
) -> Result<Vec<GridRow>> {
    if jobs == 0 {
        return Err(Error::invalid("jobs", 0, "need at least one"));
    }
    let old = read_grid_csv(csv)?;
    // Rewrite what was complete, so that appending starts on a fresh line.
    let mut text = format!("{GRID_HEADER}\n");
    for r in &old {
        text.push_str(&r.to_line());
        text.push('\n');
    }
    crate::output::write_atomic(csv, text.as_bytes())?;
    let have: HashSet<_> = old.iter().map(GridRow::key).collect();
    let cells = spec.cells();
    let todo: Vec<&Cell> = cells.iter().filter(|c| !have.contains(&c.key())).collect();
    let skipped = cells.len() - todo.len();
    progress(GridProgress {
        done: 0,
        todo: todo.len(),
        skipped,
    });
    let io_err = |e: std::io::Error| Error::Io {
        path: csv.display().to_string(),
        message: e.to_string(),
    };
    let file = Mutex::new(OpenOptions::new().append(true).open(csv).map_err(io_err)?);
    let (next, done, stop) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicBool::new(false));
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let fresh: Mutex<Vec<GridRow>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(todo.len()) {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(cell) = todo.get(k) else { break };
                    let outcome = run_cell(cell).and_then(|result| {
                        let (rule, attack, hetero, seed) = cell.key();
                        let row = GridRow {
                            rule,
                            attack,
                            hetero,
                            seed,
                            result,
                        };
                        let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
                        writeln!(f, "{}", row.to_line())
                            .and_then(|_| f.flush())
                            .map_err(io_err)?;
                        drop(f);
                        fresh.lock().unwrap_or_else(|p| p.into_inner()).push(row);
                        Ok(())
                    });
                    match outcome {
                        Ok(()) => progress(GridProgress {
                            done: done.fetch_add(1, Ordering::Relaxed) + 1,
                            todo: todo.len(),
                            skipped,
                        }),
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            first_error
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let keys: HashSet<_> = cells.iter().map(Cell::key).collect();
    let mut rows: Vec<GridRow> = old.into_iter().filter(|r| keys.contains(&r.key())).collect();
    rows.extend(fresh.into_inner().unwrap_or_else(|p| p.into_inner()));
    Ok(rows)
}

/// One heterogeneity's heat map: rules x attacks of mean final accuracy over seeds, the worst
/// (lowest) mean over attacks per rule, and the mean aggregation seconds per update per rule.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatMap {
    /// The heterogeneity.
    pub hetero: String,
    /// Row labels.
    pub rules: Vec<String>,
    /// Column labels.
    pub attacks: Vec<String>,
    /// `accuracy[r][a]`: mean over the seeds present (NaN where no seed ran).
    pub accuracy: Vec<Vec<f64>>,
    /// `seeds_run[r][a]`: how many of the spec's seeds the mean is over.
    pub seeds_run: Vec<Vec<usize>>,
    /// The spec's seed count: a cell with fewer seeds run is partial.
    pub seeds: usize,
    /// Per rule, the minimum over attacks of the mean accuracy.
    pub worst: Vec<f64>,
    /// Per rule, the mean aggregation seconds per update over all its cells.
    pub seconds_per_update: Vec<f64>,
}

/// The heat maps of `rows`, one per heterogeneity, rows and columns in `spec`'s order.
pub fn heat_maps(spec: &GridSpec, rows: &[GridRow]) -> Vec<HeatMap> {
    let rules: Vec<String> = spec.rules.iter().map(Rule::to_string).collect();
    let attacks: Vec<String> = spec.attacks.iter().map(Attack::to_string).collect();
    spec.hetero
        .iter()
        .map(|h| {
            let hetero = h.to_string();
            let mut acc: BTreeMap<(usize, usize), Vec<f64>> = BTreeMap::new();
            let mut secs: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
            for r in rows.iter().filter(|r| r.hetero == hetero) {
                let (Some(i), Some(j)) = (
                    rules.iter().position(|x| *x == r.rule),
                    attacks.iter().position(|x| *x == r.attack),
                ) else {
                    continue;
                };
                acc.entry((i, j)).or_default().push(r.result.final_accuracy);
                secs.entry(i)
                    .or_default()
                    .push(r.result.aggregation_seconds_per_update);
            }
            let mean = |v: Option<&Vec<f64>>| v.map_or(f64::NAN, |v| v.iter().sum::<f64>() / v.len() as f64);
            let accuracy: Vec<Vec<f64>> = (0..rules.len())
                .map(|i| (0..attacks.len()).map(|j| mean(acc.get(&(i, j)))).collect())
                .collect();
            let seeds_run = (0..rules.len())
                .map(|i| {
                    (0..attacks.len())
                        .map(|j| acc.get(&(i, j)).map_or(0, Vec::len))
                        .collect()
                })
                .collect();
            let worst = accuracy
                .iter()
                .map(|row| {
                    row.iter()
                        .copied()
                        .filter(|x| !x.is_nan())
                        .fold(f64::NAN, f64::min)
                })
                .collect();
            HeatMap {
                hetero,
                rules: rules.clone(),
                attacks: attacks.clone(),
                accuracy,
                seeds_run,
                seeds: spec.seeds.len(),
                worst,
                seconds_per_update: (0..rules.len()).map(|i| mean(secs.get(&i))).collect(),
            }
        })
        .collect()
}
