//! Exact squared distances on the device for the few that the fast kernels cannot order, and
//! the bound on the fast kernels' error that says which ones those are: the CUDA side of
//! [`Kernels::dist_error`], [`Kernels::refined_dist_error`], [`Kernels::exact_pair_dist`] and
//! [`Kernels::exact_center_dist`].
//!
//! ## Why
//!
//! The fast kernels (`pairwise_dist.cu`, `center_dist.cu`) sum in f32 and f64 in an order
//! that depends on where each coordinate falls, so two distances that are equal in exact
//! arithmetic (sign-like rows of +-s, as signSGD sends) can differ in their last bits, and a
//! rule would then pick another row than the reference, which breaks exact ties by row index
//! (SPEC 3). As on the CPU, the rules take the fast values, and where a selection's boundary
//! (Krum's best score, Multi-Krum's m-th, NNM's and CTMA's last kept row) lies among values
//! closer together than [`fast_bound`] allows, ask for the exact distances of just those rows
//! (`aggregate/exact_ties.rs`). Random rows almost never have such a run.
//!
//! ## The exact value
//!
//! [`pair_dists`] with `exact = true` runs `kernels/exact_dist.cu`'s `exact_dist_partial`:
//! every term as the reference forms it, added as an integer of 32-bit digits, and
//! [`round_digits`] rounds the sum once to the nearest f64, so the result is the reference's
//! value, bit for bit. With `exact = false`, `refined_dist_partial` adds the same terms in
//! f64 ([`refined_bound`]): the same reads for less arithmetic, enough to separate every pair
//! of distances that is not nearly tied (Krum asks for it first). A pair touching a row with
//! NaN or an infinity is `+inf` (the kernels count its non-finite terms).
//!
//! [`Kernels::dist_error`]: crate::Kernels::dist_error
//! [`Kernels::refined_dist_error`]: crate::Kernels::refined_dist_error
//! [`Kernels::exact_pair_dist`]: crate::Kernels::exact_pair_dist
//! [`Kernels::exact_center_dist`]: crate::Kernels::exact_center_dist

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::launch::{self, Footprint};
use super::rows::CudaRows;
use super::variant::PairwiseVariant;
use super::{Cuda, backend_err};
use crate::error::Result;

/// The kernel file.
pub(crate) const FILE: &str = "exact_dist.cu";
/// Its source, embedded.
pub(crate) const SOURCE: &str = include_str!("../../kernels/exact_dist.cu");
/// Exact digit sums per (pair, coordinate split).
const PARTIAL: &str = "exact_dist_partial";
/// f64 sums per (pair, coordinate split): the refinement.
const REFINED: &str = "refined_dist_partial";
/// Whether two rows differ anywhere.
const DIFFER: &str = "rows_differ";
/// Every entry point of [`SOURCE`].
pub(crate) const ENTRIES: [&str; 3] = [PARTIAL, REFINED, DIFFER];

/// 32-bit digits of the integer (`EX_LIMBS`).
pub(crate) const LIMBS: usize = 21;
/// What `exact_dist_partial` writes per block (`EX_SLOTS`): the digits, then the count of
/// non-finite terms.
pub(crate) const SLOTS: usize = LIMBS + 1;
/// What `refined_dist_partial` writes per block: the f64 sum and the count of non-finite
/// terms (an f64).
const REFINED_SLOTS: usize = 2;
/// The integer's unit is 2^UNIT_EXP (a term's lowest bit is never below it).
const UNIT_EXP: i32 = -350;
/// Threads per block (`EX_THREADS`).
const THREADS: usize = 128;
/// Pairs per launch (grid y).
const BATCH: usize = 4096;
/// Most coordinates one block sums: its digits then stay below 2^63.
const MAX_SPAN: usize = 1 << 30;

/// The nearest f64 (ties to even) to `sum(digits[L] 2^(32 L)) * 2^UNIT_EXP`, each digit any
/// u128 (the carries are propagated here).
pub(crate) fn round_digits(digits: &[u128]) -> f64 {
    let mut d32: Vec<u32> = Vec::with_capacity(digits.len() + 4);
    let mut carry: u128 = 0;
    for &v in digits {
        let t = carry + (v & 0xffff_ffff);
        d32.push(t as u32);
        carry = (t >> 32) + (v >> 32);
    }
    while carry > 0 {
        d32.push(carry as u32);
        carry >>= 32;
    }
    let Some(top) = d32.iter().rposition(|&x| x != 0) else {
        return 0.0;
    };
    let bit = |i: usize| (d32[i / 32] >> (i % 32)) & 1 == 1;
    let p = top * 32 + (31 - d32[top].leading_zeros() as usize);
    let mut shift = p.saturating_sub(52);
    let mut mant: u64 = 0;
    for i in (shift..=p).rev() {
        mant = (mant << 1) | u64::from(bit(i));
    }
    if shift > 0 {
        let half = bit(shift - 1);
        let sticky = (0..shift - 1).any(bit);
        if half && (sticky || mant & 1 == 1) {
            mant += 1;
            if mant == 1 << 53 {
                mant >>= 1;
                shift += 1;
            }
        }
    }
    // mant < 2^53 converts exactly; the power of two is normal (|exponent| < 1022) and the
    // product stays below 2^320: exact.
    let e = UNIT_EXP + shift as i32;
    mant as f64 * f64::from_bits(((e + 1023) as u64) << 52)
}

