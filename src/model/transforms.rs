//! Analysis / synthesis transforms and the hyper transforms.
//!
//! All spatial layers use 5×5 kernels with stride 2 (3×3 stride 1 where noted), so
//! g_a downsamples by 16 and h_a by a further 4: inputs are padded to a multiple of 64.

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::gdn::Gdn;

/// How a new transform's convolution weights start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Burn's default random initialisation, to train from.
    Random,
    /// Zeros, for a model whose parameters a record is about to replace: drawing ~2 M
    /// random numbers only to overwrite them is a visible part of loading weights.
    Zeros,
}

impl Init {
    /// The initializer of a layer whose default is `random`.
    fn or(self, random: Initializer) -> Initializer {
        match self {
            Init::Random => random,
            Init::Zeros => Initializer::Zeros,
        }
    }
}

/// A 5×5 stride-2 convolution that halves height and width.
pub(crate) fn down(cin: usize, cout: usize, init: Init, device: &Device) -> Conv2d {
    let cfg = Conv2dConfig::new([cin, cout], [5, 5])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2));
    let initializer = init.or(cfg.initializer.clone());
    cfg.with_initializer(initializer).init(device)
}

/// A 5×5 stride-2 transposed convolution that doubles height and width.
pub(crate) fn up(cin: usize, cout: usize, init: Init, device: &Device) -> ConvTranspose2d {
    let cfg = ConvTranspose2dConfig::new([cin, cout], [5, 5])
        .with_stride([2, 2])
        .with_padding([2, 2])
        .with_padding_out([1, 1]);
    let initializer = init.or(cfg.initializer.clone());
    cfg.with_initializer(initializer).init(device)
}

/// A 3×3 stride-1 convolution.
pub(crate) fn same3(cin: usize, cout: usize, init: Init, device: &Device) -> Conv2d {
    let cfg =
        Conv2dConfig::new([cin, cout], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
    let initializer = init.or(cfg.initializer.clone());
    cfg.with_initializer(initializer).init(device)
}

/// Analysis transform g_a: image → y.
///
/// # Shapes
/// - input: `[batch, 3, H, W]`, values in 0..1, H and W multiples of 16
/// - output: `[batch, M, H/16, W/16]`
#[derive(Module, Debug)]
pub struct Analysis {
    pub(crate) conv1: Conv2d,
    pub(crate) gdn1: Gdn,
    pub(crate) conv2: Conv2d,
    pub(crate) gdn2: Gdn,
    pub(crate) conv3: Conv2d,
    pub(crate) gdn3: Gdn,
    pub(crate) conv4: Conv2d,
}

impl Analysis {
    /// g_a with `n` hidden and `m` output channels.
    pub fn new(n: usize, m: usize, init: Init, device: &Device) -> Self {
        Analysis {
            conv1: down(3, n, init, device),
            gdn1: Gdn::new(n, false, device),
            conv2: down(n, n, init, device),
            gdn2: Gdn::new(n, false, device),
            conv3: down(n, n, init, device),
            gdn3: Gdn::new(n, false, device),
            conv4: down(n, m, init, device),
        }
    }

    /// Apply g_a.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.gdn1.forward(self.conv1.forward(x));
        let x = self.gdn2.forward(self.conv2.forward(x));
        let x = self.gdn3.forward(self.conv3.forward(x));
        self.conv4.forward(x)
    }
}

/// Synthesis transform g_s: ŷ → image.
///
/// # Shapes
/// - input: `[batch, M, h, w]`
/// - output: `[batch, 3, 16h, 16w]` (not clamped)
#[derive(Module, Debug)]
pub struct Synthesis {
    pub(crate) deconv1: ConvTranspose2d,
    pub(crate) igdn1: Gdn,
    pub(crate) deconv2: ConvTranspose2d,
    pub(crate) igdn2: Gdn,
    pub(crate) deconv3: ConvTranspose2d,
    pub(crate) igdn3: Gdn,
    pub(crate) deconv4: ConvTranspose2d,
}

impl Synthesis {
    /// g_s with `m` input and `n` hidden channels.
    pub fn new(n: usize, m: usize, init: Init, device: &Device) -> Self {
        Synthesis {
            deconv1: up(m, n, init, device),
            igdn1: Gdn::new(n, true, device),
            deconv2: up(n, n, init, device),
            igdn2: Gdn::new(n, true, device),
            deconv3: up(n, n, init, device),
            igdn3: Gdn::new(n, true, device),
            deconv4: up(n, 3, init, device),
        }
    }

    /// Apply g_s.
    pub fn forward(&self, y: Tensor<4>) -> Tensor<4> {
        let x = self.igdn1.forward(self.deconv1.forward(y));
        let x = self.igdn2.forward(self.deconv2.forward(x));
        let x = self.igdn3.forward(self.deconv3.forward(x));
        self.deconv4.forward(x)
    }
}

/// Hyper-analysis h_a: y → z.
///
/// # Shapes
/// - input: `[batch, M, h, w]` (h, w multiples of 4)
/// - output: `[batch, N, h/4, w/4]`
#[derive(Module, Debug)]
pub struct HyperAnalysis {
    pub(crate) conv1: Conv2d,
    pub(crate) conv2: Conv2d,
    pub(crate) conv3: Conv2d,
}

