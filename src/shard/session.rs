//! The protocol step by step, for a transport that lives outside Rust: a [`Session`] runs one
//! holder's rule on a thread of its own and stops at each round, handing out the holder's
//! partial and waiting for the combined sum. The Python package drives it over
//! `torch.distributed`; any host loop can.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::protocol::{Combine, Holder};
use crate::aggregate::{Report, execute};
use crate::batch::Batch;
use crate::cpu::Cpu;
use crate::error::{Error, Result};
use crate::rule::{ByzantineShare, Rule};

/// Where a [`Session`] stands after [`Session::step`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SessionStep {
    /// A round: this holder's partial (`n x n`, `n` or 1 doubles). Gather every holder's
    /// partial of the round, add them with [`super::sum_in_order`] (holder order), and hand
    /// the sum to [`Session::deliver`].
    Partial(Vec<f64>),
    /// The rule finished: this holder's coordinates of the result, and the rule's report
    /// (the same on every holder).
    Done(Vec<f32>, Report),
}

/// What the rule's thread sends to the session.
enum FromRule {
    Partial(Vec<f64>),
    Done(Result<(Vec<f32>, Report)>),
}

/// One holder's aggregation, run step by step (see the module docs). The holder's part of
/// the batch is `n` rows of its `d_h` coordinates, on the CPU backend.
///
/// # Examples
///
/// Two holders driven by one loop (in a real deployment each host runs its own session and
/// the sum travels over the network):
///
/// ```
/// use byzagg::shard::{Session, SessionStep, sum_in_order};
///
/// // Four rows of four coordinates; holder 0 has coordinates 0..2, holder 1 has 2..4.
/// let rows = [[0.0f32; 4], [1.0; 4], [2.0; 4], [90.0; 4]];
/// let part = |r: std::ops::Range<usize>| rows.iter().flat_map(|row| row[r.clone()].to_vec()).collect();
/// let rule: byzagg::Rule = "ctma(cwmed,lambda=0.25)".parse()?;
/// let mut holders = [
///     Session::start(rule.clone(), None, part(0..2), 4, None)?,
///     Session::start(rule, None, part(2..4), 4, None)?,
/// ];
/// let mut rounds = 0;
/// let result: Vec<f32> = loop {
///     let steps = [holders[0].step()?, holders[1].step()?];
///     match steps {
///         [SessionStep::Partial(a), SessionStep::Partial(b)] => {
///             rounds += 1;
///             let sum = sum_in_order(&[a, b])?;
///             holders.iter_mut().try_for_each(|h| h.deliver(sum.clone()))?;
///         }
///         [SessionStep::Done(a, _), SessionStep::Done(b, _)] => break [a, b].concat(),
///         _ => unreachable!("every holder takes the same steps"),
///     }
/// };
/// assert_eq!(rounds, 1); // ctma(cwmed): one round of n distances
/// assert_eq!(result, vec![1.0; 4]); // the three rows nearest the median, 90 left out
/// # Ok::<(), byzagg::Error>(())
/// ```
pub struct Session {
    to_rule: Option<SyncSender<Vec<f64>>>,
    from_rule: Receiver<FromRule>,
    thread: Option<JoinHandle<()>>,
    awaiting_sum: Option<usize>,
    done: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("awaiting_sum", &self.awaiting_sum)
            .field("done", &self.done)
            .finish()
    }
}

/// The transport of a session's rule thread: a partial out, the sum back.
struct Channel {
    out: SyncSender<FromRule>,
    back: Receiver<Vec<f64>>,
}

impl Combine for Channel {
    fn all_sum(&self, partial: Vec<f64>) -> Result<Vec<f64>> {
        let len = partial.len();
        let gone = || Error::invalid("session", "dropped", "the session ended before the rule finished");
        self.out.send(FromRule::Partial(partial)).map_err(|_| gone())?;
        let sum = self.back.recv().map_err(|_| gone())?;
        debug_assert_eq!(sum.len(), len, "Session::deliver checks the length");
        Ok(sum)
    }
}

