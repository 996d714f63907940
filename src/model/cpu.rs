//! g_a, h_a and g_s on neco's CPU kernels (crates/neco-kernels), built from the Burn
//! modules' parameters.
//!
//! Burn's `flex` backend runs a convolution as im2col + gemm on planar tensors and a
//! transposed convolution as gemm + a scatter (col2im) that is a fifth of the decode
//! profile; the kernels work on channels-last buffers, split the transposed
//! convolutions into phases and run the wide layers as Winograd convolutions. The
//! results equal Burn's up to float rounding (the sums run in another order), which is
//! all the codec needs: the transforms are outside the bit-exact part of the format
//! (tests/golden.rs pins the decoded latents exactly, the pixels within a tolerance).

use burn::module::Param;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::PaddingConfig2d;
use burn::prelude::*;
use neco_kernels::conv::{pad, run_convs, to_channels_last, to_planar, Conv, ConvUp, Post};
pub use neco_kernels::Precision;

pub use neco_kernels::conv::supports_synthesis_width;

use super::gdn::Gdn;
use super::tensor_to_vec;
use super::transforms::{Analysis, HyperAnalysis, Synthesis};

/// The forward pass of a (possibly inverse) GDN `layer`.
pub(super) fn gdn_post(layer: &Gdn) -> Post {
    let beta = tensor_to_vec(layer.beta.val());
    let gamma = tensor_to_vec(layer.gamma.val());
    Post::gdn(&beta, &gamma, layer.inverse)
}

/// A layer's bias, or zeros.
fn bias_of(bias: Option<&Param<Tensor<1>>>, n: usize) -> Vec<f32> {
    bias.map(|b| tensor_to_vec(b.val()))
        .unwrap_or_else(|| vec![0.0; n])
}

/// The kernels' layer for Burn's convolution `conv`, followed by `post`.
pub(super) fn conv_of(conv: &Conv2d, post: Post, precision: Precision) -> Conv {
    let [cout, cin, k, kw] = conv.weight.val().dims();
    assert_eq!(k, kw, "square kernels only");
    let p = match conv.padding {
        PaddingConfig2d::Explicit(p, ..) => p,
        PaddingConfig2d::Valid => 0,
        _ => k / 2,
    };
    let src = tensor_to_vec(conv.weight.val());
    let bias = bias_of(conv.bias.as_ref(), cout);
    let (s, size) = ((conv.stride[0], p), [cout, cin, k]);
    Conv::from_weights(&src, size, s, (bias, post), precision)
}

/// The kernels' layer for Burn's transposed convolution `conv` (5×5, stride 2, padding
/// 2, output padding 1: the transforms' up-sampling layer), followed by `post`.
pub(super) fn conv_up_of(conv: &ConvTranspose2d, post: Post, precision: Precision) -> ConvUp {
    let [cin, cout, k, kw] = conv.weight.val().dims();
    assert!(
        (k, kw, conv.stride, conv.padding, conv.padding_out) == (5, 5, [2, 2], [2, 2], [1, 1]),
        "only the 5×5 stride-2 up-sampling layer of the transforms is supported"
    );
    let src = tensor_to_vec(conv.weight.val());
    let bias = bias_of(conv.bias.as_ref(), cout);
    ConvUp::from_weights(&src, [cin, cout], (bias, post), precision)
}

/// A chain of convolutions on the CPU kernels of this module: g_a or h_a.
#[derive(Debug, Clone)]
pub struct CpuConvChain {
    layers: Vec<Conv>,
}

impl CpuConvChain {
    /// g_a: four 5×5 stride-2 convolutions, GDN after the first three.
    pub fn analysis(g_a: &Analysis) -> Self {
        // The widest layer on one thread, the other three on the other: building the
        // Winograd kernels is most of a one-image run's set-up.
        let ((conv1, conv2, conv3), conv4) = rayon::join(
            || {
                (
                    conv_of(&g_a.conv1, gdn_post(&g_a.gdn1), Precision::F32),
                    conv_of(&g_a.conv2, gdn_post(&g_a.gdn2), Precision::F32),
                    conv_of(&g_a.conv3, gdn_post(&g_a.gdn3), Precision::F32),
                )
            },
            || conv_of(&g_a.conv4, Post::None, Precision::F32),
        );
        CpuConvChain {
            layers: vec![conv1, conv2, conv3, conv4],
        }
    }

    /// h_a: a 3×3 and two 5×5 stride-2 convolutions, ReLU between them.
    pub fn hyper_analysis(h_a: &HyperAnalysis) -> Self {
        CpuConvChain {
            layers: vec![
                conv_of(&h_a.conv1, Post::Relu, Precision::F32),
                conv_of(&h_a.conv2, Post::Relu, Precision::F32),
                conv_of(&h_a.conv3, Post::None, Precision::F32),
            ],
        }
    }

