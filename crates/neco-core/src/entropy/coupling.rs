//! Inter-channel coupling: the multivariate Gaussian model of ŷ.
//!
//! The channels of y are split into groups of `d` consecutive channels. At every
//! position a group is modelled as N(μ, LLᵀ), with L lower-triangular: its diagonal is
//! the scales σ of the hyper-synthesis, its strictly-lower entries come from
//! `M·(d − 1)/2` extra output channels. The group is coded by the chain rule as `d`
//! scalar Gaussians: channel `k` has scale σ_k and the conditional mean
//!
//! ```text
//! m_k = μ_k + Σ_{j<k} L_kj · ε_j        ε_j = (ŷ_j − m_j) / max(σ_j, SCALE_MIN)
//! ```
//!
//! where ŷ_j = Δ·symbol_j + snap(m_j) is channel j's reconstruction. The scale — and so
//! the table — of every symbol is known from ẑ alone, so the ŷ substreams still decode
//! in parallel with no context model; only the means, and with them the
//! reconstruction, need the symbols of the group's earlier channels. That pass is
//! cheap, runs in parallel over groups, and uses only ordered f32 `+ − × ÷` (sums in
//! index order), so it is bit-exact on every machine.
//!
//! With all strictly-lower entries zero the model is exactly the diagonal one.

use rayon::prelude::*;

use super::gaussian::SCALE_MIN;
use super::hyper::snap_mean;
use crate::{NecoError, Result};

/// Largest group size a weights file may ask for.
pub const MAX_GROUP: usize = 8;

/// Strictly-lower entries of L per group of `d` channels.
pub fn lower_per_group(d: usize) -> usize {
    d * d.saturating_sub(1) / 2
}

/// Output channels of a hyper-synthesis for `m` latent channels in groups of `d`:
/// `m` scales, `m` means, then `m/d · d(d−1)/2` strictly-lower entries of L.
pub fn hyper_channels(m: usize, d: usize) -> usize {
    2 * m + m / d * lower_per_group(d)
}

/// Latent channels M of a hyper-synthesis with `out_ch` outputs and groups of `d`
/// (`None` when no M fits: `out_ch = M·(d + 3)/2` with `d` dividing M).
pub fn latent_channels(out_ch: usize, d: usize) -> Option<usize> {
    let m = (2 * out_ch).checked_div(d + 3)?;
    (m > 0 && m.is_multiple_of(d) && hyper_channels(m, d) == out_ch).then_some(m)
}

/// The per-element quantities that couple the channels of a group (see the module
/// documentation), taken from the hyper-synthesis output.
#[derive(Debug, Clone, PartialEq)]
pub struct Coupling {
    group: usize,
    plane: usize,
    /// max(σ, SCALE_MIN) in latent units, `M` planes.
    scales: Vec<f32>,
    /// Unconditional means μ (not snapped), `M` planes.
    base: Vec<f32>,
    /// L_kj for j < k: group g's entry (k, j) is plane `g·d(d−1)/2 + k(k−1)/2 + j`.
    lower: Vec<f32>,
}

impl Coupling {
    /// Takes the scales (latent units, not divided by the step), means and strictly
    /// lower entries of L from one hyper-synthesis output of `m` channels in groups of
    /// `d`, with `plane` elements per channel.
    pub fn new(hs: &[f32], m: usize, d: usize, plane: usize) -> Result<Coupling> {
        if !(2..=MAX_GROUP).contains(&d)
            || !m.is_multiple_of(d)
            || hs.len() != hyper_channels(m, d) * plane
        {
            return Err(NecoError::InvalidArgument(format!(
                "coupling of {m} channels in groups of {d}: {} parameter values for planes \
                 of {plane}",
                hs.len()
            )));
        }
        let (scales, rest) = hs.split_at(m * plane);
        let (base, lower) = rest.split_at(m * plane);
        let floor = SCALE_MIN;
        Ok(Coupling {
            group: d,
            plane,
            // `!(s >= floor)` also catches NaN.
            scales: scales
                .iter()
                .map(|&s| if s >= floor { s } else { floor })
                .collect(),
            base: base.to_vec(),
            lower: lower.to_vec(),
        })
    }

    /// Channels per group.
    pub fn group(&self) -> usize {
        self.group
    }

    /// Conditional means (snapped) of every element, given the ŷ symbols at step Δ.
    ///
    /// Errors when `symbols` or `means` do not have one value per element.
    pub fn condition(&self, symbols: &[i32], step: f32, means: &mut [f32]) -> Result<()> {
        self.check_len(symbols.len())?;
        self.check_len(means.len())?;
        let block = self.group * self.plane;
        crate::float_mode::deterministic(|| {
            means
                .par_chunks_mut(block)
                .zip(symbols.par_chunks(block))
                .enumerate()
                .for_each(|(g, (m, s))| self.run_group(g, step, m, |i, _| s[i]))
        });
        Ok(())
    }

