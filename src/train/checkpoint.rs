//! Resumable training state: model record, optimizer state and progress, saved atomically.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Progress stored beside the model and optimizer state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    /// Optimizer steps taken.
    pub step: usize,
    /// Training wall time so far, seconds (summed over sessions).
    pub elapsed_s: f64,
    /// Best validation loss seen, with its step.
    pub best_valid_loss: Option<(f64, usize)>,
}

/// File names inside a checkpoint folder.
pub const MODEL_FILE: &str = "model.bpk";
/// Optimizer state file name.
pub const OPTIM_FILE: &str = "optim.bin";
/// Progress file name.
pub const PROGRESS_FILE: &str = "progress.json";

/// Write a checkpoint folder `dir` atomically: build it under a temporary name, then swap.
pub fn save(dir: &Path, model: &[u8], optim: &[u8], progress: &Progress) -> anyhow::Result<()> {
    let tmp = sibling(dir, "tmp")?;
    let old = sibling(dir, "old")?;
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    std::fs::write(tmp.join(MODEL_FILE), model)?;
    std::fs::write(tmp.join(OPTIM_FILE), optim)?;
    std::fs::write(
        tmp.join(PROGRESS_FILE),
        serde_json::to_vec_pretty(progress)?,
    )?;
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        std::fs::rename(dir, &old)?;
    }
    std::fs::rename(&tmp, dir)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Serializes `module` and `optim` and saves them with `progress` (see [`save`]).
pub fn save_module<M: burn::module::Module>(
    dir: &Path,
    module: &M,
    optim: &burn::optim::ModuleOptimizer,
    progress: &Progress,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        super::parameters_are_finite(module),
        "training diverged: at step {} the parameters hold NaN or infinity, so they were not \
         saved over the run's last checkpoint: resume it with a lower learning rate",
        progress.step
    );
    let model = module
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("serializing the model: {e:?}"))?;
    let optim = optim
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("serializing the optimizer: {e:?}"))?;
    save(dir, &model, &optim, progress)
}

/// Saves a loop's last checkpoint (see [`save_module`]) and says where it stopped.
pub fn finish<M: burn::module::Module>(
    dir: &Path,
    module: &M,
    optim: &burn::optim::ModuleOptimizer,
    progress: &Progress,
) -> anyhow::Result<()> {
    save_module(dir, module, optim, progress)?;
    eprintln!(
        "stopped at step {} ({:.0} s of training in total)",
        progress.step, progress.elapsed_s
    );
    Ok(())
}

/// Restores a checkpoint's optimizer state (`optim_state`) and returns it with the
/// checkpoint's progress, saying that the run in `run` resumes (the caller applies the
/// model record). Without optimizer state the fresh `optim` is kept.
pub fn resume(
    optim: burn::optim::ModuleOptimizer,
    optim_state: Option<Vec<u8>>,
    progress: Progress,
    run: &Path,
) -> anyhow::Result<(burn::optim::ModuleOptimizer, Progress)> {
    let Some(state) = optim_state else {
        eprintln!(
            "resuming {} at step {} with a fresh optimizer: the checkpoint holds no {OPTIM_FILE}",
            run.display(),
            progress.step
        );
        trim_logs(run, Some(progress.step))?;
        return Ok((optim, progress));
    };
    let optim = optim
        .from_bytes(burn::tensor::Bytes::from_bytes_vec(state))
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: {e:?} (delete the file to resume with a fresh optimizer)",
                run.join("checkpoint").join(OPTIM_FILE).display()
            )
        })?;
    eprintln!("resuming {} at step {}", run.display(), progress.step);
    trim_logs(run, Some(progress.step))?;
    Ok((optim, progress))
}

/// The CSV logs a run folder may hold, each a header and rows led by their step.
const LOGS: [&str; 4] = [
    "train.csv",
    "valid.csv",
    "valid_coded.csv",
    "valid_ceiling.csv",
];

/// Drops the rows of `run`'s logs past `step`, the checkpoint a run resumes from (all
/// of them for `None`, a run starting without a checkpoint): a run killed before a
/// checkpoint logged steps whose parameters were never saved, and the run that goes
/// on logs those steps again (tools such as `neco bd` would pool both).
pub fn trim_logs(run: &Path, step: Option<usize>) -> anyhow::Result<()> {
    for name in LOGS {
        let path = run.join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let (kept, dropped): (Vec<&str>, Vec<&str>) = lines.partition(|l| {
            l.split(',')
                .next()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .is_none_or(|s| step.is_some_and(|step| s <= step))
        });
        if dropped.is_empty() {
            continue;
        }
        let mut out = String::with_capacity(text.len());
        for l in std::iter::once(header).chain(kept) {
            out.push_str(l);
            out.push('\n');
        }
        let tmp = path.with_extension("csv.tmp");
        std::fs::write(&tmp, out)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("rewriting {}", path.display()))?;
        let past = step.map_or("(no checkpoint)".to_owned(), |s| format!("past step {s}"));
        eprintln!(
            "dropped {} row{} of {} {past}: logged by a run that stopped before saving them",
            dropped.len(),
            if dropped.len() == 1 { "" } else { "s" },
            path.display()
        );
    }
    Ok(())
}

