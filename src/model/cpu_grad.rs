//! g_s and its gradient with respect to its input on neco's CPU kernels, for the
//! encoder's latent refinement (`--refine`, src/codec/refine.rs).
//!
//! Refinement descends a loss through g_s with the weights fixed, so it needs only
//! ∂L/∂ŷ, never the weights' gradients; on Burn's autodiff (`flex`) g_s took most of
//! a refinement step's ~0.35 s on a 768×512 image, ≈ 0.1 s here (docs/refine.md). The
//! backward pass reuses the forward kernels:
//!
//! * the adjoint of a 5×5 stride-2 transposed convolution (padding 2) is the 5×5
//!   stride-2 convolution (padding 2) with the same weights read as `[c_in][c_out]`
//!   → `[out][in]`, unflipped: output `2i + k − 2` of the transposed convolution takes
//!   input `i` times tap `k`, so the input's gradient sums the output's gradient at
//!   `2i + k − 2` times tap `k`, which is a strided correlation — g_a's layer type;
//! * inverse GDN (`out_i = x_i · n_i`, `n_i = β_i + Σ_j γ_ij |x_j|`, src/model/gdn.rs)
//!   has `∂L/∂x_k = g_k n_k + sign(x_k) Σ_i g_i x_i γ_ik` for the output's gradient g:
//!   one more channel-mixing product per layer, from the kept layer input x.

use burn::nn::conv::ConvTranspose2d;
use rayon::prelude::*;

use super::cpu::{
    abs_times, matmul, pad, to_channels_last, to_planar, zeroed, Conv, ConvUp, Dst, Post,
};
use super::gdn::Gdn;
use super::tensor_to_vec;
use super::transforms::Synthesis;

/// Pixels per block of the inverse-GDN backward pass.
const BLOCK_PIXELS: usize = 1024;

/// An inverse GDN: its forward pass (β and `G[j][i] = |γ_ij|`) and `H[i][k] = |γ_ik|`
/// for the backward pass's `(g ⊙ x)·H`.
#[derive(Debug, Clone)]
struct Igdn {
    post: Post,
    h: Vec<f32>,
}

impl Igdn {
    fn new(layer: &Gdn) -> Igdn {
        assert!(layer.inverse, "g_s's normalizations are inverse GDN");
        let h = tensor_to_vec(layer.gamma.val())
            .iter()
            .map(|v| v.abs())
            .collect();
        Igdn {
            post: Post::gdn(layer),
            h,
        }
    }

    /// The gradient with respect to the layer's input `x` (pixels × c, channels-last)
    /// for the gradient `grad` of its output, in place of `grad`.
    fn backward(&self, x: &[f32], grad: &mut [f32]) {
        let Post::Gdn { beta, g: gm, .. } = &self.post else {
            unreachable!("Igdn::new makes a GDN")
        };
        let c = beta.len();
        assert_eq!(x.len(), grad.len());
        grad.par_chunks_mut(BLOCK_PIXELS * c)
            .zip(x.par_chunks(BLOCK_PIXELS * c))
            .for_each(|(g, x)| {
                let pixels = x.len() / c;
                let norm = abs_times(x, gm, c);
                let t: Vec<f32> = g.iter().zip(x).map(|(g, x)| g * x).collect();
                let mut u = vec![0f32; x.len()];
                matmul(
                    Dst::rows(&mut u, c),
                    (&t, c),
                    &self.h,
                    (pixels, c, c),
                    false,
                );
                for (((g, x), n), u) in g
                    .chunks_exact_mut(c)
                    .zip(x.chunks_exact(c))
                    .zip(norm.chunks_exact(c))
                    .zip(u.chunks_exact(c))
                {
                    for k in 0..c {
                        let sign = if x[k] > 0.0 {
                            1.0
                        } else if x[k] < 0.0 {
                            -1.0
                        } else {
                            0.0
                        };
                        g[k] = g[k] * (n[k] + beta[k]) + sign * u[k];
                    }
                }
            });
    }
}

/// The adjoint of a 5×5 stride-2 transposed convolution: see the module doc.
fn adjoint(up: &ConvTranspose2d) -> Conv {
    let [cin, cout, k, _] = up.weight.val().dims();
    let src = tensor_to_vec(up.weight.val());
    Conv::from_weights(&src, [cin, cout, k], (2, 2), vec![0.0; cin], Post::None)
}

/// g_s's forward pass and its input gradient on the CPU kernels.
#[derive(Debug, Clone)]
pub struct CpuSynthesisGrad {
    /// The four up-sampling layers, without their inverse GDN (applied apart, so that
    /// its input can be kept).
    ups: Vec<ConvUp>,
    /// The inverse GDN after each of the first three.
    igdn: Vec<Igdn>,
    /// The adjoint of each up-sampling layer.
    downs: Vec<Conv>,
}

/// What the backward pass needs from the forward one: each inverse GDN's input,
/// channels-last with a border of one zero pixel.
pub struct Tape {
    igdn_inputs: Vec<Vec<f32>>,
    /// The latent's size.
    size: (usize, usize),
}

