//! Exact ties for the CUDA distances (SPEC 3: ties go to the lower row index, as in the
//! reference, which rounds each distance once from its exact sum).
//!
//! The fast kernels (`pairwise_dist.cu`, `center_dist.cu`) sum in f32 and f64 in an order
//! that depends on where each coordinate falls, so two distances that are equal in exact
//! arithmetic (sign-like rows of +-s, as signSGD sends) can differ in their last bits and a
//! rule would then break their tie by that rounding, not by index. Here, after the fast pass:
//!
//! 1. [`near_ties`] finds the distances that lie within the fast kernel's error bound of
//!    another one (exact zeros are exact: a fast sum is 0 only when every difference is);
//! 2. [`exact_dists`] recomputes only those, on the device, with `kernels/exact_dist.cu`: every
//!    term as the reference forms it, added as an integer of 32-bit digits, and [`round_digits`]
//!    rounds the sum once to the nearest f64, so the result is the reference's value, bit for
//!    bit.
//!
//! Rows that are equal value for value (identical Byzantine rows) have the same distance to
//! everything: `pairwise_dist` finds them from its exact zeros and gives every pair of a class
//! its representative pair's value, and `center_dist` confirms bit-identical fast values with
//! [`rows_equal`] (a read of the two rows) before it recomputes one row per class, so
//! duplicated rows cost a comparison, not an exact sum each.

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::launch::{self, Footprint};
use super::rows::CudaRows;
use super::{Cuda, backend_err};
use crate::error::Result;

/// The kernel file.
pub(crate) const FILE: &str = "exact_dist.cu";
/// Its source, embedded.
pub(crate) const SOURCE: &str = include_str!("../../kernels/exact_dist.cu");
/// Exact digit sums per (pair, coordinate split).
const PARTIAL: &str = "exact_dist_partial";
/// Whether two rows differ anywhere.
const DIFFER: &str = "rows_differ";
/// Every entry point of [`SOURCE`].
pub(crate) const ENTRIES: [&str; 2] = [PARTIAL, DIFFER];

/// 32-bit digits of the integer (`EX_LIMBS`).
pub(crate) const LIMBS: usize = 21;
/// The integer's unit is 2^UNIT_EXP (a term's lowest bit is never below it).
const UNIT_EXP: i32 = -350;
/// Threads per block (`EX_THREADS`).
const THREADS: usize = 128;
/// Pairs per launch (grid y).
const BATCH: usize = 4096;
/// Most coordinates one block sums: its digits then stay below 2^63.
const MAX_SPAN: usize = 1 << 30;

/// The indices of `values` that lie within `rel` (relative to the larger) of another value
/// of the list, bit-identical ones included; 0 and non-finite values are never flagged (a
/// fast sum is 0 only when it is exactly 0, and a non-finite one is mapped to `+inf`).
pub(crate) fn near_ties(values: &[f64], rel: f64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len())
        .filter(|&i| values[i].is_finite() && values[i] > 0.0)
        .collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    let mut flagged = vec![false; values.len()];
    for w in order.windows(2) {
        let (lo, hi) = (values[w[0]], values[w[1]]);
        if hi - lo <= rel * hi {
            flagged[w[0]] = true;
            flagged[w[1]] = true;
        }
    }
    (0..values.len()).filter(|&i| flagged[i]).collect()
}

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

