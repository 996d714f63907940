//! Model configuration, read from a TOML file in `models/`.

use neco_kernels::Precision;
use serde::{Deserialize, Serialize};

/// Architecture of a mean–scale hyperprior model (Minnen et al. 2018; a context model
/// on the training side only).
// Unknown keys are refused: a misspelt `widht` or `frozn` would otherwise train or
// load something other than what the file asks for, without a word. (Every weights
// file neco has published holds only current keys.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Model id stored in every stream, e.g. `hp-n64m96`.
    pub name: String,
    /// Channels of z and of h_a's hidden layers, and of the hidden layers of g_a / g_s
    /// unless `width` (or, for g_a, `analysis_width`) says otherwise.
    pub n: usize,
    /// Channels of the hidden layers of g_s, and of g_a unless `analysis_width` says
    /// otherwise; 0: n. A model whose transforms were
    /// widened (`crate::model::grow`) keeps its hyperprior at n, so z, h_a and the
    /// parameter path cost what they did.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub width: usize,
    /// Channels of the hidden layers of g_a alone; 0: as g_s (`width`). The encoder
    /// can be wider than the decoder: a wider g_a narrows the amortization gap
    /// (docs/refine.md) at the encoder's cost, and decoding costs what it did.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub analysis_width: usize,
    /// Channels of the latent y.
    pub m: usize,
    /// Channels of h_s's first hidden layer (its second has 1.5× as many); 0: m, as
    /// in Minnen et al. 2018. A model whose y was widened (`crate::model::grow`) keeps
    /// its h_s width, so the parameter path, which runs on every decode, costs about
    /// what it did.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hyper: usize,
    /// Channels per group of the multivariate Gaussian model of y (1: the diagonal
    /// mean–scale model; see `neco_core::entropy::coupling`).
    #[serde(default = "diagonal", skip_serializing_if = "is_diagonal")]
    pub group: usize,
    /// Rungs of the rate ladder (per-rung, per-channel quantization steps and
    /// reconstruction scales, see [`super::ladder`]); 0: a fixed-rate model, moved
    /// along the quality scale by a global step.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rungs: usize,
    /// Weights files store the Burn parameters as f16 (`neco export --half`): half the
    /// record's bytes. Every value is rounded to f16 before anything is derived from
    /// it, so the file's other sections agree with the parameters it loads with.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub params_f16: bool,
    /// A checkerboard context model refines the parameters of half of ŷ from the
    /// other half (see [`super::context`]). Training side only so far (`neco train`
    /// jointly with the transforms, `neco train-entropy --context` alone): the codec
    /// refuses such models.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub context: bool,
    /// Rungs from this one up code with transforms of their own (g_a and g_s; see
    /// [`super::transforms::TopBand`]), the lower ones with the model's: one pair no
    /// longer serves λ over three decades. 0: one pair for every rung. The codec
    /// picks the pair by quality ([`ModelConfig::top_band_at`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub top_band: usize,
    /// The λ each rung of the rate ladder was trained for, lowest rate first (`neco
    /// export` copies them from the run's `[train] lambdas`): what encoder-side
    /// refinement (`--refine`) optimizes for at each quality. Empty in model TOMLs and
    /// in weights exported before they were recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ladder_lambdas: Vec<f64>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Most rungs a rate ladder may have.
pub const MAX_RUNGS: usize = neco_core::entropy::MAX_RUNGS;

fn diagonal() -> usize {
    1
}

fn is_diagonal(group: &usize) -> bool {
    *group == 1
}