    /// The chain on a planar `[c_in, h, w]` input whose sides every stride divides
    /// (g_a: multiples of 16; h_a: of 4); returns the planar output.
    pub fn forward(&self, x: &[f32], h: usize, w: usize) -> Vec<f32> {
        assert_eq!(x.len(), self.layers[0].cin * h * w);
        run_convs(&self.layers, x, h, w).0
    }
}

/// g_s on the CPU kernels of this module.
#[derive(Debug, Clone)]
pub struct CpuSynthesis {
    layers: Vec<ConvUp>,
}

impl CpuSynthesis {
    /// The kernels for the parameters of `g_s`, the wide layers multiplying in
    /// `precision`.
    pub fn new(g_s: &Synthesis, precision: Precision) -> Self {
        // As in [`CpuConvChain::analysis`]: the widest layer on a thread of its own.
        let (deconv1, (deconv2, deconv3, deconv4)) = rayon::join(
            || conv_up_of(&g_s.deconv1, gdn_post(&g_s.igdn1), precision),
            || {
                (
                    conv_up_of(&g_s.deconv2, gdn_post(&g_s.igdn2), precision),
                    conv_up_of(&g_s.deconv3, gdn_post(&g_s.igdn3), precision),
                    conv_up_of(&g_s.deconv4, Post::None, precision),
                )
            },
        );
        CpuSynthesis {
            layers: vec![deconv1, deconv2, deconv3, deconv4],
        }
    }

    /// x̂ = g_s(ŷ) for a planar `[M, h, w]` latent; returns planar `[3, 16h, 16w]`
    /// (not clamped).
    pub fn forward(&self, y: &[f32], h: usize, w: usize) -> Vec<f32> {
        let cin = self.layers[0].cin;
        assert_eq!(y.len(), cin * h * w);
        let mut x = pad(&to_channels_last(y, cin, h * w), (h, w, cin), 1);
        let (mut h, mut w) = (h, w);
        for (i, layer) in self.layers.iter().enumerate() {
            let out_pad = usize::from(i + 1 < self.layers.len());
            x = layer.forward(&x, h, w, out_pad);
            (h, w) = (2 * h, 2 * w);
        }
        to_planar(&x, 3)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::transforms::{Analysis, HyperAnalysis, Init, Synthesis};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// `n` values uniform in [−1, 1), seeded.
    pub(in crate::model) fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// Largest |a − b| relative to the largest |b|.
    pub(in crate::model) fn rel_err(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    fn burn<const D: usize>(x: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::from_data(TensorData::new(x.to_vec(), shape), device)
    }

    #[test]
    fn analysis_matches_burn() {
        let device = Device::flex();
        let g_a = Analysis::new(16, 24, Init::Random, &device);
        let (h, w) = (48, 80);
        let x = random(3 * h * w, 1)
            .iter()
            .map(|v| v.abs())
            .collect::<Vec<_>>();
        let ours = CpuConvChain::analysis(&g_a).forward(&x, h, w);
        let theirs = tensor_to_vec(g_a.forward(burn(&x, [1, 3, h, w], &device)));
        assert!(
            rel_err(&ours, &theirs) < 1e-5,
            "{}",
            rel_err(&ours, &theirs)
        );
    }

    #[test]
    fn hyper_analysis_matches_burn() {
        let device = Device::flex();
        let h_a = HyperAnalysis::new(12, 20, Init::Random, &device);
        let (h, w) = (8, 12);
        let y = random(20 * h * w, 2);
        let ours = CpuConvChain::hyper_analysis(&h_a).forward(&y, h, w);
        let theirs = tensor_to_vec(h_a.forward(burn(&y, [1, 20, h, w], &device)));
        assert!(
            rel_err(&ours, &theirs) < 1e-5,
            "{}",
            rel_err(&ours, &theirs)
        );
    }

    #[test]
    fn synthesis_matches_burn() {
        let device = Device::flex();
        let g_s = Synthesis::new(16, 24, Init::Random, &device);
        // Odd sizes and a single row: every phase meets the borders; 40 rows of 8
        // make several blocks.
        for (h, w) in [(3, 5), (1, 7), (4, 4), (40, 8)] {
            let y = random(24 * h * w, 3);
            let ours = CpuSynthesis::new(&g_s, Precision::F32).forward(&y, h, w);
            let theirs = tensor_to_vec(g_s.forward(burn(&y, [1, 24, h, w], &device)));
            assert!(
                rel_err(&ours, &theirs) < 1e-5,
                "{h}x{w}: {}",
                rel_err(&ours, &theirs)
            );
        }
    }
}
