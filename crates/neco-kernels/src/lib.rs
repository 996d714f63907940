//! neco's CPU kernels for the float transforms g_a, h_a and g_s and their gradients.
//!
//! Plain slices in, plain slices out: no Burn. The model layer (`neco::model::cpu`)
//! builds these layers from Burn modules; the training loop runs their forward and
//! backward passes. The instruction set is chosen once per process ([`level`]), and
//! every kernel has a portable version that the SIMD ones are tested against.
//!
//! The results equal a direct convolution's up to float rounding (the sums run in
//! another order, Winograd's transforms scale values), which is all the codec needs:
//! the transforms are outside the bit-exact part of the format.

pub mod conv;
pub mod grad;
pub mod level;
pub mod matmul;
pub mod winograd;

#[cfg(test)]
pub(crate) mod test_util {
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// `n` values uniform in [−1, 1), seeded.
    pub fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// Largest |a − b| relative to the largest |b|.
    pub fn rel_err(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }
}