/// A pair's exact distance from its [`SLOTS`] summed over the blocks: `+inf` where a term was
/// not finite, else the digits rounded once.
pub(crate) fn exact_value(slots: &[u128]) -> f64 {
    if slots[LIMBS] != 0 {
        f64::INFINITY
    } else {
        round_digits(&slots[..LIMBS])
    }
}

/// f32's unit roundoff.
const U32: f64 = 1.0 / (1u64 << 24) as f64;
/// f64's unit roundoff.
const U64: f64 = 1.0 / (1u64 << 53) as f64;

/// `gamma_k = k u / (1 - k u)`: the relative error of a value that passed `k` roundings of
/// relative size `u` (Higham, Accuracy and Stability of Numerical Algorithms, lemma 3.1).
fn gamma(k: f64, u: f64) -> f64 {
    k * u / (1.0 - k * u)
}

/// A rigorous bound on the relative error of the CUDA backend's fast squared distances of two
/// finite rows of `d` coordinates (`pairwise_dist` with the `pairwise` kernel variant, and
/// `center_dist`, either variant) against the exact real sum `S`, plus 2^-52 (two sums that
/// the reference rounds to one f64 lie within 2^-52 of each other): [`Kernels::dist_error`].
///
/// The derivation. Every term is `>= 0`, so a value that reached the sum through at most `k`
/// roundings of relative size `u` is within `gamma_k` of its exact value, and so is the sum
/// (Higham, lemma 3.1; the sum of exact zeros is exact, and adding an exact 0 rounds nothing).
///
/// - `pairwise_dist.cu`'s lane sums, f32 with fused multiply-adds: a term passes the
///   difference `x - y` (counted twice in its square) and the fma that adds it, then the
///   fmas after it in its lane: `2 + K` roundings of `2^-24`, `K` the lane's coordinates
///   between f64 flushes: 16 for `registers`, 64 for `deferred` and `tiled` (32 tiles of 2
///   coordinates). An fma whose result falls below f32's normal range errs by at most 2^-150
///   instead (a difference that falls there is exact): at most `K 2^-150` per lane. Where that
///   could matter the lane is redone: `registers` redoes inline, in f64, each lane sum below
///   1e-30 (> 2^-100; the `K = 16` others are then within `16 2^-150 / 2^-100 < 2^-46`), and
///   `deferred` and `tiled` leave to the host every pair whose whole sum is below `d 2^-100`
///   (recomputed exactly here), so the others are within `d 2^-150 / (d 2^-100) < 2^-49`. The
///   `registers` f64 redo (3 roundings of `2^-53` per term, at most 15 additions) is far
///   inside its f32 bound. `tiled`'s second pass over overflowed pairs scales the rows by a
///   power of two (exact unless a scaled value falls below f32's normal range: an error of at
///   most `2^-148 sqrt(d S)`, under `2^-98 S` since the pass keeps sums of at least
///   `d 2^-100`) and scales the sum back exactly: inside the `2^-49` too.
/// - Then f64: the lane sums are added by shuffles, per-step and per-warp sums, the splits'
///   reduce kernel and the host's sum over chunks. On any leaf's way to the total, each
///   addition that rounds joins a disjoint set of non-zero lane sums, each holding at least
///   one coordinate, so it passes fewer than `d` roundings of `2^-53`.
/// - `center_dist.cu` (both variants) forms each term in f64: the difference (counted twice)
///   and the square rounded, or the square fused into the addition; the additions in threads,
///   shuffles, warps, splits and chunks are again fewer than `d`: `gamma_(d + 2)` of
///   `2^-53`. No f64 square of an f32 difference overflows or underflows.
///
/// The pairwise bound is `lane + f64 + lane f64`; the result is the larger of it and the
/// center bound, plus 2^-52. (For `d = 10^8`: about `1.1e-6` with `registers`, `3.9e-6`
/// with `deferred` and `tiled`.)
///
/// [`Kernels::dist_error`]: crate::Kernels::dist_error
pub(crate) fn fast_bound(pairwise: PairwiseVariant, d: usize) -> f64 {
    let lane = match pairwise {
        PairwiseVariant::Registers => gamma(2.0 + 16.0, U32) + 2f64.powi(-46),
        PairwiseVariant::Deferred | PairwiseVariant::Tiled => gamma(2.0 + 64.0, U32) + 2f64.powi(-49),
    };
    let adds = gamma(d as f64, U64);
    let pairwise = lane + adds + lane * adds;
    let center = gamma(d as f64 + 2.0, U64);
    pairwise.max(center) + 2f64.powi(-52)
}