/// Training hyperparameters (the `[train]` table of a model TOML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Rate–distortion trade-off: loss = bpp + λ·255²·MSE (fixed-rate models).
    #[serde(default)]
    pub lambda: f64,
    /// The λ of each rung of a variable-rate model, lowest rate first; each batch
    /// trains one rung, drawn uniformly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lambdas: Vec<f64>,
    /// Adam learning rate.
    pub lr: f64,
    /// Learning-rate drops: `[[step, lr], ...]`, each applying from its step on.
    #[serde(default)]
    pub lr_drops: Vec<(usize, f64)>,
    /// Images per batch.
    pub batch: usize,
    /// Side of the square random crops, in pixels (multiple of 64).
    pub crop: usize,
    /// Seconds between checkpoints.
    #[serde(default = "default_checkpoint_secs")]
    pub checkpoint_secs: u64,
    /// Steps between validation runs.
    #[serde(default = "default_validate_every")]
    pub validate_every: usize,
    /// Parts kept as they are (e.g. as `neco train --init` loaded them): any of
    /// `g_a`, `g_s`, `h_a`, `h_s`, `z_density`, `ladder`; the rest trains. Freezing
    /// the decoder's side (`g_s`, `h_s`, `z_density`, `ladder`) trains the encoder
    /// for the decoder as it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frozen: Vec<String>,
    /// Weight of each rung's loss in the gradient (variable-rate models; default 1
    /// each). The rungs' losses differ by orders of magnitude (the distortion term
    /// grows with λ), so when the transforms train across the ladder, weights of about
    /// 1/(the rung's loss) make each rung's relative improvement count alike instead of
    /// the top rungs' distortion taking the whole gradient. They also weight the
    /// validation losses' sum that ranks checkpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rung_weights: Vec<f64>,
    /// Channels of y whose bits count less for a while (a widened model's new ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_ramp: Option<RateRamp>,
    /// Arithmetic of the wide layers of g_a and g_s on the CPU kernels: `"f32"`, or
    /// `"bf16"` (bf16 operands, f32 sums and f32 weights, where the CPU has AVX-512
    /// BF16; f32 elsewhere).
    #[serde(default, skip_serializing_if = "is_f32")]
    pub precision: Precision,
    /// The context model's learning rate as a multiple of the transforms' (`lr`,
    /// `lr_drops`; default 1). One added to trained weights starts at zero and has far
    /// to go, while the trained parts want small steps.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub context_lr_scale: f64,
}

fn one() -> f64 {
    1.0
}

fn is_one(v: &f64) -> bool {
    *v == 1.0
}

fn is_f32(p: &Precision) -> bool {
    *p == Precision::F32
}

/// A widened model's new channels (see [`crate::model::grow`]) learn to carry
/// information before they pay for it: started at zero they are pinned there, as any
/// value costs many bits at the floor scale before the scale has learnt to rise. The
/// bits of channels `from_channel..` count nothing before step `start`, then rise
/// linearly to count fully from step `end` (`rate_ramp = { from_channel = 96, start
/// = 0, end = 3000 }`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateRamp {
    /// First channel of y the ramp applies to.
    pub from_channel: usize,
    /// Last step at which their bits count nothing.
    pub start: usize,
    /// First step at which their bits count fully.
    pub end: usize,
}

impl RateRamp {
    /// How much the ramped channels' bits count at optimizer step `step` (0 … 1).
    pub fn weight_at(&self, step: usize) -> f64 {
        if step >= self.end {
            1.0
        } else if step <= self.start {
            0.0
        } else {
            (step - self.start) as f64 / (self.end - self.start) as f64
        }
    }
}

/// The parts of a model `frozen` may name.
pub const FREEZABLE: [&str; 6] = ["g_a", "g_s", "h_a", "h_s", "z_density", "ladder"];

/// Check every name in `parts` is one of [`FREEZABLE`]; `what` names the setting in
/// the error.
pub fn check_freezable(parts: &[String], what: &str) -> anyhow::Result<()> {
    match parts.iter().find(|p| !FREEZABLE.contains(&p.as_str())) {
        Some(bad) => anyhow::bail!(
            "{what} names {bad:?}; the parts are {}",
            FREEZABLE.join(", ")
        ),
        None => Ok(()),
    }
}

