//! Quality → quantization step.
//!
//! The latent is quantized with step Δ(q): `ŷ = Δ·round((y − μ)/Δ) + μ`, coded with the
//! Gaussian table of scale σ/Δ. Δ(50) = 1 is the rate the weights were trained for;
//! lower quality coarsens the step, higher refines it. Δ decides which table codes
//! each symbol, so it is computed by ordered f32 multiplication, never `powf`.

/// Ratio between the steps of adjacent quality values.
const STEP_RATIO: f32 = 1.0277;

/// Highest quality value.
pub const MAX_QUALITY: u8 = 100;

/// The quantization step for quality `q` (0..=100; larger values are clamped).
///
/// `Δ(q) = STEP_RATIO^(50 − q)`: about 3.9 at q = 0, 1 at q = 50, 0.25 at q = 100.
pub fn quant_step(quality: u8) -> f32 {
    let q = quality.min(MAX_QUALITY) as i32;
    let mut step = 1.0f32;
    for _ in 0..(50 - q).unsigned_abs() {
        step *= STEP_RATIO;
    }
    if q > 50 {
        1.0 / step
    } else {
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_is_one_at_trained_quality_and_monotone() {
        assert_eq!(quant_step(50), 1.0);
        for q in 0..100 {
            assert!(quant_step(q) > quant_step(q + 1), "q={q}");
        }
        assert!((quant_step(0) - 3.92).abs() < 0.05, "{}", quant_step(0));
        assert!(
            (quant_step(100) - 0.255).abs() < 0.01,
            "{}",
            quant_step(100)
        );
        assert_eq!(quant_step(255), quant_step(100));
    }
}