/// The relative bound of [`pair_dists`] with `exact = false` (`refined_dist_partial`): each
/// term passes 3 roundings of `2^-53` (the difference twice in its square), then fewer than
/// `d` additions (each thread's in order, the block's tree, the host's sum over blocks and
/// chunks: as in [`fast_bound`], each rounding addition on a term's way joins another
/// non-zero term): `gamma_(d + 2)`, plus 2^-52 as [`fast_bound`].
pub(crate) fn refined_bound(d: usize) -> f64 {
    gamma(d as f64 + 2.0, U64) + 2f64.powi(-52)
}

/// The squared distances of `pairs`: pair (i, j) is row i of `a` and row j of `b`. With
/// `exact`, each the reference's correctly rounded exact sum, bit for bit; otherwise within
/// [`refined_bound`] of it. `+inf` for a pair touching a row with NaN or an infinity. The
/// caller checks that the indices are rows of `a` and `b`.
pub(crate) fn pair_dists(
    cuda: &Cuda,
    a: &CudaRows<'_>,
    b: &CudaRows<'_>,
    pairs: &[(usize, usize)],
    exact: bool,
) -> Result<Vec<f64>> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let d = a.d();
    let slots = if exact { SLOTS } else { REFINED_SLOTS };
    let f = cuda.function(FILE, SOURCE, if exact { PARTIAL } else { REFINED })?;
    // Per pair: the digits and the non-finite count (exact), or the f64 sum and the count.
    let mut digits = vec![0u128; if exact { pairs.len() * SLOTS } else { 0 }];
    let mut sums = vec![(0.0f64, 0.0f64); if exact { 0 } else { pairs.len() }];
    for (c, batch) in pairs.chunks(BATCH).enumerate() {
        let (ua, ub) = (used(batch.iter().map(|p| p.0)), used(batch.iter().map(|p| p.1)));
        let staged =
            if a.is_on_device() { 0 } else { ua.len() } + if b.is_on_device() { 0 } else { ub.len() };
        let chunk = cuda.chunk_len(d, footprint(batch.len(), cuda.sm_count(), d, staged, slots))?;
        let mut keep = Vec::new();
        let mut j0 = 0;
        while j0 < d {
            let len = chunk.min(d - j0);
            let pa = cuda.chunk_ptrs(a, Some(&ua), j0, len, &mut keep)?;
            let pb = cuda.chunk_ptrs(b, Some(&ub), j0, len, &mut keep)?;
            let at = |list: &[usize], ptrs: &[u64], row: usize| ptrs[list.binary_search(&row).unwrap_or(0)];
            let (ptr_a, ptr_b): (Vec<u64>, Vec<u64>) = batch
                .iter()
                .map(|&(i, j)| (at(&ua, &pa, i), at(&ub, &pb, j)))
                .unzip();
            let (da, db) = (cuda.to_device(&ptr_a)?, cuda.to_device(&ptr_b)?);
            let splits = grid(batch.len(), len, cuda.sm_count());
            // u64 slots for both kernels: the refined one writes f64 bits into them.
            let out = cuda
                .stream()
                .alloc_zeros::<u64>(batch.len() * splits.splits * slots)
                .map_err(backend_err)?;
            let (a_ptr, b_ptr, out_ptr) = (cuda.address(&da), cuda.address(&db), cuda.address(&out));
            let (len64, span64) = (len as u64, splits.span as u64);
            let mut launch = cuda.stream().launch_builder(&f);
            launch
                .arg(&a_ptr)
                .arg(&b_ptr)
                .arg(&len64)
                .arg(&span64)
                .arg(&out_ptr);
            let cfg = LaunchConfig {
                grid_dim: (splits.splits as u32, batch.len() as u32, 1),
                block_dim: (THREADS as u32, 1, 1),
                shared_mem_bytes: 0,
            };
            // SAFETY: arguments match exact_dist_partial and refined_dist_partial (pointer,
            // pointer, u64, u64, pointer). `a_ptr` and `b_ptr` hold batch.len() row pointers,
            // each valid for `len` floats; splits * span >= len with span <= 2^30; block
            // (x, p) writes out[(p * splits + x) * slots + L], L < slots (EX_SLOTS or 2),
            // inside the buffer of 8-byte values allocated.
            unsafe { launch.launch(cfg) }.map_err(backend_err)?;
            let host = cuda.stream().clone_dtoh(&out).map_err(backend_err)?;
            cuda.finish_chunk(None, j0, len, &mut keep)?;
            for (p, blocks) in host.chunks(splits.splits * slots).enumerate() {
                let q = c * BATCH + p;
                if exact {
                    let sum = &mut digits[q * SLOTS..(q + 1) * SLOTS];
                    for block in blocks.chunks(SLOTS) {
                        for (s, v) in sum.iter_mut().zip(block) {
                            *s += u128::from(*v);
                        }
                    }
                } else {
                    for block in blocks.chunks(REFINED_SLOTS) {
                        sums[q].0 += f64::from_bits(block[0]);
                        sums[q].1 += f64::from_bits(block[1]);
                    }
                }
            }
            drop((da, db, out));
            j0 += len;
        }
    }
    Ok(if exact {
        digits.chunks(SLOTS).map(exact_value).collect()
    } else {
        sums.into_iter()
            .map(|(s, bad)| if bad != 0.0 { f64::INFINITY } else { s })
            .collect()
    })
}

