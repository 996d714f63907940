//! The temporal prior network `T` in Burn, for training; exported to neco-core's
//! [`TemporalPrior`](neco_core::entropy::TemporalPrior) arithmetic for coding.
//!
//! Input channels: the frame's hyper-synthesis output (2M), the previous frame's ŷ
//! (M) and the quantization step Δ as a constant plane (1). Output: 2M corrections
//! added to the hyper-synthesis output. The last layer starts at zero, so an untrained
//! prior is exactly the intra model.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use neco_core::entropy::{HyperSynthesis, Layer};

use super::export::conv_layer;
use super::grow::{leaf, put, spread};
use super::transforms::{same3, Init};

/// `T`: two 3×3 convolutions with ReLU, then a 1×1 convolution to 2M channels.
#[derive(Module, Debug)]
pub struct TemporalNet {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
}

impl TemporalNet {
    /// A new network for `m` latent channels with `hidden` channels inside; the last
    /// layer is zero, so it starts as "no correction".
    pub fn new(m: usize, hidden: usize, device: &Device) -> Self {
        TemporalNet {
            conv1: same3(3 * m + 1, hidden, Init::Random, device),
            conv2: same3(hidden, hidden, Init::Random, device),
            conv3: Conv2dConfig::new([hidden, 2 * m], [1, 1])
                .with_padding(PaddingConfig2d::Valid)
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }

    /// Hidden channels.
    pub fn hidden(&self) -> usize {
        self.conv1.weight.dims()[0]
    }

    /// The corrections for `input` (`[B, 3M + 1, h, w]`, channels as in the module
    /// docs); output `[B, 2M, h, w]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = relu(self.conv1.forward(input));
        let x = relu(self.conv2.forward(x));
        self.conv3.forward(x)
    }

    /// The same network in neco-core's deterministic arithmetic.
    pub fn export(&self) -> HyperSynthesis {
        HyperSynthesis {
            layers: vec![
                conv_layer(&self.conv1),
                Layer::Relu,
                conv_layer(&self.conv2),
                Layer::Relu,
                conv_layer(&self.conv3),
            ],
        }
    }

