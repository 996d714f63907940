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

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::Tensor;

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

/// Seeds Burn's generator, which draws a new model's random parameters and the
/// training noise: a run is then reproducible from its seed, and a resumed run (at
/// `step` > 0) draws noise of its own rather than replaying the first steps'.
pub fn seed_burn(device: &burn::tensor::Device, seed: u64, step: usize) {
    device.seed(seed ^ (step as u64).rotate_left(29));
}

/// Draws every parameter of `module` that Burn has not drawn yet, in the module's
/// order. Burn draws a random parameter when it is first read, and the CPU training
/// kernels read g_a's and g_s's on two threads at once: drawn there, the values would
/// depend on which thread took the generator first, not only on the seed.
pub fn draw_parameters<M: Module>(module: &M) {
    struct Draw;
    impl ModuleVisitor for Draw {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Draw);
}

/// Says so when a run resumed at `step` is already at its `--steps` limit, which
/// would otherwise look like a run that stopped at once for no reason.
pub fn note_if_done(step: usize, max_steps: usize) {
    if step >= max_steps && step > 0 {
        eprintln!("the run is already at step {step} (--steps {max_steps}): nothing to train; raise --steps to go on");
    }
}

/// Fails when training step `step`'s loss is not finite: the run diverged, and going
/// on would only train (and save) NaN parameters.
pub fn check_loss(loss: f64, step: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        loss.is_finite(),
        "training diverged: the loss of step {step} is {loss} (a learning rate too high for \
         this model?); the run's last checkpoint is kept: resume it with a lower learning rate"
    );
    Ok(())
}

/// Whether every float parameter of `module` is finite (what a checkpoint must hold).
pub fn parameters_are_finite<M: Module>(module: &M) -> bool {
    struct Finite(bool);
    impl ModuleVisitor for Finite {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            // A sum is finite when every term is (weights are far from overflowing).
            if self.0 {
                self.0 = param.val().sum().into_scalar::<f32>().is_finite();
            }
        }
    }
    let mut v = Finite(true);
    module.visit(&mut v);
    v.0
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
pub use temporal::{hold_out_clips, train_temporal, PairSource, TemporalTrainArgs};
pub use trainer::{train, TrainArgs};
