//! Stopping a training run cleanly on Ctrl-C or SIGTERM. While a training loop listens,
//! the first signal asks it to save its checkpoint and return (so a run cut short by a
//! time limit loses nothing); a second signal, or any signal while no loop listens,
//! ends the process at once, as for every other command (src/main.rs).

use std::sync::atomic::{AtomicBool, Ordering};

static LISTENING: AtomicBool = AtomicBool::new(false);
static REQUESTED: AtomicBool = AtomicBool::new(false);

/// While alive, a signal asks the training loop holding it to stop.
pub struct StopOnSignal(());

impl StopOnSignal {
    /// Starts listening (one training loop at a time), and says so for a loop about
    /// to train from `step`.
    pub fn listen(step: usize) -> Self {
        REQUESTED.store(false, Ordering::SeqCst);
        LISTENING.store(true, Ordering::SeqCst);
        eprintln!("training from step {step} (Ctrl-C or SIGTERM saves the checkpoint and stops)");
        StopOnSignal(())
    }

    /// Whether a signal asked the loop to stop.
    pub fn requested(&self) -> bool {
        REQUESTED.load(Ordering::SeqCst)
    }

    /// `Ok` unless a signal stopped the loop: then an error saying that the
    /// checkpoint of `step` is saved, so the process ends with a failure status.
    pub fn result(&self, step: usize) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.requested(),
            "interrupted at step {step}: the checkpoint is saved; the same command resumes it"
        );
        Ok(())
    }
}

impl Drop for StopOnSignal {
    fn drop(&mut self) {
        LISTENING.store(false, Ordering::SeqCst);
    }
}

/// For the signal handler: `true` when a listening loop will stop by itself (the first
/// signal it gets), `false` when the process should end now.
pub fn request() -> bool {
    LISTENING.load(Ordering::SeqCst) && !REQUESTED.swap(true, Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_signal_stops_the_loop_a_second_ends_the_process() {
        assert!(!request(), "nothing listens yet");
        let stop = StopOnSignal::listen(3);
        assert!(!stop.requested());
        assert!(stop.result(3).is_ok());
        assert!(request());
        assert!(stop.requested());
        assert!(!request(), "a second signal ends the process");
        let err = stop.result(3).unwrap_err().to_string();
        assert!(err.contains("interrupted at step 3"), "{err}");
        drop(stop);
        assert!(!request(), "nothing listens any more");
        assert!(
            !StopOnSignal::listen(0).requested(),
            "a new loop starts afresh"
        );
    }
}
