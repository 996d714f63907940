//! The resumable training loop.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::optim::AdamConfig;
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::checkpoint::{self, Progress};
use super::coded::CodedValidation;
use super::data::{centre_batches, load_images, random_batch, RgbImage};
use super::step::{burn_gradients, kernel_gradients, rd_of, take_grads_of, Batch, Rd};
use super::stop::StopOnSignal;
use super::{draw_parameters, seed_burn};
use crate::model::context::CheckerboardContext;
use crate::model::cpu::supports_synthesis_width;
use crate::model::grow::{widen_latent, widen_transforms};
use crate::model::hyperprior::RateNoise;
use crate::model::ladder::RateLadder;
use crate::model::transforms::TopBand;
use crate::model::weights::WeightsFile;
use crate::model::{ConfigFile, HyperpriorModel, Init, ModelConfig, TrainConfig};

/// Where and how long to train.
pub struct TrainArgs {
    /// The model TOML (architecture + `[train]`).
    pub config_path: PathBuf,
    /// Folder of training images.
    pub train_dir: PathBuf,
    /// Folder of validation images (optional).
    pub valid_dir: Option<PathBuf>,
    /// Run folder: checkpoints and CSV logs go here; an existing checkpoint is resumed.
    pub run_dir: PathBuf,
    /// Stop after this many total steps.
    pub max_steps: usize,
    /// Stop after this many minutes of this invocation.
    pub max_minutes: f64,
    /// Seed for crops and noise.
    pub seed: u64,
    /// Weights file to start from instead of random parameters (ignored on resume):
    /// its architecture must match the config's, whose rate ladder, if any, starts at
    /// its initial steps.
    pub init: Option<PathBuf>,
    /// Device to train on (an autodiff device is derived from it).
    pub device: Device,
    /// Run g_a and g_s on neco's CPU kernels (the CPU device only; see
    /// [`super::step`]) rather than on Burn's autodiff.
    pub cpu_kernels: bool,
}

/// Side of the validation centre crops.
const VALID_SIDE: usize = 256;

fn psnr(mse: f64) -> f64 {
    // (`f64::max` would turn a NaN into the floor, logged as 120 dB.)
    if mse.is_nan() {
        return f64::NAN;
    }
    10.0 * (1.0 / mse.max(1e-12)).log10()
}

pub(crate) fn append_csv(path: &Path, header: &str, line: &str) -> anyhow::Result<()> {
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if new {
        writeln!(f, "{header}")?;
    }
    writeln!(f, "{line}")?;
    Ok(())
}

/// Validation at ladder rung `rung` (0 for a fixed-rate model): average estimated bpp
/// and PSNR on centre crops (noise proxy for the rate).
fn validate(model: &HyperpriorModel, batches: &[Tensor<4>], rung: usize, lambda: f64) -> Rd {
    let (mut bpp, mut mse, mut loss, mut n) = (0.0, 0.0, 0.0, 0.0);
    for x in batches {
        let b = x.dims()[0] as f64;
        let batch = Batch {
            x: x.clone(),
            rung,
            lambda,
            weight: 1.0,
            rate_weights: None,
            noise: RateNoise::Random,
        };
        let (_, rd) = rd_of(model, &batch);
        bpp += rd.bpp * b;
        mse += rd.mse * b;
        loss += rd.loss * b;
        n += b;
    }
    Rd {
        bpp: bpp / n,
        mse: mse / n,
        loss: loss / n,
    }
}

/// PSNR on the validation crops with y quantized four times finer than at the top
/// rung of a variable-rate model (`None` for a fixed-rate one): about what more rate
/// at the top could reach. (Not y unquantized: the transforms train on quantized values, and g_s does
/// worse on raw y than on the top rung's ŷ.) When the top rung's PSNR in valid.csv
/// (also of the mean MSE) comes close to it, the transforms, not the quantization,
/// limit the top of the rate range.
fn transform_ceiling(model: &HyperpriorModel, batches: &[Tensor<4>]) -> Option<f64> {
    let ladder = model.ladder.as_ref()?;
    let top = ladder.rungs() - 1;
    let (mut mse, mut n) = (0.0, 0.0);
    for x in batches {
        let b = x.dims()[0] as f64;
        let (g_a, g_s) = model.transforms(top);
        let y = g_a.forward(x.clone());
        let step = ladder.step(top).div_scalar(4.0);
        let (_, _, y_hat) = model.entropy_pass(y, RateNoise::Off, Some(step));
        let x_hat = g_s.forward(y_hat * ladder.recon(top));
        let err = (x_hat.clamp(0.0, 1.0) - x.clone()).powi_scalar(2).mean();
        mse += err.into_scalar::<f32>() as f64 * b;
        n += b;
    }
    Some(psnr(mse / n))
}