/// A loaded checkpoint.
pub struct Loaded {
    /// Burnpack bytes of the model record.
    pub model: Vec<u8>,
    /// Serialized optimizer state; `None` when the folder holds none (a checkpoint
    /// kept without it, as the repository keeps one: the run resumes with a fresh
    /// optimizer).
    pub optim: Option<Vec<u8>>,
    /// Progress.
    pub progress: Progress,
}

/// The hidden sibling `.<name>.<suffix>` of checkpoint folder `dir`, where [`save`]
/// builds the new checkpoint (`tmp`) and keeps the previous one while it swaps them
/// (`old`).
fn sibling(dir: &Path, suffix: &str) -> anyhow::Result<PathBuf> {
    let name = dir
        .file_name()
        .context("checkpoint dir has no name")?
        .to_string_lossy();
    Ok(dir
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.{suffix}")))
}

/// Load the checkpoint in `dir`, or `None` when there is none. A save stopped between
/// its two renames (the process killed) left only the previous checkpoint, under its
/// temporary name: it is put back and loaded, rather than the run starting over.
pub fn load(dir: &Path) -> anyhow::Result<Option<Loaded>> {
    if !dir.exists() {
        let old = sibling(dir, "old")?;
        if old.join(PROGRESS_FILE).exists() {
            std::fs::rename(&old, dir)
                .with_context(|| format!("restoring the checkpoint {}", old.display()))?;
            eprintln!(
                "restored the checkpoint an interrupted save left in {}",
                old.display()
            );
        }
    }
    if !dir.join(PROGRESS_FILE).exists() {
        return Ok(None);
    }
    let read = |f: &str| -> anyhow::Result<Vec<u8>> {
        let p: PathBuf = dir.join(f);
        std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
    };
    Ok(Some(Loaded {
        model: read(MODEL_FILE)?,
        optim: if dir.join(OPTIM_FILE).exists() {
            Some(read(OPTIM_FILE)?)
        } else {
            None
        },
        progress: serde_json::from_slice(&read(PROGRESS_FILE)?)
            .with_context(|| format!("reading {}", dir.join(PROGRESS_FILE).display()))?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(step: usize) -> Progress {
        Progress {
            step,
            ..Progress::default()
        }
    }

    #[test]
    fn parameters_that_are_not_finite_are_never_saved() {
        use burn::module::{Module, Param};
        use burn::prelude::*;
        #[derive(Module, Debug)]
        struct Tiny {
            w: Param<Tensor<1>>,
        }
        let device = Device::flex().autodiff();
        let tiny = |v: f32| Tiny {
            w: Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![1.0, v], [2]),
                &device,
            )),
        };
        let optim = burn::optim::AdamConfig::new().init();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("checkpoint");
        save_module(&dir, &tiny(2.0), &optim, &progress(1)).unwrap();
        for bad in [f32::NAN, f32::INFINITY] {
            let e = save_module(&dir, &tiny(bad), &optim, &progress(2)).unwrap_err();
            assert!(e.to_string().contains("training diverged"), "{e}");
        }
        assert_eq!(load(&dir).unwrap().unwrap().progress.step, 1);
    }

    #[test]
    fn logs_past_the_checkpoint_are_dropped_on_resume() {
        let run = tempfile::tempdir().unwrap();
        let log = run.path().join("valid_coded.csv");
        std::fs::write(&log, "step,x\n2,a\n4,b\n6,c\n8,d\n").unwrap();
        std::fs::write(run.path().join("train.csv"), "step,y\n2,a\n").unwrap();
        trim_logs(run.path(), Some(4)).unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "step,x\n2,a\n4,b\n");
        assert_eq!(
            std::fs::read_to_string(run.path().join("train.csv")).unwrap(),
            "step,y\n2,a\n"
        );
        // Without a checkpoint, nothing logged was kept.
        trim_logs(run.path(), None).unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "step,x\n");
    }

    #[test]
    fn saves_swap_and_an_interrupted_swap_is_recovered() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("checkpoint");
        assert!(load(&dir).unwrap().is_none());
        save(&dir, b"m1", b"o1", &progress(1)).unwrap();
        save(&dir, b"m2", b"o2", &progress(2)).unwrap();
        let ck = load(&dir).unwrap().unwrap();
        assert_eq!(
            (ck.model, ck.optim, ck.progress.step),
            (b"m2".to_vec(), Some(b"o2".to_vec()), 2)
        );
        // Killed after moving the old checkpoint aside, before the new one took its place.
        std::fs::rename(&dir, tmp.path().join(".checkpoint.old")).unwrap();
        let ck = load(&dir).unwrap().unwrap();
        assert_eq!(ck.progress.step, 2);
        assert!(dir.join(PROGRESS_FILE).exists());
        assert!(!tmp.path().join(".checkpoint.old").exists());
        // Without its optimizer state it still loads, with none.
        std::fs::remove_file(dir.join(OPTIM_FILE)).unwrap();
        let ck = load(&dir).unwrap().unwrap();
        assert_eq!((ck.model, ck.optim), (b"m2".to_vec(), None));
    }
}
