//! Training: data, RD loss, the resumable loops (image model, entropy model alone,
//! temporal prior) and
//! checkpoints.

pub mod checkpoint;
pub mod data;
pub mod entropy;
pub mod temporal;
pub mod trainer;

pub use entropy::{train_entropy, EntropyTrainArgs};
pub use temporal::{train_temporal, TemporalTrainArgs};
pub use trainer::{train, TrainArgs};
