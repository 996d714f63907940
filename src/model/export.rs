//! Export of the float-trained parts that decide the bitstream into neco-core's
//! deterministic form: h_s → [`neco_core::entropy::HyperSynthesis`], the factorized
//! density of z → integer [`FactorizedTables`].

use burn::module::Param;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::PaddingConfig2d;
use burn::prelude::*;
use neco_core::entropy::{FactorizedTables, HyperSynthesis, Layer};

use super::factorized::FactorizedDensity;
use super::{tensor_to_vec as to_vec, transforms};

/// A layer's bias values, or `out_ch` zeros when it has none.
fn bias_or_zeros(bias: Option<&Param<Tensor<1>>>, out_ch: usize) -> Vec<f32> {
    bias.map(|b| to_vec(b.val()))
        .unwrap_or_else(|| vec![0.0; out_ch])
}

/// A `Conv2d` as a neco-core layer.
pub(crate) fn conv_layer(conv: &Conv2d) -> Layer {
    let [out_ch, in_ch, kernel, _] = conv.weight.val().dims();
    let padding = match conv.padding {
        PaddingConfig2d::Explicit(p, ..) => p,
        PaddingConfig2d::Valid => 0,
        _ => kernel / 2,
    };
    Layer::Conv {
        weight: to_vec(conv.weight.val()),
        bias: bias_or_zeros(conv.bias.as_ref(), out_ch),
        in_ch,
        out_ch,
        kernel,
        stride: conv.stride[0],
        padding,
    }
}

fn conv_transpose_layer(conv: &ConvTranspose2d) -> Layer {
    let [in_ch, out_ch, kernel, _] = conv.weight.val().dims();
    Layer::ConvTranspose {
        weight: to_vec(conv.weight.val()),
        bias: bias_or_zeros(conv.bias.as_ref(), out_ch),
        in_ch,
        out_ch,
        kernel,
        stride: conv.stride[0],
        padding: conv.padding[0],
        output_padding: conv.padding_out[0],
    }
}

impl transforms::HyperSynthesis {
    /// The same network in neco-core's deterministic arithmetic.
    pub fn export(&self) -> HyperSynthesis {
        HyperSynthesis {
            layers: vec![
                conv_transpose_layer(&self.deconv1),
                Layer::Relu,
                conv_transpose_layer(&self.deconv2),
                Layer::Relu,
                match &self.lower {
                    Some(lower) => concat_outputs(conv_layer(&self.conv3), conv_layer(lower)),
                    None => conv_layer(&self.conv3),
                },
            ],
        }
    }
}

/// One convolution computing the outputs of `a` then those of `b`, two convolutions
/// of the same input and geometry (weights are `[out][in][k][k]`, so the output
/// channels simply follow each other).
fn concat_outputs(a: Layer, b: Layer) -> Layer {
    match (a, b) {
        (
            Layer::Conv {
                mut weight,
                mut bias,
                in_ch,
                out_ch,
                kernel,
                stride,
                padding,
            },
            Layer::Conv {
                weight: w2,
                bias: b2,
                in_ch: in2,
                out_ch: out2,
                kernel: k2,
                stride: s2,
                padding: p2,
            },
        ) if (in2, k2, s2, p2) == (in_ch, kernel, stride, padding) => {
            weight.extend(w2);
            bias.extend(b2);
            Layer::Conv {
                weight,
                bias,
                in_ch,
                out_ch: out_ch + out2,
                kernel,
                stride,
                padding,
            }
        }
        _ => unreachable!("h_s heads are 3×3 convolutions of the same input"),
    }
}

/// Values evaluated per channel when freezing the density (−R..=R); mass outside is
/// coded through the escape symbol.
const Z_RADIUS: i32 = 128;
/// Tail mass below which values at the ends of the table are dropped (left to escape).
const Z_TAIL: f64 = 1e-7;

impl FactorizedDensity {
    /// Freeze the learned density into integer CDF tables, one per channel.
    pub fn export(&self, channels: usize, device: &Device) -> anyhow::Result<FactorizedTables> {
        let count = (2 * Z_RADIUS + 1) as usize;
        let values: Vec<f32> = (-Z_RADIUS..=Z_RADIUS).map(|v| v as f32).collect();
        let grid = Tensor::<1>::from_floats(values.as_slice(), device)
            .reshape([1, 1, count])
            .repeat_dim(0, channels);
        let probs = to_vec(self.likelihood(grid));
        let mut per_channel = Vec::with_capacity(channels);
        for c in 0..channels {
            let p: Vec<f64> = probs[c * count..(c + 1) * count]
                .iter()
                .map(|&v| v as f64)
                .collect();
            // Trim both tails while the dropped mass stays under Z_TAIL.
            let (mut lo, mut hi) = (0usize, count - 1);
            let (mut dropped_lo, mut dropped_hi) = (0.0, 0.0);
            while lo < hi && dropped_lo + p[lo] < Z_TAIL {
                dropped_lo += p[lo];
                lo += 1;
            }
            while hi > lo && dropped_hi + p[hi] < Z_TAIL {
                dropped_hi += p[hi];
                hi -= 1;
            }
            per_channel.push((lo as i32 - Z_RADIUS, p[lo..=hi].to_vec()));
        }
        Ok(FactorizedTables::from_probabilities(&per_channel)?)
    }
}
