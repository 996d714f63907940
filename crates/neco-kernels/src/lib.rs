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

/// The arithmetic of the wide layers' matrix products (the Winograd-domain ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 operands and sums.
    #[default]
    F32,
    /// Operands rounded to bf16 (8 significant bits), products summed in f32, where
    /// the CPU has AVX-512 BF16 ([`level::Level::Avx512Bf16`]); f32 elsewhere. Twice
    /// the multiply-adds per instruction and half the kernel memory; in the Winograd
    /// domain the rounding is amplified to a few per cent of a layer's output (see
    /// the tests of [`winograd`]).
    Bf16,
}

impl Precision {
    /// The name `--precision` and the configuration files use.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }

    /// What the kernels run for `self` on this CPU: bf16 only where the level has it.
    pub fn effective(self) -> Precision {
        if self == Precision::Bf16 && level::level() >= level::Level::Avx512Bf16 {
            Precision::Bf16
        } else {
            Precision::F32
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Precision, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(format!("{s:?} is not a precision (f32 or bf16)")),
        }
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// `n` values uniform in [−1, 1), seeded.
    pub fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }
}
