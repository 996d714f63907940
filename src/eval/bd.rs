//! Bjøntegaard delta rate and delta quality (VCEG-M33, with the piecewise-cubic
//! interpolation of VCEG-AL22 / JVET-K0491 instead of the original cubic fit).
//!
//! BD-rate: the mean difference of log-rate between two curves, over the quality range
//! both cover, as a percentage (negative = the test codec needs fewer bits).
//! BD-quality: the mean difference of quality over the log-rate range both cover.
//! Each curve is interpolated with a monotone piecewise-cubic Hermite (PCHIP,
//! Fritsch–Carlson derivatives as in SciPy's `PchipInterpolator`) and the integrals
//! are exact.

/// A rate–quality curve: bits per pixel and a quality in dB (PSNR or MS-SSIM dB).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RdSample {
    /// Rate in bits per pixel (> 0).
    pub bpp: f64,
    /// Quality in dB.
    pub quality: f64,
}

/// Why a BD number could not be computed.
#[derive(Debug, Clone, PartialEq)]
pub enum BdError {
    /// A curve has fewer than two distinct points.
    TooFewPoints,
    /// A rate is not a positive finite number, or a quality is not finite.
    BadSample,
    /// The two curves do not overlap on the integration axis.
    NoOverlap,
    /// A curve's quality does not rise with its rate (or one rate has two qualities):
    /// the two BD numbers would integrate different curves.
    NotMonotone,
}

impl std::fmt::Display for BdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BdError::TooFewPoints => "a curve has fewer than two distinct points",
            BdError::BadSample => "a curve has a non-positive rate or a non-finite quality",
            BdError::NoOverlap => "the curves do not overlap",
            BdError::NotMonotone => "a curve's quality does not rise with its rate",
        })
    }
}

impl std::error::Error for BdError {}

/// BD-rate of `test` against `anchor` in percent, and the overlapping quality range
/// (in dB) the average was taken over.
pub fn bd_rate(anchor: &[RdSample], test: &[RdSample]) -> Result<(f64, [f64; 2]), BdError> {
    let a = axes(anchor, |s| (s.quality, s.bpp.log10()))?;
    let t = axes(test, |s| (s.quality, s.bpp.log10()))?;
    let (mean_diff, range) = mean_difference(&a, &t)?;
    Ok(((10f64.powf(mean_diff) - 1.0) * 100.0, range))
}

/// BD-quality (BD-PSNR when the quality is PSNR) of `test` against `anchor` in dB, and
/// the overlapping bpp range the average was taken over.
pub fn bd_quality(anchor: &[RdSample], test: &[RdSample]) -> Result<(f64, [f64; 2]), BdError> {
    let a = axes(anchor, |s| (s.bpp.log10(), s.quality))?;
    let t = axes(test, |s| (s.bpp.log10(), s.quality))?;
    let (mean_diff, [lo, hi]) = mean_difference(&a, &t)?;
    Ok((mean_diff, [10f64.powf(lo), 10f64.powf(hi)]))
}

/// Points sorted by x with duplicates of x merged (their y averaged). The curve must
/// be monotone: by rate, each point better than the one before, or the same point
/// again (two qualities of a codec may give the same stream).
fn axes(
    curve: &[RdSample],
    f: impl Fn(&RdSample) -> (f64, f64),
) -> Result<Vec<(f64, f64)>, BdError> {
    if curve
        .iter()
        .any(|s| !(s.bpp > 0.0 && s.bpp.is_finite() && s.quality.is_finite()))
    {
        return Err(BdError::BadSample);
    }
    let mut by_rate: Vec<(f64, f64)> = curve.iter().map(|s| (s.bpp, s.quality)).collect();
    by_rate.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.total_cmp(&q.1)));
    by_rate.dedup();
    if by_rate
        .windows(2)
        .any(|w| !(w[1].0 > w[0].0 && w[1].1 > w[0].1))
    {
        return Err(BdError::NotMonotone);
    }
    let mut pts: Vec<(f64, f64)> = curve.iter().map(f).collect();
    pts.sort_by(|p, q| p.0.total_cmp(&q.0));
    let mut merged: Vec<(f64, f64, usize)> = Vec::new();
    for (x, y) in pts {
        match merged.last_mut() {
            Some(last) if last.0 == x => {
                last.1 += y;
                last.2 += 1;
            }
            _ => merged.push((x, y, 1)),
        }
    }
    if merged.len() < 2 {
        return Err(BdError::TooFewPoints);
    }
    Ok(merged
        .into_iter()
        .map(|(x, y, n)| (x, y / n as f64))
        .collect())
}