/// The model of weights file `path` with the ladder `cfg` asks for (a fresh one when
/// the file has none), its latent or its transforms widened when `cfg` asks for more
/// channels (see [`crate::model::grow`]).
fn init_from(path: &Path, cfg: &ModelConfig, device: &Device) -> anyhow::Result<HyperpriorModel> {
    let weights = WeightsFile::read(path)?;
    let base = &weights.config;
    let widths = |c: &ModelConfig| (c.analysis_width(), c.synthesis_width());
    let ((a0, s0), (a1, s1)) = (widths(base), widths(cfg));
    let grows = base.m < cfg.m;
    anyhow::ensure!(
        (base.n, base.group) == (cfg.n, cfg.group)
            && (base.m == cfg.m || grows)
            && a0 <= a1
            && s0 <= s1
            && (base.rungs == cfg.rungs || base.rungs == 0),
        "{} holds a model of n={} width={s0} analysis_width={a0} m={} group={} rungs={}; the config asks for \
         n={} width={s1} analysis_width={a1} m={} group={} rungs={} (only m and the widths may grow)",
        path.display(),
        base.n,
        base.m,
        base.group,
        base.rungs,
        cfg.n,
        cfg.m,
        cfg.group,
        cfg.rungs
    );
    // A band is added to weights without one; widening would leave one behind.
    let widens = grows || (a0, s0) != (a1, s1);
    anyhow::ensure!(
        base.top_band == 0 || (base.top_band == cfg.top_band && !widens),
        "{} has a top band from rung {}; the config asks for top_band = {}{} (a band can be \
         added to weights without one, not moved, dropped or widened)",
        path.display(),
        base.top_band,
        cfg.top_band,
        if widens { " and wider layers" } else { "" }
    );
    let mut model = weights.model(device)?;
    // y first, at the old width; then the transforms.
    let mut now = base.clone();
    if grows {
        eprintln!(
            "widening y from {} to {} channels (the new ones start at zero)",
            base.m, cfg.m
        );
        let next = ModelConfig {
            width: base.width,
            analysis_width: base.analysis_width,
            ..cfg.clone()
        };
        model = widen_latent(model, &now, &next, device)?;
        now = next;
    }
    if (a1, s1) != (a0, s0) {
        let side = |name: &str, from: usize, to: usize| {
            (to > from).then(|| format!("{name} from {from} to {to}"))
        };
        let sides: Vec<String> = [side("g_a", a0, a1), side("g_s", s0, s1)]
            .into_iter()
            .flatten()
            .collect();
        eprintln!(
            "widening {} hidden channels (the new ones start at zero)",
            sides.join(" and ")
        );
        model = widen_transforms(model, &now, cfg, device)?;
    }
    if model.ladder.is_none() && cfg.rungs > 0 {
        model.ladder = Some(RateLadder::new(cfg.rungs, cfg.m, device));
    }
    if cfg.context && model.context.is_none() {
        // Its last layer starts at zero: the model codes as the weights do.
        eprintln!("adding a checkerboard context model");
        model.context = Some(CheckerboardContext::new(cfg.m, Init::Random, device));
    }
    if cfg.top_band > 0 && model.top.is_none() {
        eprintln!(
            "rungs {}.. get transforms of their own, starting as copies of the model's",
            cfg.top_band
        );
        model.top = Some(TopBand::copy_of(cfg.top_band, &model.g_a, &model.g_s));
    }
    Ok(model)
}

