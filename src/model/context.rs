//! The checkerboard context model (He et al. 2021), training side.
//!
//! ŷ is split over a checkerboard of the latent grid: the *anchors* (row + column
//! even) are coded first with the hyperprior's parameters alone; the other half is
//! coded second, with parameters refined from the decoded anchors around each
//! element. Both halves stay parallel (no raster-order dependence), so decoding
//! costs two passes of the parameter path instead of one.
//!
//! The refinement is a correction added to h_s's output at the non-anchors only, with
//! a zero-initialised last layer: a context model added to trained weights starts out
//! as exactly the model it was added to.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::transforms::Init;

/// Context of the non-anchors from the anchors' ŷ, mixed with h_s's parameters.
///
/// # Shapes
/// - h_s output `hs`: `[B, 2M, h, w]` (scales, then means: the diagonal model)
/// - `y_hat`: `[B, M, h, w]`, the quantized latents (only the anchors are read)
/// - output: `[B, 2M, h, w]`
#[derive(Module, Debug)]
pub struct CheckerboardContext {
    /// 5×5 convolution of the anchors' ŷ (zeros at the non-anchors), M → 2M.
    pub(crate) context: Conv2d,
    /// 1×1 convolution of (h_s output, context), 4M → 2M, then ReLU.
    pub(crate) mix: Conv2d,
    /// 1×1 convolution, 2M → 2M, zero-initialised: the correction to the scales and
    /// means of the non-anchors.
    pub(crate) head: Conv2d,
}

impl CheckerboardContext {
    /// The context model of `m` latent channels; `head` always starts at zero.
    pub fn new(m: usize, init: Init, device: &Device) -> Self {
        let conv = |cin: usize, cout: usize, k: usize, zero: bool| {
            let cfg = Conv2dConfig::new([cin, cout], [k, k])
                .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2));
            let initializer = if zero || init == Init::Zeros {
                Initializer::Zeros
            } else {
                cfg.initializer.clone()
            };
            cfg.with_initializer(initializer).init(device)
        };
        CheckerboardContext {
            context: conv(m, 2 * m, 5, false),
            mix: conv(4 * m, 2 * m, 1, false),
            head: conv(2 * m, 2 * m, 1, true),
        }
    }

    /// The parameters of every element: `hs` at the anchors, `hs` plus the context
    /// correction at the non-anchors.
    pub fn forward(&self, hs: Tensor<4>, y_hat: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = y_hat.dims();
        let anchors = anchor_mask(h, w, &y_hat.device());
        let context = self.context.forward(y_hat * anchors.clone());
        let mixed = relu(self.mix.forward(Tensor::cat(vec![hs.clone(), context], 1)));
        let others = anchors.neg().add_scalar(1.0);
        hs + self.head.forward(mixed) * others
    }
}

/// Whether latent (`row`, `col`) is an anchor: coded in the first pass.
pub fn is_anchor(row: usize, col: usize) -> bool {
    (row + col).is_multiple_of(2)
}

/// 1 at the anchors of an `h`×`w` grid, 0 elsewhere, `[1, 1, h, w]`.
pub fn anchor_mask(h: usize, w: usize, device: &Device) -> Tensor<4> {
    let data: Vec<f32> = (0..h * w)
        .map(|i| f32::from(u8::from(is_anchor(i / w, i % w))))
        .collect();
    Tensor::from_data(TensorData::new(data, [1, 1, h, w]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tensor_to_vec;
    use burn::tensor::Distribution;

    fn random(shape: [usize; 4], device: &Device) -> Tensor<4> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    /// A fresh context model changes nothing: the model it is added to is unchanged.
    #[test]
    fn starts_as_the_identity() {
        let device = Device::flex();
        let ctx = CheckerboardContext::new(4, Init::Random, &device);
        let hs = random([2, 8, 5, 6], &device);
        let out = ctx.forward(hs.clone(), random([2, 4, 5, 6], &device));
        assert_eq!(tensor_to_vec(out), tensor_to_vec(hs));
    }

    /// The decoder can follow: the anchors' parameters are h_s's alone, and the
    /// non-anchors' depend on the anchors' ŷ but not on any non-anchor's.
    #[test]
    fn reads_only_what_is_decoded_first() {
        let device = Device::flex();
        let (m, h, w) = (3, 6, 7);
        let mut ctx = CheckerboardContext::new(m, Init::Random, &device);
        // A non-zero head, as after training.
        ctx.head.weight = ctx
            .head
            .weight
            .clone()
            .map(|t| t.random_like(Distribution::Normal(0.0, 1.0)));
        let hs = random([1, 2 * m, h, w], &device);
        let y = random([1, m, h, w], &device);
        let anchors = anchor_mask(h, w, &device);
        let others = anchors.clone().neg().add_scalar(1.0);
        let base = tensor_to_vec(ctx.forward(hs.clone(), y.clone()));
        // Changing the non-anchors' ŷ changes nothing.
        let moved = y.clone() + random([1, m, h, w], &device) * others;
        assert_eq!(tensor_to_vec(ctx.forward(hs.clone(), moved)), base);
        // Changing the anchors' ŷ changes the non-anchors' parameters only.
        let moved = y + random([1, m, h, w], &device) * anchors;
        let after = tensor_to_vec(ctx.forward(hs.clone(), moved));
        let hs = tensor_to_vec(hs);
        let (mut changed, plane) = (0, h * w);
        for (i, (a, b)) in after.iter().zip(&base).enumerate() {
            let p = i % plane;
            if is_anchor(p / w, p % w) {
                assert_eq!(*a, hs[i], "anchor parameter {i} is h_s's");
            } else if a != b {
                changed += 1;
            }
        }
        assert!(changed > 0, "the anchors inform the other half");
    }
}
