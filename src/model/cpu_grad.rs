//! g_a and g_s with their gradients on neco's CPU kernels: the input gradient of g_s
//! for the encoder's latent refinement (`--refine`, src/codec/refine.rs), and the
//! parameters' gradients of both for training on the CPU (src/train/trainer.rs).
//!
//! On Burn's autodiff (`flex`) the convolutions of g_a and g_s were ≈ 85 % of a
//! training step and g_s most of a refinement step. The backward passes reuse the
//! forward kernels:
//!
//! * the adjoint of a 5×5 stride-2 transposed convolution (padding 2) is the 5×5
//!   stride-2 convolution (padding 2) with the same weights read as `[c_in][c_out]`
//!   → `[out][in]`, unflipped: output `2i + k − 2` of the transposed convolution takes
//!   input `i` times tap `k`, so the input's gradient sums the output's gradient at
//!   `2i + k − 2` times tap `k`, which is a strided correlation — g_a's layer type;
//!   and the other way round, the adjoint of g_a's convolution is the transposed
//!   convolution whose `[c_in][c_out]` weights are the convolution's `[out][in]`;
//! * both layer types pair a low-resolution grid `i` with taps at `2i + k` of a
//!   high-resolution one padded by 2 (a convolution's input and output, a transposed
//!   convolution's output and input), so one function gives both weight gradients:
//!   `Σ_i lo[i]ᵀ · hi[2i + k]`, one matrix product over the gathered taps;
//! * (inverse) GDN (`n_i = β_i + Σ_j γ_ij |x_j|`, out `x_i / n_i` or `x_i · n_i`,
//!   src/model/gdn.rs) has, for the output's gradient g and `u_i = −g_i x_i / n_i²`
//!   (GDN) or `g_i x_i` (inverse), `∂L/∂x_k = g_k / n_k` or `g_k n_k` plus
//!   `sign(x_k) Σ_i u_i γ_ik`, `∂L/∂β_i = Σ u_i` and `∂L/∂γ_ij = Σ u_i |x_j|` (times
//!   the sign of the stored parameter, whose absolute value the layer uses).

use burn::module::Param;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::optim::GradientsParams;
use burn::prelude::*;
use rayon::prelude::*;

use neco_kernels::conv::{abs_times, pad, to_channels_last, to_planar, zeroed, Conv, ConvUp, Post};
use neco_kernels::grad::{channel_sums, strided_weight_grad};
use neco_kernels::matmul::{add_to, at_b, matmul, sum_in_order, Dst};

use super::cpu::{conv_of, conv_up_of, gdn_post, Precision};
use super::gdn::Gdn;
use super::tensor_to_vec;
use super::transforms::{Analysis, Synthesis};

/// Pixels per block of the GDN backward pass.
const BLOCK_PIXELS: usize = 1024;

/// A (possibly inverse) GDN: its forward pass (β and `G[j][i] = |γ_ij|`), `H[i][k] =
/// |γ_ik|` for the backward pass's `u·H`, and the signs of the stored β and γ.
#[derive(Debug, Clone)]
struct GdnGrad {
    post: Post,
    h: Vec<f32>,
    beta_sign: Vec<f32>,
    gamma_sign: Vec<f32>,
    inverse: bool,
}

/// The gradients of a GDN's stored β (`[c]`) and γ (`[c, c]`, row i for output i).
#[derive(Debug, Clone, Default)]
struct GdnParamGrads {
    beta: Vec<f32>,
    gamma: Vec<f32>,
}