    /// The network of a prior in neco-core's form (as a weights file stores it), for
    /// `m` latent channels: the inverse of [`export`](Self::export).
    pub fn from_export(net: &HyperSynthesis, m: usize, device: &Device) -> anyhow::Result<Self> {
        let convs: Vec<_> = net
            .layers
            .iter()
            .filter_map(|l| match l {
                Layer::Conv {
                    weight,
                    bias,
                    in_ch,
                    out_ch,
                    kernel,
                    ..
                } => Some((weight, bias, *in_ch, *out_ch, *kernel)),
                _ => None,
            })
            .collect();
        let hidden = convs.first().map_or(0, |c| c.3);
        let mut out = TemporalNet::new(m, hidden, device);
        anyhow::ensure!(
            out.export().layers.len() == net.layers.len() && convs.len() == 3,
            "the stored temporal prior is not the {}-layer network of this model",
            out.export().layers.len()
        );
        for (conv, (weight, bias, in_ch, out_ch, kernel)) in
            [&mut out.conv1, &mut out.conv2, &mut out.conv3]
                .into_iter()
                .zip(convs)
        {
            anyhow::ensure!(
                conv.weight.dims() == [out_ch, in_ch, kernel, kernel],
                "a stored temporal prior layer maps {in_ch} to {out_ch} channels with {kernel}×{kernel} kernels; this model needs {:?}",
                conv.weight.dims()
            );
            conv.weight = Param::from_tensor(Tensor::from_data(
                TensorData::new(weight.clone(), [out_ch, in_ch, kernel, kernel]),
                device,
            ));
            conv.bias = Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(bias.clone(), [out_ch]),
                device,
            )));
        }
        Ok(out)
    }

    /// The network for `m` latent channels, more than the `m0` it has, doing what it
    /// did for the old channels and nothing for the new ones: it does not read their
    /// inputs and makes no corrections for them, yet (see [`super::grow`]).
    pub fn widen(self, m0: usize, m: usize) -> Self {
        let device = self.conv1.weight.device();
        let (hidden, k) = (self.hidden(), 3);
        // Input channels: scales, means, the previous ŷ (M each), then Δ.
        let old = self.conv1.weight.val();
        let zeros = Tensor::zeros([hidden, 3 * m + 1, k, k], &device);
        let w = spread(zeros, old.clone().narrow(1, 0, 3 * m0), 1, 3, (m0, m));
        let w = put(
            w,
            [0..hidden, 3 * m..3 * m + 1, 0..k, 0..k],
            old.narrow(1, 3 * m0, 1),
        );
        let mut conv1 = self.conv1;
        conv1.weight = leaf(w);
        // Output channels: corrections of the scales, then of the means.
        let mut conv3 = self.conv3;
        let zeros = Tensor::zeros([2 * m, hidden, 1, 1], &device);
        conv3.weight = leaf(spread(zeros, conv3.weight.val(), 0, 2, (m0, m)));
        if let Some(bias) = &mut conv3.bias {
            *bias = leaf(spread(
                Tensor::zeros([2 * m], &device),
                bias.val(),
                0,
                2,
                (m0, m),
            ));
        }
        TemporalNet {
            conv1,
            conv2: self.conv2,
            conv3,
        }
    }

    /// A network with the parameters of a burnpack record (a checkpoint).
    pub fn from_record_bytes(
        m: usize,
        hidden: usize,
        record: Vec<u8>,
        device: &Device,
    ) -> anyhow::Result<Self> {
        let record =
            burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(record))
                .map_err(|e| anyhow::anyhow!("reading temporal prior parameters: {e:?}"))?;
        TemporalNet::new(m, hidden, device)
            .try_load_record(record)
            .map_err(|e| anyhow::anyhow!("temporal prior parameters do not fit: {e:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_prior_imports_to_the_same_network() {
        let device = Device::flex();
        let net = TemporalNet::new(4, 6, &device);
        let stored = net.export();
        let back = TemporalNet::from_export(&stored, 4, &device).unwrap();
        assert_eq!(back.hidden(), 6);
        assert_eq!(back.export(), stored);
        // A prior for another number of latent channels is refused.
        let e = TemporalNet::from_export(&stored, 5, &device).unwrap_err();
        assert!(e.to_string().contains("maps 13 to 6 channels"), "{e}");
    }

    /// A prior for M = 4 with 6 hidden channels whose last layer is random instead of
    /// zero, as a trained one: it makes corrections.
    fn trained(device: &Device) -> TemporalNet {
        let mut net = TemporalNet::new(4, 6, device);
        net.conv3.weight = leaf(
            net.conv3
                .weight
                .val()
                .random_like(burn::tensor::Distribution::Normal(0.0, 1.0)),
        );
        net
    }

    /// The exported network computes what the Burn one does, on a grid that is not
    /// square (rows and columns must not trade places anywhere).
    #[test]
    fn the_exported_prior_matches_on_a_non_square_grid() {
        use burn::tensor::Distribution;
        use neco_core::entropy::Planes;
        let device = Device::flex();
        let net = trained(&device);
        let (h, w) = (5, 9);
        let input = Tensor::<4>::random([1, 13, h, w], Distribution::Normal(0.0, 1.0), &device);
        let burn = crate::model::tensor_to_vec(net.forward(input.clone()));
        let planes = Planes::new(13, h, w, crate::model::tensor_to_vec(input)).unwrap();
        let core = net.export().prepare().forward(&planes).unwrap();
        assert_eq!((core.channels, core.height, core.width), (8, h, w));
        let worst = burn
            .iter()
            .zip(&core.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "the exported prior differs by {worst}");
    }

    /// A widened prior corrects the old channels as before, from the old inputs only,
    /// and the new channels not at all.
    #[test]
    fn a_widened_prior_keeps_its_corrections() {
        use burn::tensor::Distribution;
        let device = Device::flex();
        let net = trained(&device);
        let input = Tensor::<4>::random([1, 13, 5, 7], Distribution::Normal(0.0, 1.0), &device);
        let before = net.forward(input.clone());
        // The widened input: each part of four channels followed by four new ones (which
        // must be ignored), then Δ.
        let noise = |n| Tensor::<4>::random([1, n, 5, 7], Distribution::Normal(0.0, 1.0), &device);
        let mut parts = Vec::new();
        for part in 0..3 {
            parts.push(input.clone().narrow(1, part * 4, 4));
            parts.push(noise(4));
        }
        parts.push(input.narrow(1, 12, 1));
        let after = net.widen(4, 8).forward(Tensor::cat(parts, 1));
        let expect = Tensor::cat(
            vec![
                before.clone().narrow(1, 0, 4),
                Tensor::zeros([1, 4, 5, 7], &device),
                before.narrow(1, 4, 4),
                Tensor::zeros([1, 4, 5, 7], &device),
            ],
            1,
        );
        let worst = crate::model::tensor_to_vec((after - expect).abs().max())[0];
        assert!(worst < 1e-5, "corrections moved by {worst}");
    }
}