/// Mean of (test − anchor) over the common x range.
fn mean_difference(a: &[(f64, f64)], t: &[(f64, f64)]) -> Result<(f64, [f64; 2]), BdError> {
    let lo = a[0].0.max(t[0].0);
    let hi = a[a.len() - 1].0.min(t[t.len() - 1].0);
    if hi <= lo {
        return Err(BdError::NoOverlap);
    }
    let diff = Pchip::new(t).integral(lo, hi) - Pchip::new(a).integral(lo, hi);
    Ok((diff / (hi - lo), [lo, hi]))
}

/// A monotone piecewise-cubic Hermite interpolant.
pub struct Pchip {
    x: Vec<f64>,
    y: Vec<f64>,
    d: Vec<f64>,
}

impl Pchip {
    /// Interpolant through `pts` (x strictly increasing, at least two points).
    pub fn new(pts: &[(f64, f64)]) -> Self {
        let n = pts.len();
        assert!(n >= 2, "PCHIP needs two points");
        let x: Vec<f64> = pts.iter().map(|p| p.0).collect();
        let y: Vec<f64> = pts.iter().map(|p| p.1).collect();
        let h: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
        let delta: Vec<f64> = (0..n - 1).map(|k| (y[k + 1] - y[k]) / h[k]).collect();
        let mut d = vec![0.0; n];
        if n == 2 {
            d = vec![delta[0]; 2];
        } else {
            for k in 1..n - 1 {
                let (d0, d1) = (delta[k - 1], delta[k]);
                if d0 == 0.0 || d1 == 0.0 || d0.signum() != d1.signum() {
                    d[k] = 0.0;
                } else {
                    let w1 = 2.0 * h[k] + h[k - 1];
                    let w2 = h[k] + 2.0 * h[k - 1];
                    d[k] = (w1 + w2) / (w1 / d0 + w2 / d1);
                }
            }
            d[0] = edge_slope(h[0], h[1], delta[0], delta[1]);
            d[n - 1] = edge_slope(h[n - 2], h[n - 3], delta[n - 2], delta[n - 3]);
        }
        Pchip { x, y, d }
    }

    /// Value at `x` (extrapolates the end cubics outside the knots).
    pub fn eval(&self, x: f64) -> f64 {
        let k = self.segment(x);
        let h = self.x[k + 1] - self.x[k];
        let t = (x - self.x[k]) / h;
        let (t2, t3) = (t * t, t * t * t);
        (2.0 * t3 - 3.0 * t2 + 1.0) * self.y[k]
            + (t3 - 2.0 * t2 + t) * h * self.d[k]
            + (-2.0 * t3 + 3.0 * t2) * self.y[k + 1]
            + (t3 - t2) * h * self.d[k + 1]
    }

    /// Exact integral over [a, b] (a ≤ b, within the knots).
    pub fn integral(&self, a: f64, b: f64) -> f64 {
        let mut total = 0.0;
        for k in 0..self.x.len() - 1 {
            let (x0, x1) = (self.x[k], self.x[k + 1]);
            let (lo, hi) = (a.max(x0), b.min(x1));
            if hi > lo {
                let h = x1 - x0;
                total += h
                    * (self.antiderivative(k, (hi - x0) / h)
                        - self.antiderivative(k, (lo - x0) / h));
            }
        }
        total
    }