impl CpuSynthesisGrad {
    /// The kernels for the parameters of `g_s`.
    pub fn new(g_s: &Synthesis) -> Self {
        let deconvs = [&g_s.deconv1, &g_s.deconv2, &g_s.deconv3, &g_s.deconv4];
        CpuSynthesisGrad {
            ups: deconvs.iter().map(|d| ConvUp::new(d, Post::None)).collect(),
            igdn: [&g_s.igdn1, &g_s.igdn2, &g_s.igdn3].map(Igdn::new).to_vec(),
            downs: deconvs.iter().map(|d| adjoint(d)).collect(),
        }
    }

    /// x̂ = g_s(ŷ) for a planar `[M, h, w]` latent: planar `[3, 16h, 16w]` (not
    /// clamped), and the tape for [`backward`](Self::backward).
    pub fn forward(&self, y: &[f32], h: usize, w: usize) -> (Vec<f32>, Tape) {
        let cin = self.ups[0].cin;
        assert_eq!(y.len(), cin * h * w);
        let mut x = pad(&to_channels_last(y, cin, h * w), (h, w, cin), 1);
        let (mut lh, mut lw) = (h, w);
        let mut igdn_inputs = Vec::with_capacity(self.igdn.len());
        for (i, layer) in self.ups.iter().enumerate() {
            let out_pad = usize::from(i + 1 < self.ups.len());
            x = layer.forward(&x, lh, lw, out_pad);
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
            igdn_inputs,
            size: (h, w),
        };
        (to_planar(&x, 3), tape)
    }

    /// ∂L/∂ŷ (planar `[M, h, w]`) for ∂L/∂x̂ `dx` (planar `[3, 16h, 16w]`), at the ŷ the
    /// tape was made for.
    pub fn backward(&self, tape: &Tape, dx: &[f32]) -> Vec<f32> {
        let (h, w) = tape.size;
        let (mut lh, mut lw) = (16 * h, 16 * w);
        assert_eq!(dx.len(), 3 * lh * lw);
        let mut grad = to_channels_last(dx, 3, lh * lw);
        for (i, down) in self.downs.iter().enumerate().rev() {
            let padded = pad(&grad, (lh, lw, down.cin), 2);
            (grad, lh, lw) = down.forward(&padded, lh, lw, 0);
            if i > 0 {
                let x = interior(&tape.igdn_inputs[i - 1], (lh, lw, down.cout));
                self.igdn[i - 1].backward(&x, &mut grad);
            }
        }
        to_planar(&grad, self.downs[0].cout)
    }
}

/// The `h × w × c` interior of a buffer with a border of one pixel.
fn interior(x: &[f32], (h, w, c): (usize, usize, usize)) -> Vec<f32> {
    let row = (w + 2) * c;
    assert_eq!(x.len(), (h + 2) * row);
    let mut out = zeroed(h * w * c);
    out.par_chunks_mut(w * c)
        .zip(x[row..].par_chunks(row))
        .for_each(|(dst, src)| dst.copy_from_slice(&src[c..c + w * c]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpu::tests::{random, rel_err};
    use crate::model::cpu::CpuSynthesis;
    use crate::model::transforms::Init;
    use burn::prelude::*;

    #[test]
    fn forward_and_gradient_match_burns_autodiff() {
        // Narrow layers (plain phase convolutions) and layers wide enough for the
        // Winograd kernels, as the default weights' (n = 64, m a multiple of 16).
        check_gradient(16, 24, &[(3, 5), (1, 7), (6, 4)]);
        check_gradient(64, 32, &[(2, 3), (4, 4)]);
    }

    fn check_gradient(n: usize, m: usize, sizes: &[(usize, usize)]) {
        let device = Device::flex().autodiff();
        // Trained-like inverse GDN: γ well off the diagonal too, so the channel mixing
        // of its gradient is exercised.
        let mut g_s = Synthesis::new(n, m, Init::Random, &device);
        for (i, gdn) in [&mut g_s.igdn1, &mut g_s.igdn2, &mut g_s.igdn3]
            .into_iter()
            .enumerate()
        {
            let gamma: Vec<f32> = random(n * n, 100 + i as u64)
                .iter()
                .map(|v| 3.2 / n as f32 * v)
                .collect();
            let beta: Vec<f32> = random(n, 200 + i as u64)
                .iter()
                .map(|v| 1.0 + 0.5 * v)
                .collect();
            gdn.gamma = burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(gamma, [n, n, 1, 1]),
                &device,
            ));
            gdn.beta = burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(beta, [n]),
                &device,
            ));
        }
        let ours = CpuSynthesisGrad::new(&g_s);
        for &(h, w) in sizes {
            let y = random(m * h * w, 7 + h as u64);
            let target = random(3 * 256 * h * w, 11);
            // L = Σ (x̂ − t)² / 2: ∂L/∂x̂ = x̂ − t.
            let (x_hat, tape) = ours.forward(&y, h, w);
            let plain = CpuSynthesis::new(&g_s).forward(&y, h, w);
            assert!(rel_err(&x_hat, &plain) < 1e-6, "n{n} {h}x{w}: forward");
            let dx: Vec<f32> = x_hat.iter().zip(&target).map(|(a, b)| a - b).collect();
            let dy = ours.backward(&tape, &dx);

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
        }
    }
}