impl Session {
    /// Starts `rule` (with `share` where it leaves the Byzantine share out) on this holder's
    /// part of the batch: `slice` holds `n` rows of this holder's coordinates, row-major;
    /// `weights` the `n` row weights (`None`: uniform). Every holder must start the same
    /// rule with the same `n`, share and weights. Errors in the rule or the shapes come
    /// here, before any round.
    pub fn start(
        rule: Rule,
        share: Option<ByzantineShare>,
        slice: Vec<f32>,
        n: usize,
        weights: Option<Vec<f64>>,
    ) -> Result<Self> {
        // Validate on this thread, so a bad call is an error here and not a dead session.
        let plan = {
            let mut batch = Batch::from_contiguous(&slice, n)?;
            if let Some(w) = &weights {
                batch = batch.with_weights(w)?;
            }
            let plan = rule.plan(n, share)?;
            plan.check_memory(n, batch.d())?;
            plan
        };
        let (to_rule, back) = sync_channel(1);
        let (out, from_rule) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("byzagg-shard-session".into())
            .spawn(move || {
                let done_out = out.clone();
                let run = || -> Result<(Vec<f32>, Report)> {
                    let mut batch = Batch::from_contiguous(&slice, n)?;
                    if let Some(w) = &weights {
                        batch = batch.with_weights(w)?;
                    }
                    let holder = Holder::new(Cpu::new(), Channel { out, back });
                    let mut result = vec![0.0f32; batch.d()];
                    let mut report = Report::default();
                    execute(&holder, &plan, &batch, &mut result, &mut report)?;
                    Ok((result, report))
                };
                let _ = done_out.send(FromRule::Done(run()));
            })
            .map_err(|e| Error::invalid("session", "no thread", format!("cannot start its thread: {e}")))?;
        Ok(Session {
            to_rule: Some(to_rule),
            from_rule,
            thread: Some(thread),
            awaiting_sum: None,
            done: false,
        })
    }

    /// Runs the rule to its next round (or its end) and says which.
    pub fn step(&mut self) -> Result<SessionStep> {
        if let Some(len) = self.awaiting_sum {
            return Err(Error::invalid(
                "session",
                "a round open",
                format!("deliver the sum of this round ({len} values) before the next step"),
            ));
        }
        if self.done {
            return Err(Error::invalid(
                "session",
                "finished",
                "the rule has already returned its result",
            ));
        }
        match self.from_rule.recv() {
            Ok(FromRule::Partial(p)) => {
                self.awaiting_sum = Some(p.len());
                Ok(SessionStep::Partial(p))
            }
            Ok(FromRule::Done(result)) => {
                self.done = true;
                let (out, report) = result?;
                Ok(SessionStep::Done(out, report))
            }
            Err(_) => Err(Error::invalid(
                "session",
                "ended",
                "the rule's thread stopped without a result",
            )),
        }
    }

    /// Hands the combined sum of the open round to the rule.
    pub fn deliver(&mut self, sum: Vec<f64>) -> Result<()> {
        let Some(len) = self.awaiting_sum else {
            return Err(Error::invalid(
                "sum",
                "unexpected",
                "no round is open: call step first",
            ));
        };
        if sum.len() != len {
            return Err(Error::invalid(
                "sum",
                format!("{} values", sum.len()),
                format!("must have the partial's length, {len}"),
            ));
        }
        self.awaiting_sum = None;
        let ended = || Error::invalid("session", "ended", "the rule's thread stopped without a result");
        self.to_rule
            .as_ref()
            .ok_or_else(ended)?
            .send(sum)
            .map_err(|_| ended())
    }
}

impl Drop for Session {
    /// Ends the rule's thread: with its channel closed, a waiting round returns an error.
    fn drop(&mut self) {
        self.to_rule.take();
        // Close the way back too, so the thread's last send fails instead of blocking.
        if let Some(t) = self.thread.take() {
            drop(std::mem::replace(&mut self.from_rule, sync_channel(0).1));
            let _ = t.join();
        }
    }
}