fn signum(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl GdnGrad {
    fn new(layer: &Gdn) -> GdnGrad {
        let gamma = tensor_to_vec(layer.gamma.val());
        GdnGrad {
            post: gdn_post(layer),
            h: gamma.iter().map(|v| v.abs()).collect(),
            beta_sign: tensor_to_vec(layer.beta.val())
                .into_iter()
                .map(signum)
                .collect(),
            gamma_sign: gamma.into_iter().map(signum).collect(),
            inverse: layer.inverse,
        }
    }

    /// The gradient with respect to the layer's input `x` (pixels × c, channels-last)
    /// for the gradient `grad` of its output, in place of `grad`; with `params`, the
    /// stored parameters' gradients are added to it.
    fn backward(&self, x: &[f32], grad: &mut [f32], params: Option<&mut GdnParamGrads>) {
        let Post::Gdn { beta, g: gm, .. } = &self.post else {
            unreachable!("GdnGrad::new makes a GDN")
        };
        let c = beta.len();
        assert_eq!(x.len(), grad.len());
        let want = params.is_some();
        let partial: Vec<(Vec<f32>, Vec<f32>)> = grad
            .par_chunks_mut(BLOCK_PIXELS * c)
            .zip(x.par_chunks(BLOCK_PIXELS * c))
            .map(|(g, x)| {
                let pixels = x.len() / c;
                let mut norm = abs_times(x, gm, c);
                norm.chunks_exact_mut(c)
                    .for_each(|n| n.iter_mut().zip(beta).for_each(|(n, b)| *n += b));
                let t: Vec<f32> = if self.inverse {
                    g.iter().zip(x).map(|(g, x)| g * x).collect()
                } else {
                    g.iter()
                        .zip(x)
                        .zip(&norm)
                        .map(|((g, x), n)| -g * x / (n * n))
                        .collect()
                };
                let mut u = vec![0f32; x.len()];
                matmul(
                    Dst::rows(&mut u, c),
                    (&t, c),
                    &self.h,
                    (pixels, c, c),
                    false,
                );
                let part = if want {
                    let abs: Vec<f32> = x.iter().map(|v| v.abs()).collect();
                    let mut beta = vec![0f32; c];
                    t.chunks_exact(c)
                        .for_each(|r| beta.iter_mut().zip(r).for_each(|(b, v)| *b += v));
                    (beta, at_b(&t, &abs, (c, c)))
                } else {
                    Default::default()
                };
                for (((g, x), n), u) in g
                    .chunks_exact_mut(c)
                    .zip(x.chunks_exact(c))
                    .zip(norm.chunks_exact(c))
                    .zip(u.chunks_exact(c))
                {
                    for k in 0..c {
                        let direct = if self.inverse {
                            g[k] * n[k]
                        } else {
                            g[k] / n[k]
                        };
                        g[k] = direct + signum(x[k]) * u[k];
                    }
                }
                part
            })
            .collect();
        if let Some(params) = params {
            let (beta, gamma): (Vec<_>, Vec<_>) = partial.into_iter().unzip();
            let (mut beta, mut gamma) = (sum_in_order(beta, c), sum_in_order(gamma, c * c));
            mul_by(&mut beta, &self.beta_sign);
            mul_by(&mut gamma, &self.gamma_sign);
            params.add(&GdnParamGrads { beta, gamma });
        }
    }
}

impl GdnParamGrads {
    fn add(&mut self, other: &GdnParamGrads) {
        add_or_set(&mut self.beta, &other.beta);
        add_or_set(&mut self.gamma, &other.gamma);
    }
}

fn mul_by(acc: &mut [f32], v: &[f32]) {
    acc.iter_mut().zip(v).for_each(|(a, b)| *a *= b);
}

/// `acc += v`, or `acc = v` while `acc` is empty.
fn add_or_set(acc: &mut Vec<f32>, v: &[f32]) {
    if acc.is_empty() {
        acc.extend_from_slice(v);
    } else {
        add_to(acc, v);
    }
}

/// The gradients of a transform's stored parameters, in Burn's layouts, layer by
/// layer: its four (transposed) convolutions' weights and biases and its three
/// (inverse) GDN's β and γ. Empty until a backward pass adds to it.
#[derive(Debug, Clone, Default)]
pub struct ParamGrads {
    weights: [Vec<f32>; 4],
    biases: [Vec<f32>; 4],
    gdn: [GdnParamGrads; 3],
}

impl ParamGrads {
    fn add_layer(&mut self, i: usize, weight: &[f32], bias: &[f32]) {
        add_or_set(&mut self.weights[i], weight);
        add_or_set(&mut self.biases[i], bias);
    }

    /// Hand the gradients, times `scale`, to Burn's optimizer: registered in `out`
    /// under the ids of the parameters of `convs` (weights and biases, in layer
    /// order) and `gdns`, as tensors on `device` (the autodiff device's inner one).
    /// Frozen parameters (no gradient required) are left out.
    fn register(
        &self,
        convs: [(&Param<Tensor<4>>, Option<&Param<Tensor<1>>>); 4],
        gdns: [&Gdn; 3],
        scale: f32,
        out: &mut GradientsParams,
        device: &Device,
    ) {
        fn put<const D: usize>(
            param: &Param<Tensor<D>>,
            grad: &[f32],
            scale: f32,
            out: &mut GradientsParams,
            device: &Device,
        ) {
            if !param.is_require_grad() || grad.is_empty() {
                return;
            }
            let dims = param.val().dims();
            let values: Vec<f32> = grad.iter().map(|v| v * scale).collect();
            out.register(
                param.id,
                Tensor::<D>::from_data(TensorData::new(values, dims), device),
            );
        }
        for (i, (weight, bias)) in convs.into_iter().enumerate() {
            put(weight, &self.weights[i], scale, out, device);
            if let Some(bias) = bias {
                put(bias, &self.biases[i], scale, out, device);
            }
        }
        for (gdn, grads) in gdns.into_iter().zip(&self.gdn) {
            put(&gdn.beta, &grads.beta, scale, out, device);
            put(&gdn.gamma, &grads.gamma, scale, out, device);
        }
    }
}

/// The adjoint of a 5×5 stride-2 transposed convolution: see the module doc.
fn adjoint_of_up(up: &ConvTranspose2d, precision: Precision) -> Conv {
    let [cin, cout, k, _] = up.weight.val().dims();
    let src = tensor_to_vec(up.weight.val());
    let out = (vec![0.0; cin], Post::None);
    Conv::from_weights(&src, [cin, cout, k], (2, 2), out, precision)
}

/// The adjoint of a 5×5 stride-2 convolution with padding 2: see the module doc.
fn adjoint_of_down(down: &Conv2d, precision: Precision) -> ConvUp {
    let [cout, cin, _, _] = down.weight.val().dims();
    let src = tensor_to_vec(down.weight.val());
    ConvUp::from_weights(&src, [cout, cin], (vec![0.0; cin], Post::None), precision)
}

/// g_s's forward pass and its gradients on the CPU kernels.
#[derive(Debug, Clone)]
pub struct CpuSynthesisGrad {
    /// The four up-sampling layers, without their inverse GDN (applied apart, so that
    /// its input can be kept).
    ups: Vec<ConvUp>,
    /// The inverse GDN after each of the first three.
    igdn: Vec<GdnGrad>,
    /// The adjoint of each up-sampling layer.
    downs: Vec<Conv>,
    /// Whether the forward pass keeps each layer's input, which only the weights'
    /// gradients need (refinement does without: half the tape).
    keep_inputs: bool,
}

/// What the backward pass needs from the forward one: each inverse GDN's input and
/// (for the weights' gradients) each layer's input, channels-last with a border of
/// one zero pixel.
pub struct Tape {
    inputs: Vec<Vec<f32>>,
    igdn_inputs: Vec<Vec<f32>>,
    /// The latent's size.
    size: (usize, usize),
}

impl CpuSynthesisGrad {
    /// The kernels for the parameters of `g_s`, for its input's gradient
    /// ([`backward`](Self::backward)); the wide layers multiply in `precision`.
    pub fn new(g_s: &Synthesis, precision: Precision) -> Self {
        let deconvs = [&g_s.deconv1, &g_s.deconv2, &g_s.deconv3, &g_s.deconv4];
        CpuSynthesisGrad {
            ups: deconvs
                .par_iter()
                .map(|d| conv_up_of(d, Post::None, precision))
                .collect(),
            igdn: [&g_s.igdn1, &g_s.igdn2, &g_s.igdn3]
                .map(GdnGrad::new)
                .to_vec(),
            downs: deconvs
                .par_iter()
                .map(|d| adjoint_of_up(d, precision))
                .collect(),
            keep_inputs: false,
        }
    }

    /// The kernels for the parameters of `g_s`, for training: the forward pass keeps
    /// what [`backward_params`](Self::backward_params) needs.
    pub fn for_training(g_s: &Synthesis, precision: Precision) -> Self {
        CpuSynthesisGrad {
            keep_inputs: true,
            ..Self::new(g_s, precision)
        }
    }

    /// x̂ = g_s(ŷ) for a planar `[M, h, w]` latent: planar `[3, 16h, 16w]` (not
    /// clamped), and the tape for [`backward`](Self::backward).
    pub fn forward(&self, y: &[f32], h: usize, w: usize) -> (Vec<f32>, Tape) {
        let cin = self.ups[0].cin;
        assert_eq!(y.len(), cin * h * w);
        let mut x = pad(&to_channels_last(y, cin, h * w), (h, w, cin), 1);
        let (mut lh, mut lw) = (h, w);
        let mut inputs = Vec::with_capacity(self.ups.len());
        let mut igdn_inputs = Vec::with_capacity(self.igdn.len());
        for (i, layer) in self.ups.iter().enumerate() {
            let out_pad = usize::from(i + 1 < self.ups.len());
            let out = layer.forward(&x, lh, lw, out_pad);
            let input = std::mem::replace(&mut x, out);
            if self.keep_inputs {
                inputs.push(input);
            }
            (lh, lw) = (2 * lh, 2 * lw);
            if let Some(igdn) = self.igdn.get(i) {
                igdn_inputs.push(x.clone());
                // The zero border stays zero (0 · n = 0).
                let c = layer.cout;
                x.par_chunks_mut(BLOCK_PIXELS * c)
                    .for_each(|block| igdn.post.apply(block, c));
            }
        }
        let tape = Tape {
            inputs,
            igdn_inputs,
            size: (h, w),
        };
        (to_planar(&x, 3), tape)
    }

    /// ∂L/∂ŷ (planar `[M, h, w]`) for ∂L/∂x̂ `dx` (planar `[3, 16h, 16w]`), at the ŷ the
    /// tape was made for.
    pub fn backward(&self, tape: &Tape, dx: &[f32]) -> Vec<f32> {
        self.backward_with(tape, dx, None)
    }

    /// [`backward`](Self::backward), adding the gradients of g_s's parameters to
    /// `params`; the kernels must come from [`for_training`](Self::for_training).
    pub fn backward_params(&self, tape: &Tape, dx: &[f32], params: &mut ParamGrads) -> Vec<f32> {
        assert_eq!(
            tape.inputs.len(),
            self.ups.len(),
            "the weights' gradients need a tape of CpuSynthesisGrad::for_training"
        );
        self.backward_with(tape, dx, Some(params))
    }

    fn backward_with(
        &self,
        tape: &Tape,
        dx: &[f32],
        mut params: Option<&mut ParamGrads>,
    ) -> Vec<f32> {
        let (h, w) = tape.size;
        let (mut lh, mut lw) = (16 * h, 16 * w);
        assert_eq!(dx.len(), 3 * lh * lw);
        let mut grad = to_channels_last(dx, 3, lh * lw);
        for (i, down) in self.downs.iter().enumerate().rev() {
            let padded = pad(&grad, (lh, lw, down.cin), 2);
            if let Some(params) = params.as_deref_mut() {
                let cin = down.cout;
                let input = interior(&tape.inputs[i], (lh / 2, lw / 2, cin), 1);
                let weight = strided_weight_grad(&input, cin, &padded, down.cin, (lh / 2, lw / 2));
                params.add_layer(i, &weight, &channel_sums(&grad, down.cin));
            }
            (grad, lh, lw) = down.forward(&padded, lh, lw, 0);
            if i > 0 {
                let x = interior(&tape.igdn_inputs[i - 1], (lh, lw, down.cout), 1);
                let gdn_params = params.as_deref_mut().map(|p| &mut p.gdn[i - 1]);
                self.igdn[i - 1].backward(&x, &mut grad, gdn_params);
            }
        }
        to_planar(&grad, self.downs[0].cout)
    }

    /// Register `params` (from [`backward_params`](Self::backward_params)) times `scale`
    /// for `g_s`'s parameters in `out`, on `device`.
    pub fn register(
        g_s: &Synthesis,
        params: &ParamGrads,
        scale: f32,
        out: &mut GradientsParams,
        device: &Device,
    ) {
        let convs = [&g_s.deconv1, &g_s.deconv2, &g_s.deconv3, &g_s.deconv4]
            .map(|d| (&d.weight, d.bias.as_ref()));
        params.register(
            convs,
            [&g_s.igdn1, &g_s.igdn2, &g_s.igdn3],
            scale,
            out,
            device,
        );
    }
}

/// g_a's forward pass and its parameters' gradients on the CPU kernels, for training.
#[derive(Debug, Clone)]
pub struct CpuAnalysisGrad {
    /// The four convolutions, without their GDN.
    convs: Vec<Conv>,
    /// The GDN after each of the first three.
    gdn: Vec<GdnGrad>,
    /// The adjoints of the last three convolutions (the image needs no gradient).
    ups: Vec<ConvUp>,
}

/// What [`CpuAnalysisGrad::backward`] needs from the forward pass: each convolution's
/// input padded by 2 and each GDN's input, channels-last.
pub struct AnalysisTape {
    inputs: Vec<Vec<f32>>,
    gdn_inputs: Vec<Vec<f32>>,
    /// The latent's size.
    size: (usize, usize),
}

impl CpuAnalysisGrad {
    /// The kernels for the parameters of `g_a`, the wide layers multiplying in
    /// `precision`.
    pub fn new(g_a: &Analysis, precision: Precision) -> Self {
        let convs = [&g_a.conv1, &g_a.conv2, &g_a.conv3, &g_a.conv4];
        CpuAnalysisGrad {
            convs: convs
                .par_iter()
                .map(|c| conv_of(c, Post::None, precision))
                .collect(),
            gdn: [&g_a.gdn1, &g_a.gdn2, &g_a.gdn3].map(GdnGrad::new).to_vec(),
            ups: convs[1..]
                .par_iter()
                .map(|c| adjoint_of_down(c, precision))
                .collect(),
        }
    }

    /// y = g_a(x) for a planar `[3, H, W]` image (sides multiples of 16): planar `[M,
    /// H/16, W/16]`, and the tape for [`backward`](Self::backward).
    pub fn forward(&self, x: &[f32], h: usize, w: usize) -> (Vec<f32>, AnalysisTape) {
        assert_eq!(x.len(), 3 * h * w);
        let mut x = pad(&to_channels_last(x, 3, h * w), (h, w, 3), 2);
        let (mut lh, mut lw) = (h, w);
        let mut inputs = Vec::with_capacity(4);
        let mut gdn_inputs = Vec::with_capacity(3);
        for (i, conv) in self.convs.iter().enumerate() {
            let out_pad = if i + 1 < self.convs.len() { 2 } else { 0 };
            let (out, oh, ow) = conv.forward(&x, lh, lw, out_pad);
            inputs.push(std::mem::replace(&mut x, out));
            (lh, lw) = (oh, ow);
            if let Some(gdn) = self.gdn.get(i) {
                let c = conv.cout;
                gdn_inputs.push(interior(&x, (lh, lw, c), 2));
                // The zero border stays zero (0 / β = 0).
                x.par_chunks_mut(BLOCK_PIXELS * c)
                    .for_each(|block| gdn.post.apply(block, c));
            }
        }
        let m = self.convs[3].cout;
        let tape = AnalysisTape {
            inputs,
            gdn_inputs,
            size: (lh, lw),
        };
        (to_planar(&x, m), tape)
    }

    /// Add the gradients of g_a's parameters for ∂L/∂y `dy` (planar `[M, h, w]`) to
    /// `params`, at the image the tape was made for.
    pub fn backward(&self, tape: &AnalysisTape, dy: &[f32], params: &mut ParamGrads) {
        let (mut h, mut w) = tape.size;
        let m = self.convs[3].cout;
        assert_eq!(dy.len(), m * h * w);
        let mut grad = to_channels_last(dy, m, h * w);
        for i in (0..self.convs.len()).rev() {
            let (cin, cout) = (self.convs[i].cin, self.convs[i].cout);
            let weight = strided_weight_grad(&grad, cout, &tape.inputs[i], cin, (h, w));
            params.add_layer(i, &weight, &channel_sums(&grad, cout));
            if i == 0 {
                break;
            }
            let padded = pad(&grad, (h, w, cout), 1);
            grad = self.ups[i - 1].forward(&padded, h, w, 0);
            (h, w) = (2 * h, 2 * w);
            self.gdn[i - 1].backward(
                &tape.gdn_inputs[i - 1],
                &mut grad,
                Some(&mut params.gdn[i - 1]),
            );
        }
    }

    /// Register `params` (from [`backward`](Self::backward)) times `scale` for `g_a`'s
    /// parameters in `out`, on `device`.
    pub fn register(
        g_a: &Analysis,
        params: &ParamGrads,
        scale: f32,
        out: &mut GradientsParams,
        device: &Device,
    ) {
        let convs =
            [&g_a.conv1, &g_a.conv2, &g_a.conv3, &g_a.conv4].map(|c| (&c.weight, c.bias.as_ref()));
        params.register(convs, [&g_a.gdn1, &g_a.gdn2, &g_a.gdn3], scale, out, device);
    }
}

/// The `h × w × c` interior of a buffer with a border of `p` pixels.
fn interior(x: &[f32], (h, w, c): (usize, usize, usize), p: usize) -> Vec<f32> {
    let row = (w + 2 * p) * c;
    assert_eq!(x.len(), (h + 2 * p) * row);
    let mut out = zeroed(h * w * c);
    out.par_chunks_mut(w * c)
        .zip(x[p * row..].par_chunks(row))
        .for_each(|(dst, src)| dst.copy_from_slice(&src[p * c..(p + w) * c]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpu::tests::{random, rel_err};
    use crate::model::cpu::CpuSynthesis;
    use crate::model::transforms::{Analysis, Init};

    #[test]
    fn forward_and_gradient_match_burns_autodiff() {
        // Narrow layers (plain phase convolutions) and layers wide enough for the
        // Winograd kernels, as the default weights' (64 or 128 wide, m a multiple of 16).
        check_gradient(16, 24, &[(3, 5), (1, 7), (6, 4)]);
        check_gradient(64, 32, &[(2, 3), (4, 4)]);
    }

    /// Random, trained-like (inverse) GDN parameters: γ well off the diagonal too, so
    /// the channel mixing of the gradients is exercised, and some stored values
    /// negative (the layer uses their absolute values).
    fn randomise(gdns: [&mut Gdn; 3], n: usize, device: &Device) {
        for (i, gdn) in gdns.into_iter().enumerate() {
            let gamma: Vec<f32> = random(n * n, 100 + i as u64)
                .iter()
                .map(|v| 3.2 / n as f32 * v)
                .collect();
            let beta: Vec<f32> = random(n, 200 + i as u64)
                .iter()
                .map(|v| if i == 1 { -1.0 } else { 1.0 } + 0.5 * v)
                .collect();
            gdn.gamma = burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(gamma, [n, n, 1, 1]),
                device,
            ));
            gdn.beta = burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(beta, [n]),
                device,
            ));
        }
    }

    /// Fixed weights and biases for the four layers `convs` (uniform within ±1/√fan-in,
    /// the scale of Burn's default start), so that the comparison does not depend on
    /// Burn's generator, which the tests running beside this one draw from too.
    fn fix_layers(
        convs: [(
            &mut burn::module::Param<Tensor<4>>,
            Option<&mut burn::module::Param<Tensor<1>>>,
        ); 4],
        device: &Device,
    ) {
        for (i, (weight, bias)) in convs.into_iter().enumerate() {
            let dims = weight.val().dims();
            let bound = 1.0 / ((dims[1] * dims[2] * dims[3]) as f32).sqrt();
            let scaled = |n: usize, seed: u64| -> Vec<f32> {
                random(n, seed).iter().map(|v| v * bound).collect()
            };
            *weight = burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(scaled(dims.iter().product(), 300 + i as u64), dims),
                device,
            ));
            let bias = bias.expect("the transforms' layers have biases");
            let len = bias.val().dims()[0];
            *bias = burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(scaled(len, 400 + i as u64), [len]),
                device,
            ));
        }
    }

    /// Burn's gradient of `param` next to ours, relative error below `tol`.
    fn same_grad<const D: usize>(
        param: &burn::module::Param<Tensor<D>>,
        grads: &burn::tensor::Gradients,
        ours: &[f32],
        what: &str,
    ) {
        let theirs = tensor_to_vec(param.val().grad(grads).expect("a gradient"));
        let err = rel_err(ours, &theirs);
        assert!(err < 1e-3, "{what}: gradient off by {err}");
    }

    /// Burn's gradients of a transform's four layers (weights, biases) and three
    /// (inverse) GDNs (β, γ) next to ours in `params`, layer by layer.
    fn same_param_grads(
        convs: [(
            &burn::module::Param<Tensor<4>>,
            Option<&burn::module::Param<Tensor<1>>>,
        ); 4],
        gdns: [&Gdn; 3],
        grads: &burn::tensor::Gradients,
        params: &ParamGrads,
        what: &str,
    ) {
        for (i, (weight, bias)) in convs.into_iter().enumerate() {
            same_grad(
                weight,
                grads,
                &params.weights[i],
                &format!("{what} layer {i}"),
            );
            let bias = bias.expect("the transforms' layers have biases");
            same_grad(
                bias,
                grads,
                &params.biases[i],
                &format!("{what} layer {i} bias"),
            );
        }
        for (i, g) in gdns.into_iter().enumerate() {
            same_grad(
                &g.beta,
                grads,
                &params.gdn[i].beta,
                &format!("{what} gdn{i} beta"),
            );
            same_grad(
                &g.gamma,
                grads,
                &params.gdn[i].gamma,
                &format!("{what} gdn{i} gamma"),
            );
        }
    }

    fn check_gradient(n: usize, m: usize, sizes: &[(usize, usize)]) {
        let device = Device::flex().autodiff();
        let mut g_s = Synthesis::new(n, m, Init::Random, &device);
        fix_layers(
            [
                &mut g_s.deconv1,
                &mut g_s.deconv2,
                &mut g_s.deconv3,
                &mut g_s.deconv4,
            ]
            .map(|d| (&mut d.weight, d.bias.as_mut())),
            &device,
        );
        randomise([&mut g_s.igdn1, &mut g_s.igdn2, &mut g_s.igdn3], n, &device);
        let ours = CpuSynthesisGrad::for_training(&g_s, Precision::F32);
        for &(h, w) in sizes {
            let y = random(m * h * w, 7 + h as u64);
            let target = random(3 * 256 * h * w, 11);
            // L = Σ (x̂ − t)² / 2: ∂L/∂x̂ = x̂ − t.
            let (x_hat, tape) = ours.forward(&y, h, w);
            let plain = CpuSynthesis::new(&g_s, Precision::F32).forward(&y, h, w);
            assert!(rel_err(&x_hat, &plain) < 1e-6, "n{n} {h}x{w}: forward");
            let dx: Vec<f32> = x_hat.iter().zip(&target).map(|(a, b)| a - b).collect();
            let dy = ours.backward(&tape, &dx);
            let mut params = ParamGrads::default();
            let dy_too = ours.backward_params(&tape, &dx, &mut params);
            assert_eq!(dy, dy_too, "the parameters' gradients change nothing else");

            let yt = Tensor::<4>::from_data(TensorData::new(y.clone(), [1, m, h, w]), &device)
                .require_grad();
            let tt = Tensor::<4>::from_data(
                TensorData::new(target.clone(), [1, 3, 16 * h, 16 * w]),
                &device,
            );
            let loss = (g_s.forward(yt.clone()) - tt)
                .powi_scalar(2)
                .sum()
                .div_scalar(2.0);
            let grads = loss.backward();
            let theirs = tensor_to_vec(yt.grad(&grads).unwrap());
            assert!(
                rel_err(&dy, &theirs) < 1e-4,
                "n{n} {h}x{w}: gradient off by {}",
                rel_err(&dy, &theirs)
            );
            let deconvs = [&g_s.deconv1, &g_s.deconv2, &g_s.deconv3, &g_s.deconv4]
                .map(|d| (&d.weight, d.bias.as_ref()));
            let igdns = [&g_s.igdn1, &g_s.igdn2, &g_s.igdn3];
            same_param_grads(
                deconvs,
                igdns,
                &grads,
                &params,
                &format!("n{n} {h}x{w} g_s"),
            );
        }
    }

    #[test]
    fn analysis_gradients_match_burns_autodiff() {
        // Narrow (plain kernels) and wide (Winograd) layers, two image sizes.
        for (n, m, h, w) in [(16, 24, 48, 80), (64, 32, 32, 64)] {
            let device = Device::flex().autodiff();
            let mut g_a = Analysis::new(n, m, Init::Random, &device);
            fix_layers(
                [
                    &mut g_a.conv1,
                    &mut g_a.conv2,
                    &mut g_a.conv3,
                    &mut g_a.conv4,
                ]
                .map(|c| (&mut c.weight, c.bias.as_mut())),
                &device,
            );
            randomise([&mut g_a.gdn1, &mut g_a.gdn2, &mut g_a.gdn3], n, &device);
            let ours = CpuAnalysisGrad::new(&g_a, Precision::F32);
            let x: Vec<f32> = random(3 * h * w, 5).iter().map(|v| 0.5 + 0.5 * v).collect();
            let r = random(m * h * w / 256, 9);
            // L = Σ y ⊙ r: ∂L/∂y = r.
            let (y, tape) = ours.forward(&x, h, w);
            let plain = crate::model::cpu::CpuConvChain::analysis(&g_a).forward(&x, h, w);
            assert!(rel_err(&y, &plain) < 1e-6, "n{n}: forward");
            let mut params = ParamGrads::default();
            ours.backward(&tape, &r, &mut params);

            let xt = Tensor::<4>::from_data(TensorData::new(x, [1, 3, h, w]), &device);
            let rt = Tensor::<4>::from_data(TensorData::new(r, [1, m, h / 16, w / 16]), &device);
            let grads = (g_a.forward(xt) * rt).sum().backward();
            let convs = [&g_a.conv1, &g_a.conv2, &g_a.conv3, &g_a.conv4]
                .map(|c| (&c.weight, c.bias.as_ref()));
            let gdns = [&g_a.gdn1, &g_a.gdn2, &g_a.gdn3];
            same_param_grads(convs, gdns, &grads, &params, &format!("n{n} g_a"));
        }
    }
}