impl HyperAnalysis {
    /// h_a with `n` channels out of `m`.
    pub fn new(n: usize, m: usize, init: Init, device: &Device) -> Self {
        HyperAnalysis {
            conv1: same3(m, n, init, device),
            conv2: down(n, n, init, device),
            conv3: down(n, n, init, device),
        }
    }

    /// Apply h_a.
    pub fn forward(&self, y: Tensor<4>) -> Tensor<4> {
        let x = relu(self.conv1.forward(y));
        let x = relu(self.conv2.forward(x));
        self.conv3.forward(x)
    }
}

/// Hyper-synthesis h_s: ẑ → (scales, means) of y, in float for training.
///
/// At inference the same weights run in neco-core's deterministic parameter path
/// (see [`HyperSynthesis::export`]); this float version is never used to code.
///
/// # Shapes
/// - input: `[batch, N, h/4, w/4]`
/// - output: `[batch, 2M + L, h, w]`: channels `0..M` are scales, `M..2M` means,
///   then for the multivariate model (groups of d) the `L = M·(d − 1)/2` strictly
///   lower entries of each group's Cholesky factor
#[derive(Module, Debug)]
pub struct HyperSynthesis {
    pub(crate) deconv1: ConvTranspose2d,
    pub(crate) deconv2: ConvTranspose2d,
    pub(crate) conv3: Conv2d,
    /// The head of the strictly-lower entries of L (multivariate model only).
    pub(crate) lower: Option<Conv2d>,
}

impl HyperSynthesis {
    /// h_s from `n` channels to the parameters of `m`, through `hidden` and 1.5 ×
    /// `hidden` channels, for channel groups of `group` (1: diagonal model).
    pub fn new(
        n: usize,
        m: usize,
        hidden: usize,
        group: usize,
        init: Init,
        device: &Device,
    ) -> Self {
        HyperSynthesis {
            deconv1: up(n, hidden, init, device),
            deconv2: up(hidden, hidden * 3 / 2, init, device),
            conv3: same3(hidden * 3 / 2, 2 * m, init, device),
            lower: None,
        }
        .with_groups(m, group, device)
    }

    /// Gives a diagonal h_s the head of the multivariate model with groups of `group`,
    /// zero-initialised so that the model starts out exactly as the diagonal one.
    pub fn with_groups(mut self, m: usize, group: usize, device: &Device) -> Self {
        let hidden = self.conv3.weight.dims()[1];
        self.lower = (group > 1).then(|| {
            let out = neco_core::entropy::coupling::hyper_channels(m, group) - 2 * m;
            Conv2dConfig::new([hidden, out], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_initializer(burn::nn::Initializer::Zeros)
                .init(device)
        });
        self
    }

    /// Apply h_s.
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let x = relu(self.deconv1.forward(z));
        let x = relu(self.deconv2.forward(x));
        match &self.lower {
            Some(lower) => Tensor::cat(vec![self.conv3.forward(x.clone()), lower.forward(x)], 1),
            None => self.conv3.forward(x),
        }
    }
}

/// Transforms of their own for the top rungs of a variable-rate model (`top_band` in
/// its config): rungs `from_rung..` code with these, the lower rungs with the model's
/// g_a and g_s. The top of the range is where one pair serving every λ falls short
/// (docs/grow.md: more rate buys little there); a pair for the top alone can spend all
/// its capacity on fine detail while the other no longer has to.
#[derive(Module, Debug)]
pub struct TopBand {
    /// The band's first rung.
    pub from_rung: usize,
    /// Analysis transform of the band.
    pub g_a: Analysis,
    /// Synthesis transform of the band.
    pub g_s: Synthesis,
}

impl TopBand {
    /// A band from rung `from_rung` with transforms of the given sizes.
    pub fn new(
        from_rung: usize,
        (analysis_width, synthesis_width, m): (usize, usize, usize),
        init: Init,
        device: &Device,
    ) -> Self {
        TopBand {
            from_rung,
            g_a: Analysis::new(analysis_width, m, init, device),
            g_s: Synthesis::new(synthesis_width, m, init, device),
        }
    }

    /// A band from rung `from_rung` that starts as copies of `g_a` and `g_s` (so the
    /// model codes as before) and trains apart from them: every parameter is a new one.
    pub fn copy_of(from_rung: usize, g_a: &Analysis, g_s: &Synthesis) -> Self {
        TopBand {
            from_rung,
            g_a: g_a.clone().map(&mut NewParams),
            g_s: g_s.clone().map(&mut NewParams),
        }
    }
}

/// Gives every float parameter a new id with the same value: a cloned module shares
/// its parameters' ids, and the optimizer and the gradients know parameters by id.
struct NewParams;

impl burn::module::ModuleMapper for NewParams {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        let value = param.val();
        let require_grad = value.is_require_grad();
        burn::module::Param::from_tensor(value.detach()).set_require_grad(require_grad)
    }
}