    /// ∫₀ᵗ of segment k's cubic in its local coordinate t ∈ [0, 1].
    fn antiderivative(&self, k: usize, t: f64) -> f64 {
        let h = self.x[k + 1] - self.x[k];
        let (t2, t3, t4) = (t * t, t * t * t, t * t * t * t);
        (t4 / 2.0 - t3 + t) * self.y[k]
            + (t4 / 4.0 - 2.0 * t3 / 3.0 + t2 / 2.0) * h * self.d[k]
            + (-t4 / 2.0 + t3) * self.y[k + 1]
            + (t4 / 4.0 - t3 / 3.0) * h * self.d[k + 1]
    }

    fn segment(&self, x: f64) -> usize {
        let last = self.x.len() - 2;
        self.x[1..=last].iter().take_while(|&&k| k <= x).count()
    }
}

/// SciPy's one-sided three-point end slope, kept shape-preserving.
fn edge_slope(h0: f64, h1: f64, m0: f64, m1: f64) -> f64 {
    let d = ((2.0 * h0 + h1) * m0 - h0 * m1) / (h0 + h1);
    if d.signum() != m0.signum() {
        0.0
    } else if m0.signum() != m1.signum() && d.abs() > 3.0 * m0.abs() {
        3.0 * m0
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(points: &[(f64, f64)]) -> Vec<RdSample> {
        points
            .iter()
            .map(|&(bpp, quality)| RdSample { bpp, quality })
            .collect()
    }

    /// A realistic anchor: JPEG on Kodak (CompressAI's published numbers, 5 points).
    fn anchor() -> Vec<RdSample> {
        curve(&[
            (0.221, 23.78),
            (0.423, 28.04),
            (0.729, 30.90),
            (1.127, 33.23),
            (2.35, 37.91),
        ])
    }

    #[test]
    fn same_curve_is_zero() {
        let (r, _) = bd_rate(&anchor(), &anchor()).unwrap();
        let (q, _) = bd_quality(&anchor(), &anchor()).unwrap();
        assert!(r.abs() < 1e-12 && q.abs() < 1e-12, "{r} {q}");
    }

    #[test]
    fn scaled_rate_gives_the_scale() {
        // Every point at 80 % of the anchor's rate: exactly −20 %, whatever the shape.
        let test: Vec<_> = anchor()
            .iter()
            .map(|s| RdSample {
                bpp: s.bpp * 0.8,
                ..*s
            })
            .collect();
        let (r, range) = bd_rate(&anchor(), &test).unwrap();
        assert!((r + 20.0).abs() < 1e-9, "{r}");
        assert_eq!(range, [23.78, 37.91]);
        let back = bd_rate(&test, &anchor()).unwrap().0;
        assert!((back - 25.0).abs() < 1e-9, "{back}");
    }

    #[test]
    fn shifted_quality_gives_the_shift() {
        let test: Vec<_> = anchor()
            .iter()
            .map(|s| RdSample {
                quality: s.quality + 1.5,
                ..*s
            })
            .collect();
        let (q, range) = bd_quality(&anchor(), &test).unwrap();
        assert!((q - 1.5).abs() < 1e-9, "{q}");
        assert!((range[0] - 0.221).abs() < 1e-12 && (range[1] - 2.35).abs() < 1e-12);
    }

    #[test]
    fn partial_overlap_of_straight_lines() {
        // log10(bpp) = 0.1·(Q − 30) for the anchor and 0.1·(Q − 30) − 0.05 for the test,
        // over different quality ranges: PCHIP reproduces straight lines, so the mean
        // log-rate gap is exactly −0.05 on the overlap [28, 36].
        let line = |qs: &[f64], off: f64| -> Vec<RdSample> {
            qs.iter()
                .map(|&q| RdSample {
                    bpp: 10f64.powf(0.1 * (q - 30.0) + off),
                    quality: q,
                })
                .collect()
        };
        let a = line(&[26.0, 30.0, 33.0, 36.0], 0.0);
        let t = line(&[28.0, 31.0, 35.0, 38.0, 40.0], -0.05);
        let (r, range) = bd_rate(&a, &t).unwrap();
        assert!((r - (10f64.powf(-0.05) - 1.0) * 100.0).abs() < 1e-9, "{r}");
        assert_eq!(range, [28.0, 36.0]);
    }

    #[test]
    fn matches_scipy_on_curved_data() {
        // Expected values from the `bjontegaard` 1.3.0 Python package (method "pchip",
        // SciPy 1.17), see scripts/check_bd.py: a learned-codec-like curve vs JPEG.
        let test = curve(&[
            (0.124, 27.70),
            (0.198, 29.36),
            (0.307, 31.13),
            (0.461, 32.95),
            (0.662, 34.97),
            (0.914, 36.91),
        ]);
        let (r, _) = bd_rate(&anchor(), &test).unwrap();
        let (q, _) = bd_quality(&anchor(), &test).unwrap();
        assert!((r - EXPECTED_RATE).abs() < 1e-6, "{r}");
        assert!((q - EXPECTED_PSNR).abs() < 1e-6, "{q}");
    }

    const EXPECTED_RATE: f64 = -59.492_347_066_319_36;
    const EXPECTED_PSNR: f64 = 4.821_758_197_252_064;

    #[test]
    fn pchip_interpolates_its_knots_and_stays_monotone() {
        let pts = [(0.0, 0.0), (1.0, 1.0), (2.0, 1.1), (4.0, 5.0)];
        let p = Pchip::new(&pts);
        for &(x, y) in &pts {
            assert!((p.eval(x) - y).abs() < 1e-12);
        }
        let mut prev = p.eval(0.0);
        for i in 1..=400 {
            let v = p.eval(i as f64 / 100.0);
            assert!(v >= prev - 1e-12, "not monotone at {i}");
            prev = v;
        }
        // Integral of the interpolant against a fine trapezoid sum.
        let n = 100_000;
        let trap: f64 = (0..n)
            .map(|i| {
                let (x0, x1) = (4.0 * i as f64 / n as f64, 4.0 * (i + 1) as f64 / n as f64);
                (p.eval(x0) + p.eval(x1)) / 2.0 * (x1 - x0)
            })
            .sum();
        assert!((p.integral(0.0, 4.0) - trap).abs() < 1e-8);
    }

    #[test]
    fn degenerate_curves_are_errors() {
        let one = curve(&[(0.5, 30.0)]);
        assert_eq!(bd_rate(&anchor(), &one), Err(BdError::TooFewPoints));
        let far = curve(&[(10.0, 50.0), (20.0, 55.0)]);
        assert_eq!(bd_rate(&anchor(), &far), Err(BdError::NoOverlap));
        let bad = curve(&[(0.0, 30.0), (1.0, 35.0)]);
        assert_eq!(bd_rate(&anchor(), &bad), Err(BdError::BadSample));
        // Quality that falls as the rate grows, or one rate with two qualities: the
        // two BD numbers would disagree in sign (they did: −10.8 % and −1.08 dB).
        let falls = curve(&[(0.1, 25.0), (0.2, 24.0), (0.4, 30.0), (0.8, 33.0)]);
        let two = curve(&[(0.1, 25.0), (0.1, 27.0), (0.4, 30.0), (0.8, 33.0)]);
        for c in [&falls, &two] {
            assert_eq!(bd_rate(&anchor(), c), Err(BdError::NotMonotone));
            assert_eq!(bd_quality(&anchor(), c), Err(BdError::NotMonotone));
        }
        // The same point twice is one point.
        let twice = curve(&[(0.1, 25.0), (0.1, 25.0), (0.4, 30.0), (0.8, 33.0)]);
        assert!(bd_rate(&anchor(), &twice).is_ok());
    }
}