/// Train (or resume training) until `max_steps` or `max_minutes`, checkpointing as it goes.
pub fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config_path)
        .with_context(|| format!("reading {}", args.config_path.display()))?;
    let cfg = ConfigFile::from_toml(&text)?;
    let tc: TrainConfig = cfg
        .train
        .clone()
        .context("the model config has no [train] table")?;
    anyhow::ensure!(
        tc.crop.is_multiple_of(64) && tc.crop >= 64,
        "crop must be a multiple of 64, got {}",
        tc.crop
    );

    if cfg.model.context {
        // The codec has no context model yet: valid.csv (the training proxy) is all
        // there is to compare such a run by.
        eprintln!(
            "a checkerboard context model: validation by the training proxy only (the codec does not code it yet)"
        );
    }
    std::fs::create_dir_all(&args.run_dir)?;
    let _lock = checkpoint::lock_run(&args.run_dir)?;
    let saved_cfg = args.run_dir.join("config.toml");
    if saved_cfg.exists() {
        let prev = ConfigFile::from_toml(&std::fs::read_to_string(&saved_cfg)?)?;
        anyhow::ensure!(
            prev.model == cfg.model,
            "{} was trained with a different architecture; use another run folder",
            args.run_dir.display()
        );
    }
    std::fs::write(&saved_cfg, &text)?;

    let device = args.device.clone().autodiff();
    seed_burn(&device, args.seed, 0);
    let mut model = HyperpriorModel::new(&cfg.model, Init::Random, &device);
    let mut optim = AdamConfig::new().init();
    let ckpt_dir = args.run_dir.join("checkpoint");
    let mut progress = Progress::default();
    let ck = checkpoint::load(&ckpt_dir)?;
    if ck.is_none() {
        checkpoint::trim_logs(&args.run_dir, None)?;
    }
    if let Some(ck) = ck {
        model = HyperpriorModel::from_record_bytes(&cfg.model, ck.model, &device)
            .context("applying the model checkpoint")?;
        (optim, progress) = checkpoint::resume(optim, ck.optim, ck.progress, &args.run_dir)?;
        seed_burn(&device, args.seed, progress.step);
    } else if let Some(init) = &args.init {
        model = init_from(init, &cfg.model, &device)?;
        eprintln!("starting from the parameters of {}", init.display());
    } else {
        // Frozen parts of a random model would stay random for the whole run.
        anyhow::ensure!(
            tc.frozen.is_empty(),
            "the config freezes {} (`frozen`), but this run starts from random parameters: \
             pass --init WEIGHTS to start from trained ones, or drop `frozen`",
            tc.frozen.join(", ")
        );
    }
    let rungs = cfg.model.rungs.max(1);
    model = model.freeze(&tc.frozen);
    draw_parameters(&model);
    // Tiny test-sized transforms (fewer than 8 hidden channels) stay on Burn.
    let cpu_kernels = args.cpu_kernels && supports_synthesis_width(cfg.model.synthesis_width());

    eprintln!("loading training images from {}", args.train_dir.display());
    let images: Vec<RgbImage> = load_images(&args.train_dir, tc.crop)?;
    let valid_images = match &args.valid_dir {
        Some(dir) => load_images(dir, VALID_SIDE)?,
        None => Vec::new(),
    };
    let valid_batches = centre_batches(&valid_images, VALID_SIDE, 8, &args.device);
    let coded = (!cfg.model.context).then(|| CodedValidation::new(&valid_images, VALID_SIDE));
    drop(valid_images);
    eprintln!(
        "{} training images, {} validation batches",
        images.len(),
        valid_batches.len()
    );

    let mut rng = StdRng::seed_from_u64(args.seed ^ progress.step as u64);
    let started = Instant::now();
    let elapsed_before = progress.elapsed_s;
    let mut last_ckpt = Instant::now();
    let train_csv = args.run_dir.join("train.csv");
    let valid_csv = args.run_dir.join("valid.csv");
    let coded_csv = args.run_dir.join("valid_coded.csv");
    let ceiling_csv = args.run_dir.join("valid_ceiling.csv");
    let (mut acc, mut acc_n) = ((0.0, 0.0, 0.0), 0usize);

    super::note_if_done(progress.step, args.max_steps);
    let stop = StopOnSignal::listen(progress.step);
    loop {
        let minutes = started.elapsed().as_secs_f64() / 60.0;
        if progress.step >= args.max_steps || minutes >= args.max_minutes || stop.requested() {
            break;
        }
        let x = random_batch(&images, tc.batch, tc.crop, &mut rng, &device);
        let rung = rng.random_range(0..rungs);
        let rate_weights = tc
            .rate_ramp
            .filter(|ramp| progress.step < ramp.end)
            .map(|ramp| {
                let m = cfg.model.m;
                let w = ramp.weight_at(progress.step) as f32;
                let values: Vec<f32> = (0..m)
                    .map(|c| if c < ramp.from_channel { 1.0 } else { w })
                    .collect();
                Tensor::<4>::from_data(TensorData::new(values, [1, m, 1, 1]), &device)
            });
        let batch = Batch {
            x,
            rung,
            lambda: tc.lambda_of(rung),
            weight: tc.weight_of(rung),
            rate_weights,
            noise: RateNoise::Random,
        };
        let (mut grads, rd) = if cpu_kernels {
            kernel_gradients(&model, &batch, tc.precision, &args.device)
        } else {
            burn_gradients(&model, &batch)
        };
        super::check_loss(rd.loss, progress.step + 1)?;
        let lr = tc.lr_at(progress.step);
        let context_grads = model.context.as_ref().map(|c| take_grads_of(&mut grads, c));
        model = optim.step(lr, model, grads);
        if let Some(context_grads) = context_grads {
            model = optim.step(lr * tc.context_lr_scale, model, context_grads);
        }
        progress.step += 1;
        progress.elapsed_s = elapsed_before + started.elapsed().as_secs_f64();
        acc = (acc.0 + rd.loss, acc.1 + rd.bpp, acc.2 + rd.mse);
        acc_n += 1;

        if progress.step.is_multiple_of(50) {
            let n = acc_n as f64;
            let line = format!(
                "{},{:.1},{:.5},{:.4},{:.3}",
                progress.step,
                progress.elapsed_s,
                acc.0 / n,
                acc.1 / n,
                psnr(acc.2 / n)
            );
            eprintln!("step {line}");
            append_csv(&train_csv, "step,elapsed_s,loss,bpp,psnr", &line)?;
            acc = (0.0, 0.0, 0.0);
            acc_n = 0;
        }
        if !valid_batches.is_empty() && progress.step.is_multiple_of(tc.validate_every) {
            // One line per rung; the weighted sum of the rungs' losses ranks
            // checkpoints.
            let valid_model = model.valid();
            let mut total = 0.0;
            for rung in 0..rungs {
                let v = validate(&valid_model, &valid_batches, rung, tc.lambda_of(rung));
                let line = format!(
                    "{},{:.1},{rung},{:.5},{:.4},{:.3}",
                    progress.step,
                    progress.elapsed_s,
                    v.loss,
                    v.bpp,
                    psnr(v.mse)
                );
                eprintln!("valid {line}");
                append_csv(&valid_csv, "step,elapsed_s,rung,loss,bpp,psnr", &line)?;
                total += v.loss * tc.weight_of(rung);
            }
            if let Some(ceiling) = transform_ceiling(&valid_model, &valid_batches) {
                let line = format!("{},{:.1},{ceiling:.3}", progress.step, progress.elapsed_s);
                eprintln!("ceiling {line}");
                append_csv(&ceiling_csv, "step,elapsed_s,psnr", &line)?;
            }
            // The same crops through the codec: real file sizes, 8-bit PSNR.
            let coded_rungs = match &coded {
                Some(coded) => coded.run(&cfg.model, &valid_model, &args.device)?,
                None => Vec::new(),
            };
            for r in coded_rungs {
                let line = format!(
                    "{},{:.1},{},{},{:.4},{:.3}",
                    progress.step, progress.elapsed_s, r.rung, r.quality, r.bpp, r.psnr
                );
                eprintln!("coded {line}");
                append_csv(&coded_csv, "step,elapsed_s,rung,quality,bpp,psnr", &line)?;
            }
            if total.is_finite()
                && progress
                    .best_valid_loss
                    .is_none_or(|(best, _)| total < best)
            {
                progress.best_valid_loss = Some((total, progress.step));
            }
        }
        if last_ckpt.elapsed().as_secs() >= tc.checkpoint_secs {
            checkpoint::save_module(&ckpt_dir, &model, &optim, &progress)?;
            last_ckpt = Instant::now();
        }
    }
    checkpoint::finish(&ckpt_dir, &model, &optim, &progress)?;
    stop.result(progress.step)
}
