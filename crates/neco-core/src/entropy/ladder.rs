//! The rate ladder of a variable-rate model: per-rung, per-channel quantization steps
//! and reconstruction scales, interpolated so every quality 0..=100 has its own.
//!
//! Quality q sits at position p = q·(K − 1)/100 on a ladder of K rungs; the steps of
//! rung ⌊p⌋ and the next are mixed linearly, `a + f·(b − a)` with f = frac(p) computed
//! from integers. The steps pick the ŷ tables, so this is ordered f32 arithmetic with
//! no transcendental functions: every machine gets the same steps.

use crate::{NecoError, Result};

/// Most rungs a ladder may have.
pub const MAX_RUNGS: usize = 16;

/// Range of a rung's quantization steps and reconstruction scales: wider values are
/// not something training produces, and bound what a hostile file can ask for.
const VALUE_RANGE: std::ops::RangeInclusive<f32> = (1.0 / 256.0)..=256.0;

/// Steps and reconstruction scales of `rungs` rungs over `m` channels.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLadder {
    m: usize,
    /// Rung-major `[K·M]` quantization steps Δ.
    steps: Vec<f32>,
    /// Rung-major `[K·M]` scales applied to ŷ before the synthesis transform.
    recon: Vec<f32>,
}

impl RateLadder {
    /// A ladder from rung-major steps and reconstruction scales (`rungs·m` each).
    pub fn new(rungs: usize, m: usize, steps: Vec<f32>, recon: Vec<f32>) -> Result<Self> {
        if !(2..=MAX_RUNGS).contains(&rungs) || m == 0 {
            return Err(NecoError::BadWeights(format!(
                "rate ladder of {rungs} rungs over {m} channels (need 2..={MAX_RUNGS} rungs)"
            )));
        }
        if steps.len() != rungs * m || recon.len() != rungs * m {
            return Err(NecoError::BadWeights(format!(
                "rate ladder holds {} steps and {} scales, {rungs} rungs × {m} channels need {}",
                steps.len(),
                recon.len(),
                rungs * m
            )));
        }
        if let Some(v) = steps
            .iter()
            .chain(&recon)
            .find(|v| !VALUE_RANGE.contains(v))
        {
            return Err(NecoError::BadWeights(format!(
                "rate ladder value {v} outside {:?}",
                VALUE_RANGE
            )));
        }
        Ok(RateLadder { m, steps, recon })
    }

    /// Number of rungs.
    pub fn rungs(&self) -> usize {
        self.steps.len() / self.m
    }

    /// Channels per rung.
    pub fn channels(&self) -> usize {
        self.m
    }

    /// Rung-major steps, as stored.
    pub fn raw_steps(&self) -> &[f32] {
        &self.steps
    }

    /// Rung-major reconstruction scales, as stored.
    pub fn raw_recon(&self) -> &[f32] {
        &self.recon
    }

    /// Per-channel quantization steps at `quality` (0..=100; larger is clamped).
    pub fn steps(&self, quality: u8) -> Vec<f32> {
        self.at(&self.steps, quality)
    }

    /// Per-channel reconstruction scales at `quality`.
    pub fn recon(&self, quality: u8) -> Vec<f32> {
        self.at(&self.recon, quality)
    }

    fn at(&self, values: &[f32], quality: u8) -> Vec<f32> {
        let pos = u32::from(quality.min(100)) * (self.rungs() as u32 - 1);
        let (rung, frac) = ((pos / 100) as usize, (pos % 100) as f32 / 100.0);
        let row = |k: usize| &values[k * self.m..(k + 1) * self.m];
        if frac == 0.0 {
            return row(rung).to_vec();
        }
        row(rung)
            .iter()
            .zip(row(rung + 1))
            .map(|(&a, &b)| a + frac * (b - a))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ladder() -> RateLadder {
        // Three rungs over two channels.
        RateLadder::new(
            3,
            2,
            vec![4.0, 2.0, 1.0, 1.0, 0.25, 0.5],
            vec![1.0, 1.0, 1.5, 0.5, 1.0, 2.0],
        )
        .unwrap()
    }

    #[test]
    fn ends_are_the_first_and_last_rungs_and_the_middle_interpolates() {
        let l = ladder();
        assert_eq!(l.steps(0), vec![4.0, 2.0]);
        assert_eq!(l.steps(50), vec![1.0, 1.0]);
        assert_eq!(l.steps(100), vec![0.25, 0.5]);
        assert_eq!(l.steps(255), vec![0.25, 0.5]);
        assert_eq!(l.steps(25), vec![2.5, 1.5]);
        assert_eq!(l.recon(75), vec![1.25, 1.25]);
    }

    #[test]
    fn steps_fall_monotonically_between_falling_rungs() {
        let l = ladder();
        for q in 0..100u8 {
            let (a, b) = (l.steps(q), l.steps(q + 1));
            assert!(a.iter().zip(&b).all(|(a, b)| a >= b), "q={q}: {a:?} {b:?}");
        }
    }

    #[test]
    fn bad_shapes_and_values_are_refused() {
        assert!(RateLadder::new(1, 2, vec![1.0; 2], vec![1.0; 2]).is_err());
        assert!(RateLadder::new(17, 1, vec![1.0; 17], vec![1.0; 17]).is_err());
        assert!(RateLadder::new(2, 2, vec![1.0; 3], vec![1.0; 4]).is_err());
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY, 1000.0] {
            let err = RateLadder::new(2, 1, vec![1.0, bad], vec![1.0; 2]).unwrap_err();
            assert!(err.to_string().contains("outside"), "{err}");
        }
    }
}