/// For each pair (i, j), whether row i of `a` equals row j of `b` value for value (0 and -0
/// equal, as their distances to anything are). Rows equal in this sense have the same
/// distance to every point.
pub(crate) fn rows_equal(
    cuda: &Cuda,
    a: &CudaRows<'_>,
    b: &CudaRows<'_>,
    pairs: &[(usize, usize)],
) -> Result<Vec<bool>> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let d = a.d();
    let f = cuda.function(FILE, SOURCE, DIFFER)?;
    let mut differ = vec![false; pairs.len()];
    for (c, batch) in pairs.chunks(BATCH).enumerate() {
        let (ua, ub) = (used(batch.iter().map(|p| p.0)), used(batch.iter().map(|p| p.1)));
        let staged =
            if a.is_on_device() { 0 } else { ua.len() } + if b.is_on_device() { 0 } else { ub.len() };
        let fp = Footprint {
            fixed: 20 * batch.len(),
            per_coord: 4 * staged,
        };
        let chunk = cuda.chunk_len(d, fp)?;
        let mut keep = Vec::new();
        let mut j0 = 0;
        while j0 < d {
            let len = chunk.min(d - j0);
            let pa = cuda.chunk_ptrs(a, Some(&ua), j0, len, &mut keep)?;
            let pb = cuda.chunk_ptrs(b, Some(&ub), j0, len, &mut keep)?;
            let at = |list: &[usize], ptrs: &[u64], row: usize| ptrs[list.binary_search(&row).unwrap_or(0)];
            let (ptr_a, ptr_b): (Vec<u64>, Vec<u64>) = batch
                .iter()
                .map(|&(i, j)| (at(&ua, &pa, i), at(&ub, &pb, j)))
                .unzip();
            let (da, db) = (cuda.to_device(&ptr_a)?, cuda.to_device(&ptr_b)?);
            let out = cuda
                .stream()
                .alloc_zeros::<i32>(batch.len())
                .map_err(backend_err)?;
            let (a_ptr, b_ptr, out_ptr) = (cuda.address(&da), cuda.address(&db), cuda.address(&out));
            let len64 = len as u64;
            let blocks = len
                .div_ceil(THREADS * 4)
                .min((cuda.sm_count() * 8).div_ceil(batch.len()))
                .max(1);
            let mut launch = cuda.stream().launch_builder(&f);
            launch.arg(&a_ptr).arg(&b_ptr).arg(&len64).arg(&out_ptr);
            let cfg = LaunchConfig {
                grid_dim: (blocks as u32, batch.len() as u32, 1),
                block_dim: (THREADS as u32, 1, 1),
                shared_mem_bytes: 0,
            };
            // SAFETY: arguments match rows_differ (pointer, pointer, u64, pointer): batch.len()
            // row pointers on each side, each valid for `len` floats; block (x, p) writes only
            // out[p], p < batch.len(), the i32s allocated.
            unsafe { launch.launch(cfg) }.map_err(backend_err)?;
            let host = cuda.stream().clone_dtoh(&out).map_err(backend_err)?;
            cuda.finish_chunk(None, j0, len, &mut keep)?;
            for (p, v) in host.iter().enumerate() {
                differ[c * BATCH + p] |= *v != 0;
            }
            drop((da, db, out));
            j0 += len;
        }
    }
    Ok(differ.into_iter().map(|x| !x).collect())
}

