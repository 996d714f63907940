//! Resumable training state: model record, optimizer state and progress, saved
//! atomically; one training process a run folder.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::{Bytes, DType};
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
        .map_err(|e| anyhow::anyhow!("serializing the optimizer: {e:?}"))
        .and_then(|b| recode_optim(b, DType::BF16))?;
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
    let optim = recode_optim(Bytes::from_bytes_vec(state), DType::F32)
        .and_then(|state| {
            optim
                .from_bytes(state)
                .map_err(|e| anyhow::anyhow!("{e:?}"))
        })
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

/// The optimizer record `bytes` (a burnpack) with its f32 tensors stored as `to`: BF16
/// when a checkpoint is saved, F32 when it is loaded. Adam's moments are running
/// averages whose estimates are far noisier than bf16's 8-bit mantissa, so halving
/// their size costs a resumed run nothing measurable, and it keeps the checkpoints the
/// repository holds small (the model itself stays f32). Step counters are scalars,
/// never rounded; tensors of other types pass unchanged, so f32 files of earlier
/// versions load too.
fn recode_optim(bytes: Bytes, to: DType) -> anyhow::Result<Bytes> {
    use half::bf16;
    let err = |e: burn_pack::Error| anyhow::anyhow!("optimizer state: {e:?}");
    let reader = burn_pack::Reader::from_bytes(bytes).map_err(err)?;
    let scalars = reader.scalars().clone();
    let metadata = reader.metadata().clone();
    let mut tensors = Vec::new();
    for tensor in reader.into_tensors().map_err(err)? {
        let (name, dtype, shape, param_id, data) = tensor.into_parts().map_err(err)?;
        let (dtype, data) = match (dtype, to) {
            (DType::F32, DType::BF16) => {
                let v: Vec<u8> = data
                    .chunks_exact(4)
                    .flat_map(|b| {
                        let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                        bf16::from_f32(x).to_le_bytes()
                    })
                    .collect();
                (DType::BF16, Bytes::from_bytes_vec(v))
            }
            (DType::BF16, DType::F32) => {
                let v: Vec<u8> = data
                    .chunks_exact(2)
                    .flat_map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32().to_le_bytes())
                    .collect();
                (DType::F32, Bytes::from_bytes_vec(v))
            }
            _ => (dtype, data),
        };
        tensors.push(burn_pack::Tensor::new(name, dtype, shape, param_id, data));
    }
    let mut writer = burn_pack::Writer::new(tensors);
    for (key, value) in &scalars {
        writer = writer.with_scalar(key, *value);
    }
    for (key, value) in &metadata {
        writer = writer.with_metadata(key, value);
    }
    writer.into_bytes().map_err(err)
}

/// Holds a run folder for one training process: a second `neco train` (or
/// `train-entropy`, `train-temporal`) on the same folder would interleave its
/// checkpoints and logs with this one's. The OS releases the lock when the process
/// ends, however it ends, so a killed run leaves nothing to clean up.
#[derive(Debug)]
pub struct RunLock(#[allow(dead_code)] std::fs::File);

/// The lock file inside a run folder.
pub const LOCK_FILE: &str = "train.lock";

/// Takes `run`'s lock (see [`RunLock`]), or says which process holds it.
pub fn lock_run(run: &Path) -> anyhow::Result<RunLock> {
    let path = run.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            // The holder's pid, for the message a second process gives.
            use std::io::Write;
            let _ = file.set_len(0);
            let _ = (&file).write_all(std::process::id().to_string().as_bytes());
            Ok(RunLock(file))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            anyhow::bail!(
                "{} is in use by another training process{}: wait for it to stop (Ctrl-C or \
                 SIGTERM saves its checkpoint), or train into another run folder",
                run.display(),
                if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                }
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
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
    fn optimizer_state_is_kept_in_bf16_and_resumes_adam() {
        use burn::module::{Module, Param};
        use burn::optim::{AdamConfig, GradientsParams};
        use burn::prelude::*;
        #[derive(Module, Debug)]
        struct Tiny {
            w: Param<Tensor<1>>,
        }
        let device = Device::flex().autodiff();
        let values: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut tiny = Tiny {
            w: Param::from_tensor(Tensor::from_data(TensorData::new(values, [1000]), &device)),
        };
        let mut optim = AdamConfig::new().init();
        let step = |tiny: Tiny, optim: &mut burn::optim::ModuleOptimizer| {
            let loss = tiny.w.val().powi_scalar(3).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &tiny);
            optim.step(1e-2, tiny, grads)
        };
        for _ in 0..3 {
            tiny = step(tiny, &mut optim);
        }
        let f32_bytes = optim.into_bytes().unwrap().len();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("checkpoint");
        save_module(&dir, &tiny, &optim, &progress(3)).unwrap();
        let ck = load(&dir).unwrap().unwrap();
        let stored = ck.optim.clone().unwrap();
        // Two moments of 1000 values: 4000 of their 8000 bytes saved in bf16.
        assert!(
            stored.len() + 3900 < f32_bytes,
            "{} vs {f32_bytes}",
            stored.len()
        );
        let (mut resumed, _) =
            resume(AdamConfig::new().init(), ck.optim, ck.progress, tmp.path()).unwrap();
        // The resumed Adam takes the step the original takes, to bf16's precision of
        // its moments (a fresh Adam's first step would be lr-sized for every value).
        let original = step(tiny.clone(), &mut optim).w.val().into_data();
        let again = step(tiny.clone(), &mut resumed).w.val().into_data();
        let before = tiny.w.val().into_data();
        let (a, b, w) = (
            original.as_slice::<f32>().unwrap(),
            again.as_slice::<f32>().unwrap(),
            before.as_slice::<f32>().unwrap(),
        );
        let fresh = step(tiny.clone(), &mut AdamConfig::new().init())
            .w
            .val()
            .into_data();
        let fresh = fresh.as_slice::<f32>().unwrap();
        let mut worst: f32 = 0.0;
        let mut worst_fresh: f32 = 0.0;
        for i in 0..a.len() {
            let moved = (a[i] - w[i]).abs().max(1e-6);
            worst = worst.max((a[i] - b[i]).abs() / moved);
            worst_fresh = worst_fresh.max((a[i] - fresh[i]).abs() / moved);
        }
        assert!(worst < 0.02, "resumed step off by {worst} of the step");
        assert!(
            worst_fresh > 0.1,
            "a fresh Adam should differ ({worst_fresh})"
        );
        // A checkpoint of an earlier version (moments in f32) loads as well.
        let (again, _) = resume(
            AdamConfig::new().init(),
            Some(optim.into_bytes().unwrap().to_vec()),
            progress(4),
            tmp.path(),
        )
        .unwrap();
        assert!(again.into_bytes().unwrap().len() == f32_bytes);
    }

    #[test]
    fn a_run_folder_trains_in_one_process_at_a_time() {
        let run = tempfile::tempdir().unwrap();
        let lock = lock_run(run.path()).unwrap();
        let e = lock_run(run.path()).unwrap_err().to_string();
        assert!(e.contains("in use by another training process"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(lock);
        lock_run(run.path()).unwrap();
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
