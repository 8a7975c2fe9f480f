//! The timing loop: warm-up, then the job and the read pass interleaved run by run, medians.
//!
//! Interleaving matters on a shared machine: a neighbour's build that slows memory down
//! slows both halves of a pair alike, so the ratio of the medians stays meaningful when the
//! absolute times drift.

use std::time::Instant;

use crate::error::Result;

/// The runs of one job and of the read pass beside it, in seconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timings {
    /// Each timed run of the job.
    pub job: Vec<f64>,
    /// Each read pass, one after each job run.
    pub read_pass: Vec<f64>,
}

impl Timings {
    /// Median seconds of the job.
    pub fn job_median(&self) -> f64 {
        median(&self.job)
    }

    /// Median seconds of the read pass.
    pub fn read_pass_median(&self) -> f64 {
        median(&self.read_pass)
    }
}

/// Runs `job` `warmup` times untimed, then `runs` times timed, each timed run followed by a
/// timed `read`. The first error of `job` stops the loop and is returned.
pub fn measure(
    warmup: usize,
    runs: usize,
    mut read: impl FnMut(),
    mut job: impl FnMut() -> Result<()>,
) -> Result<Timings> {
    for _ in 0..warmup {
        job()?;
        read();
    }
    let mut t = Timings::default();
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        job()?;
        t.job.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        read();
        t.read_pass.push(start.elapsed().as_secs_f64());
    }
    Ok(t)
}

/// The median (the mean of the middle two for an even count); NaN for no values.
///
/// # Examples
///
/// ```
/// use byzagg::bench::median;
/// assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
/// ```
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}