/// The distinct rows named, ascending (staged once each).
fn used(rows: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut v: Vec<usize> = rows.collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Splits of a chunk of `len` coordinates for `pairs` pairs: about eight blocks per
/// multiprocessor in all, no block over [`MAX_SPAN`] coordinates.
fn grid(pairs: usize, len: usize, sm_count: usize) -> launch::Splits {
    let wanted = (sm_count * 8).div_ceil(pairs).max(len.div_ceil(MAX_SPAN));
    launch::split(len, THREADS, wanted)
}

/// What [`pair_dists`] allocates per chunk for a batch of `pairs` pairs of a `d`-coordinate
/// matrix, `staged` rows copied from the host, `slots` 8-byte values per block.
fn footprint(pairs: usize, sm_count: usize, d: usize, staged: usize, slots: usize) -> Footprint {
    let splits = (sm_count * 8).div_ceil(pairs).max(d.div_ceil(MAX_SPAN)) + 1;
    Footprint {
        fixed: 8usize
            .saturating_mul(slots)
            .saturating_mul(pairs)
            .saturating_mul(splits)
            .saturating_add(16 * pairs),
        per_coord: 4 * staged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A term added as the kernel adds it.
    fn add(digits: &mut [u128], sq: f64) {
        if sq == 0.0 {
            return;
        }
        let bits = sq.to_bits();
        let e = (bits >> 52) as i32;
        let m = (bits & ((1 << 52) - 1)) | (1 << 52);
        let s = (e - 725) as usize;
        let (k, o) = (s / 32, s % 32);
        let low = m << o;
        digits[k] += u128::from(low & 0xffff_ffff);
        digits[k + 1] += u128::from(low >> 32);
        digits[k + 2] += if o == 0 { 0 } else { u128::from(m >> (64 - o)) };
    }

    fn sum(terms: &[f64]) -> f64 {
        let mut d = vec![0u128; LIMBS];
        terms.iter().for_each(|&t| add(&mut d, t));
        round_digits(&d)
    }

    #[test]
    fn digit_sums_round_once_to_nearest_even() {
        let p = |e: i32| 2f64.powi(e);
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(sum(&[3.0, 4.0]), 7.0);
        // Exactly half an ulp of 1: to even (1); a hair more: up.
        assert_eq!(sum(&[1.0, p(-53)]), 1.0);
        assert_eq!(sum(&[1.0, p(-53), p(-200)]), 1.0 + p(-52));
        assert_eq!(sum(&[1.0 + p(-52), p(-53)]), 1.0 + 2.0 * p(-52));
        // Order does not matter, and cancellation-free sums of tiny and huge terms are exact.
        assert_eq!(sum(&[p(-298), p(258), p(-298)]), p(258));
        assert_eq!(sum(&[p(-298); 3]), 3.0 * p(-298));
        let terms: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).exp() % 1e9 + 1e-3).collect();
        let mut rev = terms.clone();
        rev.reverse();
        assert_eq!(sum(&terms), sum(&rev));
        // Ten copies of an awkward value: the sum rounded once, not ten times.
        let q = 0.1f64 * 0.1;
        let exact = sum(&[q; 10]);
        assert!((exact - 10.0 * q).abs() <= 10.0 * q * f64::EPSILON);
        // The carry out of a full digit.
        let mut d = vec![0u128; LIMBS];
        d[0] = u128::MAX >> 28;
        assert!(round_digits(&d) > 0.0);
    }

    #[test]
    fn the_fast_bound_covers_each_kernel_and_grows_with_d() {
        use PairwiseVariant::*;
        let u32 = 2f64.powi(-24);
        // The f32 lanes dominate: 18 and 66 roundings of 2^-24.
        assert!(fast_bound(Registers, 1) > 18.0 * u32 && fast_bound(Registers, 1) < 19.0 * u32);
        for v in [Deferred, Tiled] {
            assert!(fast_bound(v, 1000) > 66.0 * u32 && fast_bound(v, 1000) < 67.0 * u32);
        }
        assert!(fast_bound(Registers, 100_000_000) > fast_bound(Registers, 1000));
        // The refinement is far tighter than any fast kernel at every d a row can have.
        for d in [1, 1000, 1 << 30] {
            assert!(refined_bound(d) < fast_bound(Registers, d) / 4.0, "{d}");
        }
        assert!(refined_bound(1) > 2f64.powi(-52));
    }
}
