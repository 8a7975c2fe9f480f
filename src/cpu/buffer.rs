//! Output buffers of the CPU backend, kept for the next call.
//!
//! ## Why
//!
//! A fresh vector of more than a few megabytes comes straight from `mmap`, and its first write
//! faults in every 4 KiB page, each zeroed by the kernel: 15 ms for 40 MB on one core of the
//! 2-core Zen 4 the benchmarks run on, as long as reading the 16 rows whose mean it holds
//! (`docs/PERFORMANCE.md`, "Output buffers"). A rule makes one to a few `d`-vectors per call
//! and drops them at its end, and a training server calls again with the same `d`, so the
//! matrices the backend computed ([`HostRows::Owned`](super::HostRows)) come back here when
//! dropped and the next one of about the same size rewrites warm pages instead (1.2 ms).
//!
//! At most [`KEPT`] buffers of at least [`MIN_LEN`] values are kept, process-wide (like a
//! caching allocator); [`release_buffers`] frees them. A taken buffer holds stale values: the
//! primitives write every value of their outputs, and [`zeros`] clears its own.

use std::sync::{Mutex, MutexGuard};

/// Buffers kept at most: a rule's output, its center and one spare.
const KEPT: usize = 4;
/// Smaller buffers come from the allocator's heap, not from `mmap`: nothing to gain.
pub(super) const MIN_LEN: usize = 1 << 18;

/// The kept buffers, most recently returned last.
static FREE: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// The free list; a panic while it was held leaves it valid (only pushes and removes).
fn free_list() -> MutexGuard<'static, Vec<Vec<f32>>> {
    FREE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A vector of `len` values of unspecified content: a kept buffer whose capacity is between
/// `len` and `2 len` if there is one, else a new one.
pub(super) fn take(len: usize) -> Vec<f32> {
    if len >= MIN_LEN {
        let mut free = free_list();
        if let Some(i) = free.iter().rposition(|b| (len..=2 * len).contains(&b.capacity())) {
            let mut buf = free.remove(i);
            drop(free);
            buf.resize(len, 0.0);
            return buf;
        }
    }
    vec![0.0; len]
}

/// A vector of `len` zeros, on a kept buffer if one fits.
pub(super) fn zeros(len: usize) -> Vec<f32> {
    let mut buf = take(len);
    buf.fill(0.0);
    buf
}

/// Keeps `buf` for a later [`take`], dropping the oldest kept buffer beyond [`KEPT`].
pub(super) fn give_back(buf: Vec<f32>) {
    if buf.capacity() < MIN_LEN {
        return;
    }
    let oldest = {
        let mut free = free_list();
        free.push(buf);
        (free.len() > KEPT).then(|| free.remove(0))
    };
    drop(oldest); // freed outside the lock
}

/// Frees the output buffers the CPU backend keeps for reuse (at most four, each the size of a
/// result it computed). For a long-lived process that is done aggregating large vectors.
///
/// ```
/// use byzagg::{Aggregator, Backend, Batch, Rule};
///
/// let rows = vec![1.0f32; 3 << 18];
/// let agg = Aggregator::new(Rule::CwMed, Backend::Cpu)?;
/// let median = agg.aggregate(&Batch::from_contiguous(&rows, 3)?)?;
/// assert_eq!(median.len(), 1 << 18);
/// byzagg::cpu::release_buffers(); // the median's working copy is freed, not kept
/// # Ok::<(), byzagg::Error>(())
/// ```
pub fn release_buffers() {
    let kept = std::mem::take(&mut *free_list());
    drop(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Other tests of the crate run in parallel and share the free list, so these only check
    /// what holds whatever they do: lengths, zeros, and that a kept buffer can come back.
    #[test]
    fn taken_buffers_have_the_asked_length() {
        for len in [0, 1, MIN_LEN - 1, MIN_LEN, 3 * MIN_LEN] {
            assert_eq!(take(len).len(), len);
            assert!(zeros(len).iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn a_returned_buffer_comes_back_resized() {
        let mut buf = vec![7.0f32; 2 * MIN_LEN];
        buf[0] = 1.5;
        let ptr = buf.as_ptr();
        give_back(buf);
        // Within a factor 2 of its capacity: reused unless another test took it first.
        let again = take(2 * MIN_LEN - 5);
        assert_eq!(again.len(), 2 * MIN_LEN - 5);
        if again.as_ptr() == ptr {
            assert_eq!(
                again[0], 1.5,
                "a reused buffer keeps its values until overwritten"
            );
        }
        let z = zeros(MIN_LEN + 1);
        assert!(z.iter().all(|&v| v == 0.0));
    }
}
