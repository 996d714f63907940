//! Deterministic fixed-point quantization of probability tables.
//!
//! Shared by the Gaussian tables ([`super::gaussian`]) and the factorized tables
//! ([`super::factorized`]). Only IEEE f64 `+`, `*`, `/`, comparisons and
//! float→int casts are used, in a fixed order, so the result is the same on every
//! machine.

use crate::{NecoError, Result};
use constriction::stream::model::ContiguousCategoricalEntropyModel;

/// Fixed-point precision (bits) of every probability table: each table sums to
/// exactly `1 << PRECISION`.
pub const PRECISION: usize = 16;

/// `1 << PRECISION`, the exact total of every quantized table.
pub const TOTAL: u32 = 1 << PRECISION;

/// The constriction model every table is turned into.
pub(crate) type Model = ContiguousCategoricalEntropyModel<u32, Vec<u32>, PRECISION>;

/// Quantizes nonnegative weights to fixed-point probabilities summing to exactly
/// [`TOTAL`], with every entry ≥ 1.
///
/// Rule (fully deterministic, ordered f64 arithmetic only):
/// 1. Weights that are NaN, negative or infinite count as 0; `p[i] = w[i] / total`
///    with `total` summed in index order (all-zero weights → uniform).
/// 2. `q_f[i] = max(1, floor(p[i] · f + 0.5))`; `f` is found by 64 bisection steps
///    on `[0, 2·TOTAL + n]` as the largest tested `f` with `Σ q_f ≤ TOTAL`.
///    (Rounding is monotone, so tables stay symmetric/unimodal when `p` is.)
/// 3. The small remainder `TOTAL − Σ q_f ≥ 0` (less than the largest jump of
///    `Σ q_f`, so usually 0 or 1) is added one unit at a time to the entries in
///    decreasing order of `p` (lowest index first on ties), cycling.
///
/// Errors with [`NecoError::InvalidArgument`] when `weights` has fewer than 2 or
/// more than `TOTAL` entries.
pub fn quantize_pmf(weights: &[f64]) -> Result<Vec<u32>> {
    let n = weights.len();
    if n < 2 || n > TOTAL as usize {
        return Err(NecoError::InvalidArgument(format!(
            "probability table has {n} entries, allowed 2..={TOTAL}"
        )));
    }
    let clean = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
    let mut total = 0.0f64;
    for &w in weights {
        total += clean(w);
    }
    let p: Vec<f64> = weights
        .iter()
        .map(|&w| {
            if total > 0.0 {
                clean(w) / total
            } else {
                1.0 / n as f64
            }
        })
        .collect();
    // `as u32` saturates, so huge products cannot wrap.
    let q_at = |f: f64, i: usize| ((p[i] * f + 0.5) as u32).max(1);
    let sum_at = |f: f64| (0..n).map(|i| q_at(f, i) as u64).sum::<u64>();
    let target = TOTAL as u64;
    let mut lo = 0.0f64; // sum_at(0) = n ≤ TOTAL
    let mut hi = 2.0 * TOTAL as f64 + n as f64; // sum_at(hi) > TOTAL
    for _ in 0..64 {
        let mid = 0.5 * (lo + hi);
        if sum_at(mid) <= target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let mut q: Vec<u32> = (0..n).map(|i| q_at(lo, i)).collect();
    let sum: u64 = q.iter().map(|&v| v as u64).sum();
    debug_assert!(sum <= target);
    let mut diff = target - sum;
    if diff > 0 {
        let mut order: Vec<usize> = (0..n).collect();
        // Stable sort by probability: ties keep index order.
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        let per_round = diff / n as u64;
        if per_round > 0 {
            for v in q.iter_mut() {
                *v += per_round as u32;
            }
            diff -= per_round * n as u64;
        }
        for &i in order.iter().take(diff as usize) {
            q[i] += 1;
        }
    }
    Ok(q)
}

/// Checks that `pmf` is a valid table: 2..=`max_len` entries, each ≥ 1, summing to
/// exactly [`TOTAL`]. Returns a description of the first problem.
pub(crate) fn check_pmf(pmf: &[u32], max_len: usize) -> std::result::Result<(), String> {
    if pmf.len() < 2 || pmf.len() > max_len {
        return Err(format!(
            "table has {} entries, allowed 2..={max_len}",
            pmf.len()
        ));
    }
    let mut sum = 0u64;
    for (i, &p) in pmf.iter().enumerate() {
        if p == 0 {
            return Err(format!("table entry {i} is 0, must be >= 1"));
        }
        sum += p as u64;
    }
    if sum != TOTAL as u64 {
        return Err(format!("table sums to {sum}, must be exactly {TOTAL}"));
    }
    Ok(())
}

/// Builds the constriction model of a table already checked with [`check_pmf`].
pub(crate) fn model_from_pmf(pmf: &[u32]) -> Result<Model> {
    Model::from_nonzero_fixed_point_probabilities(pmf, false)
        .map_err(|()| NecoError::InvalidArgument("invalid fixed-point probability table".into()))
}