/// The exact squared distances of `pairs`: pair (i, j) is row i of `a` and row j of `b`, both
/// finite. One value per pair, each the reference's correctly rounded exact sum.
pub(crate) fn exact_dists(
    cuda: &Cuda,
    a: &CudaRows<'_>,
    b: &CudaRows<'_>,
    pairs: &[(usize, usize)],
) -> Result<Vec<f64>> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let d = a.d();
    let f = cuda.function(FILE, SOURCE, PARTIAL)?;
    let mut digits = vec![0u128; pairs.len() * LIMBS];
    for (c, batch) in pairs.chunks(BATCH).enumerate() {
        let (ua, ub) = (used(batch.iter().map(|p| p.0)), used(batch.iter().map(|p| p.1)));
        let staged =
            if a.is_on_device() { 0 } else { ua.len() } + if b.is_on_device() { 0 } else { ub.len() };
        let chunk = cuda.chunk_len(d, footprint(batch.len(), cuda.sm_count(), d, staged))?;
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
            let out = cuda
                .stream()
                .alloc_zeros::<u64>(batch.len() * splits.splits * LIMBS)
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
            // SAFETY: arguments match exact_dist_partial (pointer, pointer, u64, u64,
            // pointer). `a_ptr` and `b_ptr` hold batch.len() row pointers, each valid for
            // `len` floats; splits * span >= len with span <= 2^30; block (x, p) writes
            // out[(p * splits + x) * LIMBS + L], L < LIMBS, inside the buffer allocated.
            unsafe { launch.launch(cfg) }.map_err(backend_err)?;
            let host = cuda.stream().clone_dtoh(&out).map_err(backend_err)?;
            cuda.finish_chunk(None, j0, len, &mut keep)?;
            for (p, blocks) in host.chunks(splits.splits * LIMBS).enumerate() {
                let sum = &mut digits[(c * BATCH + p) * LIMBS..(c * BATCH + p + 1) * LIMBS];
                for block in blocks.chunks(LIMBS) {
                    for (s, v) in sum.iter_mut().zip(block) {
                        *s += u128::from(*v);
                    }
                }
            }
            drop((da, db, out));
            j0 += len;
        }
    }
    Ok(digits.chunks(LIMBS).map(round_digits).collect())
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

/// The relative error bound of a fast f64 sum of `d` squares (each rounded at most three
/// times, the sum at most d - 1 times: (d + 2) 2^-53), for both sides of a comparison, with
/// room to spare.
pub(crate) fn f64_sum_bound(d: usize) -> f64 {
    (d as f64 + 64.0) * 2f64.powi(-51)
}

/// Makes the `n x n` matrix `sums` (symmetric, non-finite entries already `+inf`) tie-exact:
/// rows at distance exactly 0 form classes whose pairs all take their representative pair's
/// value (the lowest indices), and the representative pairs within `rel` of another one are
/// recomputed exactly.
pub(crate) fn settle_pairwise(cuda: &Cuda, rows: &CudaRows<'_>, sums: &mut [f64], rel: f64) -> Result<()> {
    let n = rows.k();
    let (rep, flagged) = pairwise_ties(sums, n, rel);
    let exact = exact_dists(cuda, rows, rows, &flagged)?;
    for (&(i, j), v) in flagged.iter().zip(exact) {
        sums[i * n + j] = v;
    }
    spread_classes(sums, n, &rep);
    Ok(())
}

/// For [`settle_pairwise`]: each row's class representative (the lowest index at distance
/// exactly 0), and the representative pairs (i < j) whose distance lies within `rel` of
/// another representative pair's.
fn pairwise_ties(sums: &[f64], n: usize, rel: f64) -> (Vec<usize>, Vec<(usize, usize)>) {
    let rep: Vec<usize> = (0..n)
        .map(|i| (0..i).find(|&k| sums[k * n + i] == 0.0).unwrap_or(i))
        .collect();
    let reps: Vec<usize> = (0..n).filter(|&i| rep[i] == i).collect();
    let mut pairs = Vec::new();
    for (x, &i) in reps.iter().enumerate() {
        for &j in &reps[x + 1..] {
            pairs.push((i, j));
        }
    }
    let values: Vec<f64> = pairs.iter().map(|&(i, j)| sums[i * n + j]).collect();
    let flagged = near_ties(&values, rel).into_iter().map(|p| pairs[p]).collect();
    (rep, flagged)
}

/// Gives every off-diagonal pair its representatives' value (upper triangle), both triangles.
fn spread_classes(sums: &mut [f64], n: usize, rep: &[usize]) {
    for i in 0..n {
        for j in 0..n {
            let (a, b) = (rep[i].min(rep[j]), rep[i].max(rep[j]));
            if i != j && a != b {
                sums[i * n + j] = sums[a * n + b];
            }
        }
    }
}

