//! Training: data, RD loss, the resumable loop, checkpoints and export.

pub mod checkpoint;
pub mod data;
pub mod trainer;

pub use trainer::{train, TrainArgs};
