//! Wall-clock time spent in each stage of encoding or decoding.

use std::time::{Duration, Instant};

/// Time per pipeline stage, accumulated.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Timings {
    /// Analysis g_a and hyper-analysis h_a (Burn backend).
    pub analysis_ms: f64,
    /// Encoder-side latent refinement (`--refine`; autodiff on the CPU).
    #[serde(skip_serializing_if = "is_zero")]
    pub refine_ms: f64,
    /// Deterministic entropy-parameter path (h_s in ordered f32, scale indices).
    pub params_ms: f64,
    /// Entropy coding of ẑ and ŷ (encode or decode).
    pub entropy_ms: f64,
    /// Synthesis g_s (Burn backend).
    pub synthesis_ms: f64,
}

impl Timings {
    /// Run `f`, adding its duration to the stage `field` selects.
    pub fn time<T>(&mut self, field: fn(&mut Self) -> &mut f64, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        *field(self) += ms(start.elapsed());
        out
    }
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
