//! Training: data, RD loss, the resumable loops (image model, temporal prior) and
//! checkpoints.

pub mod checkpoint;
pub mod data;
pub mod temporal;
pub mod trainer;

pub use temporal::{train_temporal, TemporalTrainArgs};
pub use trainer::{train, TrainArgs};