/// Makes the `n` distances `sums` from the rows to `center` (non-finite ones already `+inf`)
/// tie-exact: rows whose fast values are bit-identical are compared, and those found equal
/// value for value share their first row's value; the first rows that still lie within `rel`
/// of another one are recomputed exactly.
pub(crate) fn settle_center(
    cuda: &Cuda,
    rows: &CudaRows<'_>,
    center: &CudaRows<'_>,
    sums: &mut [f64],
    rel: f64,
) -> Result<()> {
    let flagged = near_ties(sums, rel);
    if flagged.is_empty() {
        return Ok(());
    }
    // Candidates for equality: a flagged row and the first flagged row of the same fast value.
    let first = |i: usize| {
        *flagged
            .iter()
            .find(|&&k| sums[k].to_bits() == sums[i].to_bits())
            .unwrap_or(&i)
    };
    let candidates: Vec<(usize, usize)> = flagged
        .iter()
        .map(|&i| (first(i), i))
        .filter(|(k, i)| k != i)
        .collect();
    let equal = rows_equal(cuda, rows, rows, &candidates)?;
    let mut rep: Vec<usize> = (0..sums.len()).collect();
    for (&(k, i), eq) in candidates.iter().zip(equal) {
        if eq {
            rep[i] = k;
        }
    }
    // Copies confirmed equal tie exactly already: only the classes' representatives that
    // still lie near another representative's distance are recomputed.
    let reps: Vec<usize> = flagged.iter().copied().filter(|&i| rep[i] == i).collect();
    let rep_values: Vec<f64> = reps.iter().map(|&i| sums[i]).collect();
    let own: Vec<(usize, usize)> = near_ties(&rep_values, rel)
        .into_iter()
        .map(|x| (reps[x], 0))
        .collect();
    let exact = exact_dists(cuda, rows, center, &own)?;
    for (&(i, _), v) in own.iter().zip(exact) {
        sums[i] = v;
    }
    for &i in &flagged {
        sums[i] = sums[rep[i]];
    }
    Ok(())
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

/// What [`exact_dists`] allocates per chunk for a batch of `pairs` pairs of a `d`-coordinate
/// matrix, `staged` rows copied from the host.
fn footprint(pairs: usize, sm_count: usize, d: usize, staged: usize) -> Footprint {
    let splits = (sm_count * 8).div_ceil(pairs).max(d.div_ceil(MAX_SPAN)) + 1;
    Footprint {
        fixed: 8usize
            .saturating_mul(LIMBS)
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
    fn near_ties_flag_neighbours_within_the_bound_only() {
        let v = [
            4.0,
            4.0 * (1.0 + 1e-7),
            5.0,
            0.0,
            0.0,
            f64::INFINITY,
            f64::INFINITY,
            9.0,
            9.0,
        ];
        assert_eq!(near_ties(&v, 1e-6), vec![0, 1, 7, 8]);
        assert_eq!(near_ties(&v, 1e-8), vec![7, 8]);
        assert!(near_ties(&[1.0, 2.0, 3.0], 1e-6).is_empty());
    }

    #[test]
    fn equal_rows_share_their_representatives_distances_and_near_ties_are_flagged() {
        // Rows 0 and 2 are equal (distance exactly 0); row 2's fast distances carry other
        // rounding. Representatives 0, 1, 3: d01 and d03 are within 1e-6, d13 is apart.
        let e = 1e-9;
        #[rustfmt::skip]
        let mut sums = vec![
            0.0, 5.0,             0.0, 5.0 * (1.0 + 1e-7),
            5.0, 0.0,             5.0 * (1.0 + e), 9.0,
            0.0, 5.0 * (1.0 + e), 0.0, 5.0 * (1.0 + 2.0 * e),
            5.0 * (1.0 + 1e-7), 9.0, 5.0 * (1.0 + 2.0 * e), 0.0,
        ];
        let (rep, flagged) = pairwise_ties(&sums, 4, 1e-6);
        assert_eq!(rep, [0, 1, 0, 3]);
        assert_eq!(flagged, [(0, 1), (0, 3)]);
        spread_classes(&mut sums, 4, &rep);
        assert_eq!(sums[2 * 4 + 1], 5.0);
        assert_eq!(sums[4 + 2], 5.0);
        assert_eq!(sums[3 * 4 + 2], 5.0 * (1.0 + 1e-7));
        assert_eq!(sums[2 * 4], 0.0);
        // A non-finite row stays its own class at +inf.
        let inf = f64::INFINITY;
        let sums = vec![0.0, inf, inf, inf];
        assert_eq!(pairwise_ties(&sums, 2, 1e-6), (vec![0, 1], vec![]));
    }
}
