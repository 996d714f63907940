//! The temporal prior network `T` in Burn, for training; exported to neco-core's
//! [`TemporalPrior`](neco_core::entropy::TemporalPrior) arithmetic for coding.
//!
//! Input channels: the frame's hyper-synthesis output (2M), the previous frame's ŷ
//! (M) and the quantization step Δ as a constant plane (1). Output: 2M corrections
//! added to the hyper-synthesis output. The last layer starts at zero, so an untrained
//! prior is exactly the intra model.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use neco_core::entropy::{HyperSynthesis, Layer};

use super::export::conv_layer;
use super::transforms::same3;

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
            conv1: same3(3 * m + 1, hidden, device),
            conv2: same3(hidden, hidden, device),
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