impl TrainConfig {
    /// The learning rate for optimizer step `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        self.lr_drops
            .iter()
            .filter(|(from, _)| *from <= step)
            .max_by_key(|(from, _)| *from)
            .map_or(self.lr, |(_, lr)| *lr)
    }
}

fn default_checkpoint_secs() -> u64 {
    180
}

fn default_validate_every() -> usize {
    500
}

/// A model TOML: `[model]` plus an optional `[train]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Architecture.
    pub model: ModelConfig,
    /// Training hyperparameters (needed by `neco train` only).
    pub train: Option<TrainConfig>,
}

impl ConfigFile {
    /// Parse a model TOML.
    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        let cfg: ConfigFile = toml::from_str(text)?;
        cfg.model.validate()?;
        if let Some(tc) = &cfg.train {
            tc.validate(&cfg.model)?;
        }
        Ok(cfg)
    }
}

impl TrainConfig {
    /// Check the λ values fit the model: one per rung of a variable-rate model, else
    /// `lambda` alone; all positive.
    pub fn validate(&self, model: &ModelConfig) -> anyhow::Result<()> {
        if model.rungs > 0 {
            anyhow::ensure!(
                self.lambdas.len() == model.rungs,
                "a model of {} rungs needs {} lambdas, got {}",
                model.rungs,
                model.rungs,
                self.lambdas.len()
            );
        } else {
            anyhow::ensure!(
                self.lambdas.is_empty(),
                "lambdas are for variable-rate models (rungs > 0); set lambda"
            );
        }
        anyhow::ensure!(
            self.rung_weights.is_empty() || self.rung_weights.len() == model.rungs,
            "rung_weights must list one weight per rung ({}), got {}",
            model.rungs,
            self.rung_weights.len()
        );
        anyhow::ensure!(
            self.rung_weights.iter().all(|w| w.is_finite() && *w > 0.0),
            "rung_weights must be positive"
        );
        if let Some(ramp) = &self.rate_ramp {
            anyhow::ensure!(
                ramp.from_channel < model.m && ramp.start <= ramp.end && model.group == 1,
                "rate_ramp needs from_channel < m = {}, start <= end and a diagonal model",
                model.m
            );
        }
        check_freezable(&self.frozen, "frozen")?;
        for (what, lr) in [("lr", self.lr), ("context_lr_scale", self.context_lr_scale)]
            .into_iter()
            .chain(self.lr_drops.iter().map(|&(_, lr)| ("lr_drops", lr)))
        {
            anyhow::ensure!(
                lr.is_finite() && lr > 0.0,
                "{what}: a learning rate must be positive and finite, got {lr}"
            );
        }
        anyhow::ensure!(self.batch >= 1, "batch must be at least 1, got 0");
        anyhow::ensure!(
            self.validate_every >= 1,
            "validate_every must be at least 1 (to train without validation, pass --valid none)"
        );
        let all = std::iter::once(self.lambda).filter(|_| model.rungs == 0);
        for l in all.chain(self.lambdas.iter().copied()) {
            anyhow::ensure!(l.is_finite() && l > 0.0, "lambda must be positive, got {l}");
        }
        Ok(())
    }

    /// The λ of ladder rung `rung` (`lambda` for a fixed-rate model).
    pub fn lambda_of(&self, rung: usize) -> f64 {
        self.lambdas.get(rung).copied().unwrap_or(self.lambda)
    }

    /// The weight of rung `rung`'s loss (1 unless `rung_weights` says otherwise).
    pub fn weight_of(&self, rung: usize) -> f64 {
        self.rung_weights.get(rung).copied().unwrap_or(1.0)
    }
}

impl ModelConfig {
    /// Whether `quality` (0..=100) codes with the top band's transforms (`top_band`):
    /// from half a rung below the band's first rung up, on the ladder positions the
    /// codec interpolates steps at (q·(K − 1)/100), so each pair of transforms codes
    /// within half a rung of the rungs it trained on. Integer arithmetic: encoder and
    /// decoder decide alike from the quality in the stream.
    pub fn top_band_at(&self, quality: u8) -> bool {
        self.top_band > 0
            && 2 * u32::from(quality.min(100)) * (self.rungs as u32 - 1)
                >= (2 * self.top_band as u32 - 1) * 100
    }