    /// Encoder side: the symbols `round_symbol((y − m)/Δ)` and the conditional means
    /// of every element, channel by channel within each group.
    pub fn quantize(
        &self,
        y: &[f32],
        step: f32,
        round_symbol: fn(f32) -> i32,
        symbols: &mut [i32],
        means: &mut [f32],
    ) -> Result<()> {
        self.check_len(y.len())?;
        self.check_len(symbols.len())?;
        self.check_len(means.len())?;
        let block = self.group * self.plane;
        crate::float_mode::deterministic(|| {
            means
                .par_chunks_mut(block)
                .zip(symbols.par_chunks_mut(block))
                .zip(y.par_chunks(block))
                .enumerate()
                .for_each(|(g, ((m, s), y))| {
                    self.run_group(g, step, m, |i, mean| {
                        s[i] = round_symbol((y[i] - mean) / step);
                        s[i]
                    })
                })
        });
        Ok(())
    }

    fn check_len(&self, len: usize) -> Result<()> {
        if len != self.scales.len() {
            return Err(NecoError::InvalidArgument(format!(
                "coupling expects {} latent values, got {len}",
                self.scales.len()
            )));
        }
        Ok(())
    }

    /// Walks group `g` position by position, channel by channel: `means` (the group's
    /// `d` planes) receives the snapped conditional means; `symbol(i, mean)` gives the
    /// symbol of element `i` of the group's planes, coded around `mean`.
    fn run_group(
        &self,
        g: usize,
        step: f32,
        means: &mut [f32],
        mut symbol: impl FnMut(usize, f32) -> i32,
    ) {
        let (d, plane) = (self.group, self.plane);
        let first = g * d * plane;
        let lower_first = g * lower_per_group(d) * plane;
        let mut eps = [0.0f32; MAX_GROUP];
        for p in 0..plane {
            for k in 0..d {
                let i = k * plane + p;
                let mut m = self.base[first + i];
                let row = lower_first + lower_per_group(k) * plane;
                for (j, e) in eps.iter().enumerate().take(k) {
                    m += self.lower[row + j * plane + p] * e;
                }
                let m = clean_mean(m);
                let snapped = snap_mean(m);
                means[i] = snapped;
                let y_hat = symbol(i, snapped) as f32 * step + snapped;
                eps[k] = (y_hat - m) / self.scales[first + i];
            }
        }
    }
}

/// NaN → 0, and within the range symbols can reach.
fn clean_mean(m: f32) -> f32 {
    let lim = super::MAX_ABS_SYMBOL as f32;
    if m.is_nan() {
        0.0
    } else {
        m.clamp(-lim, lim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_counts() {
        assert_eq!(hyper_channels(96, 4), 192 + 24 * 6);
        assert_eq!(latent_channels(336, 4), Some(96));
        assert_eq!(latent_channels(240, 2), Some(96));
        assert_eq!(latent_channels(241, 2), None);
        assert_eq!(latent_channels(0, 2), None);
    }

    /// One group of 2 channels at one position: m_1 = μ_1 + L_10·(ŷ_0 − μ_0)/σ_0.
    #[test]
    fn second_channel_is_predicted_from_the_first() {
        // σ = (2, 1), μ = (0.5, −1), L_10 = 4.
        let c = Coupling::new(&[2.0, 1.0, 0.5, -1.0, 4.0], 2, 2, 1).unwrap();
        let y = [4.6, 1.2];
        let (mut sym, mut means) = ([0; 2], [0.0; 2]);
        c.quantize(&y, 0.5, |v| v.round() as i32, &mut sym, &mut means)
            .unwrap();
        // Channel 0: round((4.6 − 0.5)/0.5) = 8, ŷ_0 = 4.5, ε_0 = 2, m_1 = −1 + 8 = 7.
        assert_eq!(means, [0.5, 7.0]);
        assert_eq!(sym, [8, -12]);
        let mut decoded = [0.0; 2];
        c.condition(&sym, 0.5, &mut decoded).unwrap();
        assert_eq!(decoded, means);
    }

    #[test]
    fn zero_coupling_is_the_diagonal_model() {
        let (m, d, plane) = (4, 4, 3);
        let mut hs: Vec<f32> = (0..2 * m * plane).map(|i| i as f32 * 0.37 - 2.0).collect();
        hs.resize(hyper_channels(m, d) * plane, 0.0);
        let c = Coupling::new(&hs, m, d, plane).unwrap();
        let mut means = vec![0.0; m * plane];
        c.condition(&vec![5; m * plane], 1.0, &mut means).unwrap();
        let expect: Vec<f32> = hs[m * plane..2 * m * plane]
            .iter()
            .map(|&v| snap_mean(v))
            .collect();
        assert_eq!(means, expect);
    }

    #[test]
    fn hostile_values_stay_finite() {
        let c = Coupling::new(&[f32::NAN, 0.0, f32::INFINITY, 0.0, f32::MAX], 2, 2, 1).unwrap();
        let mut means = [0.0; 2];
        c.condition(&[1 << 24, -(1 << 24)], 4.0, &mut means)
            .unwrap();
        assert!(means.iter().all(|m| m.is_finite()), "{means:?}");
        assert!(Coupling::new(&[0.0; 5], 2, 3, 1).is_err());
        assert!(c.condition(&[0; 3], 1.0, &mut means).is_err());
    }
}
