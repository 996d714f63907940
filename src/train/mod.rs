//! Training: data, RD loss, the resumable loops (image model, entropy model alone,
//! temporal prior) and
//! checkpoints.

pub mod checkpoint;
pub mod coded;
pub mod data;
pub mod entropy;
pub mod step;
pub mod stop;
pub mod temporal;
pub mod trainer;

/// When a frozen-model training loop (entropy model, temporal prior) stops, how often
/// it checkpoints and validates, and the seed of its data and batches.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Stop after this many total steps.
    pub max_steps: usize,
    /// Stop after this many minutes of this invocation.
    pub max_minutes: f64,
    /// Seconds between checkpoints.
    pub checkpoint_secs: u64,
    /// Steps between validation runs.
    pub validate_every: usize,
    /// Seed for crops, noise and batches.
    pub seed: u64,
}

impl Schedule {
    /// Whether a loop that has taken `step` steps since `started` must stop.
    pub fn done(&self, step: usize, started: std::time::Instant) -> bool {
        step >= self.max_steps || started.elapsed().as_secs_f64() / 60.0 >= self.max_minutes
    }

    /// Whether step `step` is one to validate at.
    pub fn validates(&self, step: usize) -> bool {
        step.is_multiple_of(self.validate_every.max(1))
    }
}

pub use entropy::{train_entropy, EntropyTrainArgs};
pub use temporal::{train_temporal, TemporalTrainArgs};
pub use trainer::{train, TrainArgs};