    /// Channels of h_s's first hidden layer (see [`ModelConfig::hyper`]).
    pub fn hyper_width(&self) -> usize {
        if self.hyper == 0 {
            self.m
        } else {
            self.hyper
        }
    }

    /// Channels of the hidden layers of g_s (see [`ModelConfig::width`]).
    pub fn synthesis_width(&self) -> usize {
        if self.width == 0 {
            self.n
        } else {
            self.width
        }
    }

    /// Channels of the hidden layers of g_a (see [`ModelConfig::analysis_width`]).
    pub fn analysis_width(&self) -> usize {
        if self.analysis_width == 0 {
            self.synthesis_width()
        } else {
            self.analysis_width
        }
    }

    /// Check the sizes are in a range the container and the parameter path accept.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=1024).contains(&self.n)
                && (1..=1024).contains(&self.m)
                && (0..=1024).contains(&self.hyper)
                && (0..=1024).contains(&self.width)
                && (0..=1024).contains(&self.analysis_width),
            "model channels n={} m={} hyper={} width={} analysis_width={} must be in 1..=1024",
            self.n,
            self.m,
            self.hyper,
            self.width,
            self.analysis_width
        );
        anyhow::ensure!(
            (1..=neco_core::entropy::MAX_GROUP).contains(&self.group)
                && self.m.is_multiple_of(self.group),
            "channel groups of {} must be in 1..={} and divide m={}",
            self.group,
            neco_core::entropy::MAX_GROUP,
            self.m
        );
        anyhow::ensure!(
            self.rungs == 0 || (2..=MAX_RUNGS).contains(&self.rungs),
            "a rate ladder must have 2..={MAX_RUNGS} rungs, got {}",
            self.rungs
        );
        anyhow::ensure!(
            self.rungs == 0 || self.group == 1,
            "a rate ladder needs the diagonal entropy model (group = 1), got group = {}",
            self.group
        );
        anyhow::ensure!(
            self.ladder_lambdas.is_empty() || self.ladder_lambdas.len() == self.rungs,
            "ladder_lambdas must list one λ per rung ({}), got {}",
            self.rungs,
            self.ladder_lambdas.len()
        );
        anyhow::ensure!(
            self.ladder_lambdas
                .iter()
                .all(|l| l.is_finite() && *l > 0.0),
            "ladder_lambdas must be positive"
        );
        anyhow::ensure!(
            !self.context || self.group == 1,
            "the context model needs the diagonal entropy model (group = 1), got group = {}",
            self.group
        );
        anyhow::ensure!(
            self.top_band == 0 || (1..self.rungs).contains(&self.top_band),
            "top_band must name a rung above the lowest of the rate ladder (1..{}), got {}",
            self.rungs,
            self.top_band
        );
        anyhow::ensure!(
            !self.name.is_empty() && self.name.len() <= 64,
            "model name must be 1..=64 bytes, got {:?}",
            self.name
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_drops_apply_from_their_step() {
        let text = "[model]\nname = \"x\"\nn = 8\nm = 8\n[train]\nlambda = 0.01\nlr = 0.001\n\
                    lr_drops = [[100, 0.0005], [50, 0.0008]]\nbatch = 1\ncrop = 64\n";
        let tc = ConfigFile::from_toml(text).unwrap().train.unwrap();
        assert_eq!(tc.lr_at(0), 0.001);
        assert_eq!(tc.lr_at(49), 0.001);
        assert_eq!(tc.lr_at(50), 0.0008);
        assert_eq!(tc.lr_at(99), 0.0008);
        assert_eq!(tc.lr_at(100), 0.0005);
    }

    #[test]
    fn a_rate_ramp_rises_from_start_to_end_and_fits_the_model() {
        let text = |ramp: &str| {
            format!(
                "[model]\nname = \"x\"\nn = 8\nm = 8\n[train]\nlambda = 0.01\nlr = 0.001\n\
                 batch = 1\ncrop = 64\nrate_ramp = {{ {ramp} }}\n"
            )
        };
        let tc = ConfigFile::from_toml(&text("from_channel = 4, start = 10, end = 30"))
            .unwrap()
            .train
            .unwrap();
        let ramp = tc.rate_ramp.unwrap();
        let at: Vec<f64> = [0, 10, 20, 30, 99]
            .iter()
            .map(|&s| ramp.weight_at(s))
            .collect();
        assert_eq!(at, [0.0, 0.0, 0.5, 1.0, 1.0]);
        for bad in [
            "from_channel = 8, start = 0, end = 1",
            "from_channel = 4, start = 2, end = 1",
        ] {
            let err = ConfigFile::from_toml(&text(bad)).unwrap_err();
            assert!(err.to_string().contains("rate_ramp needs"), "{bad}: {err}");
        }
    }

    /// The top band codes from half a rung below its first rung; its rung must be
    /// on the ladder, above the lowest.
    #[test]
    fn the_top_band_starts_half_a_rung_below_its_first_rung() {
        let cfg = |top_band: usize, rungs: usize| ModelConfig {
            top_band,
            rungs,
            ..toml::from_str("name = \"t\"\nn = 8\nm = 8").unwrap()
        };
        // 8 rungs, the band from rung 5 (q = 71.4): from q = 64.3 up.
        let banded = cfg(5, 8);
        assert!(!banded.top_band_at(64) && banded.top_band_at(65) && banded.top_band_at(100));
        assert!(!(0..=100).any(|q| cfg(0, 8).top_band_at(q)));
        // 3 rungs, the band from rung 1 (q = 50): from q = 25 up.
        assert!(!cfg(1, 3).top_band_at(24) && cfg(1, 3).top_band_at(25));
        assert!(banded.validate().is_ok());
        for (top, rungs) in [(8, 8), (9, 8), (1, 0)] {
            let err = cfg(top, rungs).validate().unwrap_err().to_string();
            assert!(err.contains("top_band"), "{err}");
        }
    }

    #[test]
    fn a_rate_ladder_needs_one_lambda_per_rung() {
        let text = |model: &str, train: &str| {
            format!(
                "[model]\nname = \"x\"\nn = 8\nm = 8\n{model}[train]\n{train}lr = 0.001\n\
                 batch = 1\ncrop = 64\n"
            )
        };
        let ok = ConfigFile::from_toml(&text("rungs = 3\n", "lambdas = [0.1, 0.2, 0.4]\n"))
            .unwrap()
            .train
            .unwrap();
        assert_eq!((ok.lambda_of(0), ok.lambda_of(2)), (0.1, 0.4));
        assert_eq!(ok.weight_of(1), 1.0);
        let weighted = ConfigFile::from_toml(&text(
            "rungs = 2\n",
            "lambdas = [0.1, 0.2]\nrung_weights = [4, 0.5]\n",
        ))
        .unwrap()
        .train
        .unwrap();
        assert_eq!((weighted.weight_of(0), weighted.weight_of(1)), (4.0, 0.5));
        for (model, train, error) in [
            (
                "rungs = 3\n",
                "lambdas = [0.1, 0.2]\n",
                "needs 3 lambdas, got 2",
            ),
            (
                "",
                "lambdas = [0.1, 0.2]\n",
                "lambdas are for variable-rate models",
            ),
            ("rungs = 1\n", "lambdas = [0.1]\n", "2..=16 rungs, got 1"),
            (
                "rungs = 2\ngroup = 2\n",
                "lambdas = [0.1, 0.2]\n",
                "needs the diagonal",
            ),
            (
                "rungs = 2\n",
                "lambdas = [0.1, -0.2]\n",
                "must be positive, got -0.2",
            ),
            (
                "rungs = 2\nladder_lambdas = [0.1]\n",
                "lambdas = [0.1, 0.2]\n",
                "one λ per rung (2), got 1",
            ),
            (
                "rungs = 2\nladder_lambdas = [0.1, nan]\n",
                "lambdas = [0.1, 0.2]\n",
                "ladder_lambdas must be positive",
            ),
            (
                "ladder_lambdas = [0.1]\n",
                "lambda = 0.1\n",
                "one λ per rung (0), got 1",
            ),
            ("", "", "must be positive, got 0"),
            (
                "rungs = 2\n",
                "lambdas = [0.1, 0.2]\nrung_weights = [1]\n",
                "one weight per rung (2), got 1",
            ),
            (
                "",
                "lambda = 0.1\nrung_weights = [1]\n",
                "one weight per rung (0), got 1",
            ),
            (
                "rungs = 2\n",
                "lambdas = [0.1, 0.2]\nrung_weights = [1, 0]\n",
                "rung_weights must be positive",
            ),
            (
                "",
                "lambda = 0.1\nfrozen = [\"g_x\"]\n",
                "frozen names \"g_x\"",
            ),
        ] {
            let e = ConfigFile::from_toml(&text(model, train)).unwrap_err();
            assert!(e.to_string().contains(error), "{model}{train}: {e}");
        }
    }

    /// Every config committed under models/ parses and passes validation, and the
    /// transforms are n wide unless `width` (both) or `analysis_width` (g_a) says
    /// otherwise.
    #[test]
    fn the_repository_configs_are_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let cfg = ConfigFile::from_toml(&std::fs::read_to_string(&path).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let m = &cfg.model;
                let (analysis, synthesis) = if m.name.contains("a128") {
                    (128, m.n)
                } else if m.name.contains("w128") {
                    (128, 128)
                } else {
                    (m.n, m.n)
                };
                assert_eq!(m.analysis_width(), analysis, "{}", path.display());
                assert_eq!(m.synthesis_width(), synthesis, "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 2, "no configs in {}", dir.display());
        for field in ["width", "analysis_width"] {
            let wide = format!("[model]\nname = \"x\"\nn = 8\nm = 8\n{field} = 2000\n");
            let e = ConfigFile::from_toml(&wide).unwrap_err();
            assert!(e.to_string().contains(&format!(" {field}=2000")), "{e}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_training_values_are_refused() {
        let base =
            "[model]\nname = \"x\"\nn = 8\nm = 8\n[train]\nlambda = 0.01\nbatch = 1\ncrop = 64\n";
        assert!(ConfigFile::from_toml(&format!("{base}lr = 0.001\n")).is_ok());
        for (extra, expected) in [
            ("lr = 0.001\nfrozn = [\"g_a\"]\n", "unknown field `frozn`"),
            (
                "lr = nan\n",
                "learning rate must be positive and finite, got NaN",
            ),
            ("lr = 0.0\n", "got 0"),
            ("lr = -0.001\n", "got -0.001"),
            (
                "lr = 0.001\nlr_drops = [[10, inf]]\n",
                "lr_drops: a learning rate",
            ),
            ("lr = 0.001\nvalidate_every = 0\n", "--valid none"),
        ] {
            let e = ConfigFile::from_toml(&format!("{base}{extra}")).unwrap_err();
            assert!(format!("{e:#}").contains(expected), "{extra}: {e:#}");
        }
        let e = ConfigFile::from_toml(
            &base
                .replace("batch = 1", "batch = 0")
                .replace("crop", "lr = 0.001\ncrop"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("batch must be at least 1"), "{e}");
        let e = ConfigFile::from_toml(&base.replace("m = 8", "m = 8\nwidht = 16")).unwrap_err();
        assert!(e.to_string().contains("unknown field `widht`"), "{e}");
    }
}
