//! Burn modules: transforms, GDN, hyper networks, the temporal prior, entropy-model
//! training parts (the checkerboard context model among them), config.

pub mod config;
pub mod context;
pub mod cpu;
pub mod cpu_grad;
pub mod export;
pub mod factorized;
pub mod gaussian;
pub mod gdn;
pub mod grow;
pub mod hyperprior;
pub mod ladder;
pub mod released;
pub mod temporal;
pub mod transforms;
pub mod weights;

pub use config::{ConfigFile, ModelConfig, TrainConfig};
pub use hyperprior::{HyperpriorModel, TrainOutput};
pub use temporal::TemporalNet;
pub use transforms::Init;

/// The values of a float tensor, in row-major order, as f32.
pub fn tensor_to_vec<const D: usize>(t: burn::prelude::Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("a float tensor converted to f32 has f32 data")
}
