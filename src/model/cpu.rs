//! neco's own CPU kernels for the float transforms g_a, h_a and g_s.
//!
//! Burn's `flex` backend runs a convolution as im2col + gemm on planar tensors and a
//! transposed convolution as gemm + a scatter (col2im) that is a fifth of the decode
//! profile. These kernels work on channels-last (`[h, w, c]`) buffers instead:
//!
//! * a convolution gathers, for a block of output rows, each output pixel's taps —
//!   `k` rows of `k·c_in` contiguous floats — and multiplies once by the `[k²·c_in,
//!   c_out]` weight matrix with the `gemm` crate (the same microkernels flex uses);
//! * a stride-2 transposed convolution is split into its four output phases (the
//!   sub-pixel decomposition): output pixel `(2a + py, 2b + px)` only sees the kernel
//!   taps of parity `(py, px)`, so each phase is an ordinary convolution of the input
//!   with a 3×3, 3×2, 2×3 or 2×2 kernel — no zero taps, no scatter — whose result is
//!   written straight into every other pixel of the output;
//! * GDN / inverse GDN and ReLU run on each block while it is in cache.
//!
//! Blocks of rows run in parallel on rayon's pool. The results equal Burn's up to
//! float rounding (the sums run in another order), which is all the codec needs: the
//! transforms are outside the bit-exact part of the format (docs/bitexact.md).

use burn::module::Param;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::PaddingConfig2d;
use burn::prelude::*;
use rayon::prelude::*;

use super::gdn::Gdn;
use super::tensor_to_vec;
use super::transforms::{Analysis, HyperAnalysis, Synthesis};

/// Output pixels per block of work (rounded to whole rows): enough rows for the gemm
/// microkernels to run at speed, small enough for the gathered taps to stay in cache.
const BLOCK_PIXELS: usize = 256;

/// Layers with fewer output channels than this compute channel-major (see
/// [`ConvUp::forward`]).
const NARROW: usize = 8;

/// Where a matrix product writes: element (i, j) of the `m×n` result goes to
/// `dst[i·rs + j·cs]`.
struct Dst<'a> {
    buf: &'a mut [f32],
    rs: usize,
    cs: usize,
}

impl<'a> Dst<'a> {
    /// A row-major destination with rows `rs` apart.
    fn rows(buf: &'a mut [f32], rs: usize) -> Self {
        Dst { buf, rs, cs: 1 }
    }
}

/// `dst (+)= a[m×k] · b[k×n]`: `a` row-major with rows `a_rs` apart (rows may
/// overlap), `b` row-major and contiguous; accumulates into `dst` when `accumulate`,
/// else overwrites it.
fn matmul(
    dst: Dst<'_>,
    (a, a_rs): (&[f32], usize),
    b: &[f32],
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.buf.len() > (m - 1) * dst.rs + (n - 1) * dst.cs);
    assert!(a.len() >= (m - 1) * a_rs + k);
    assert_eq!(b.len(), k * n);
    // SAFETY: the asserts above keep every element gemm reads (a, b) or writes (dst)
    // inside its slice; dst does not alias a or b (a `&mut` and two `&`), and distinct
    // (i, j) of dst are distinct elements as long as rs and cs do not collide, which
    // every caller ensures (one of them is 1 and the other at least n, or m).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.buf.as_mut_ptr(),
            dst.cs as isize,
            dst.rs as isize,
            accumulate,
            a.as_ptr(),
            1,
            a_rs as isize,
            b.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// What follows a convolution, applied to each block of its output.
#[derive(Debug, Clone)]
enum Post {
    None,
    Relu,
    /// (Inverse) GDN with effective β and γ: `norm = β + |x|·G`, `G[j][i] = |γ_ij|`.
    Gdn {
        beta: Vec<f32>,
        g: Vec<f32>,
        inverse: bool,
    },
}

impl Post {
    fn gdn(layer: &Gdn) -> Post {
        let beta = tensor_to_vec(layer.beta.val())
            .iter()
            .map(|b| b.abs() + 1e-6)
            .collect::<Vec<_>>();
        let c = beta.len();
        let gamma = tensor_to_vec(layer.gamma.val());
        let mut g = vec![0f32; c * c];
        for i in 0..c {
            for j in 0..c {
                g[j * c + i] = gamma[i * c + j].abs();
            }
        }
        Post::Gdn {
            beta,
            g,
            inverse: layer.inverse,
        }
    }

    /// Apply to `x`, `pixels × c` channels-last.
    fn apply(&self, x: &mut [f32], c: usize) {
        match self {
            Post::None => {}
            Post::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
            Post::Gdn { beta, g, inverse } => {
                let pixels = x.len() / c;
                let abs: Vec<f32> = x.iter().map(|v| v.abs()).collect();
                let mut norm: Vec<f32> = beta.iter().copied().cycle().take(x.len()).collect();
                matmul(Dst::rows(&mut norm, c), (&abs, c), g, (pixels, c, c), true);
                if *inverse {
                    x.iter_mut().zip(&norm).for_each(|(v, n)| *v *= n);
                } else {
                    x.iter_mut().zip(&norm).for_each(|(v, n)| *v /= n);
                }
            }
        }
    }
}

/// A layer's bias, or zeros.
fn bias_of(bias: Option<&Param<Tensor<1>>>, n: usize) -> Vec<f32> {
    bias.map(|b| tensor_to_vec(b.val()))
        .unwrap_or_else(|| vec![0.0; n])
}

/// `x` (`h × w × c`) with `p` zero pixels added on every side.
fn pad(x: &[f32], (h, w, c): (usize, usize, usize), p: usize) -> Vec<f32> {
    let pw = w + 2 * p;
    let mut out = vec![0f32; (h + 2 * p) * pw * c];
    for (y, row) in x.chunks_exact(w * c).enumerate() {
        let at = ((y + p) * pw + p) * c;
        out[at..at + w * c].copy_from_slice(row);
    }
    out
}

/// Rows per block for outputs `width` pixels wide.
fn block_rows(width: usize) -> usize {
    BLOCK_PIXELS.div_ceil(width.max(1))
}

/// A k×k convolution with stride `s` and `p` zero pixels of padding on each side.
#[derive(Debug, Clone)]
struct Conv {
    k: usize,
    s: usize,
    p: usize,
    cin: usize,
    cout: usize,
    /// `[k·k·cin, cout]`, rows ordered (ky, kx, ci).
    w: Vec<f32>,
    bias: Vec<f32>,
    post: Post,
}

impl Conv {
    fn new(conv: &Conv2d, post: Post) -> Conv {
        let [cout, cin, k, kw] = conv.weight.val().dims();
        assert_eq!(k, kw, "square kernels only");
        let p = match conv.padding {
            PaddingConfig2d::Explicit(p, ..) => p,
            PaddingConfig2d::Valid => 0,
            _ => k / 2,
        };
        let src = tensor_to_vec(conv.weight.val());
        let mut w = vec![0f32; k * k * cin * cout];
        for co in 0..cout {
            for ci in 0..cin {
                for ky in 0..k {
                    for kx in 0..k {
                        w[((ky * k + kx) * cin + ci) * cout + co] =
                            src[((co * cin + ci) * k + ky) * k + kx];
                    }
                }
            }
        }
        Conv {
            k,
            s: conv.stride[0],
            p,
            cin,
            cout,
            w,
            bias: bias_of(conv.bias.as_ref(), cout),
            post,
        }
    }

    /// Output size for an `h × w` input.
    fn out_size(&self, h: usize, w: usize) -> (usize, usize) {
        let o = |n: usize| (n + 2 * self.p - self.k) / self.s + 1;
        (o(h), o(w))
    }

    /// Apply to `x` (`h × w × cin`); returns the output and its size.
    fn forward(&self, x: &[f32], h: usize, w: usize) -> (Vec<f32>, usize, usize) {
        let (ho, wo) = self.out_size(h, w);
        let (k, s, cin, cout) = (self.k, self.s, self.cin, self.cout);
        let xp = pad(x, (h, w, cin), self.p);
        let pw = w + 2 * self.p;
        let mut out = vec![0f32; ho * wo * cout];
        let rows = block_rows(wo);
        out.par_chunks_mut(rows * wo * cout)
            .enumerate()
            .for_each(|(bi, chunk)| {
                for px in chunk.chunks_exact_mut(cout) {
                    px.copy_from_slice(&self.bias);
                }
                // Output row oy, kernel row ky: the taps of output pixel ox are the
                // k·cin contiguous floats at padded (oy·s + ky, ox·s), so the padded
                // input is the left factor as it is, rows s·cin apart.
                for (r, row) in chunk.chunks_exact_mut(wo * cout).enumerate() {
                    let oy = bi * rows + r;
                    for ky in 0..k {
                        let at = (oy * s + ky) * pw * cin;
                        let w = &self.w[ky * k * cin * cout..(ky + 1) * k * cin * cout];
                        let a = (&xp[at..], s * cin);
                        matmul(Dst::rows(row, cout), a, w, (wo, k * cin, cout), true);
                    }
                }
                self.post.apply(chunk, cout);
            });
        (out, ho, wo)
    }
}

/// The taps of a 5×5 stride-2 transposed convolution with padding 2 that reach an
/// output of parity `p`, as (kernel index, input offset), offsets ascending: output
/// `2a + p` sums inputs `a + offset` times kernel tap `index`.
fn phase_taps(p: usize) -> &'static [(usize, isize)] {
    if p == 0 {
        &[(4, -1), (2, 0), (0, 1)]
    } else {
        &[(3, 0), (1, 1)]
    }
}

/// A 5×5 stride-2 transposed convolution (padding 2, output padding 1) that doubles
/// height and width, run as four phase convolutions.
#[derive(Debug, Clone)]
struct ConvUp {
    cin: usize,
    cout: usize,
    /// Weights of phase `2·py + px`: `[ny·nx·cin, cout]`, rows ordered (y tap, x tap, ci)
    /// as in [`phase_taps`].
    phases: [Vec<f32>; 4],
    bias: Vec<f32>,
    post: Post,
}

impl ConvUp {
    fn new(conv: &ConvTranspose2d, post: Post) -> ConvUp {
        let [cin, cout, k, kw] = conv.weight.val().dims();
        assert!(
            (k, kw, conv.stride, conv.padding, conv.padding_out) == (5, 5, [2, 2], [2, 2], [1, 1]),
            "only the 5×5 stride-2 up-sampling layer of the transforms is supported"
        );
        let src = tensor_to_vec(conv.weight.val());
        let phase = |py: usize, px: usize| {
            let mut w = Vec::new();
            for &(ky, _) in phase_taps(py) {
                for &(kx, _) in phase_taps(px) {
                    for ci in 0..cin {
                        w.extend((0..cout).map(|co| src[((ci * cout + co) * 5 + ky) * 5 + kx]));
                    }
                }
            }
            w
        };
        ConvUp {
            cin,
            cout,
            phases: [phase(0, 0), phase(0, 1), phase(1, 0), phase(1, 1)],
            bias: bias_of(conv.bias.as_ref(), cout),
            post,
        }
    }

    /// Apply to `x` (`h × w × cin`); returns the `2h × 2w × cout` output.
    fn forward(&self, x: &[f32], h: usize, w: usize) -> Vec<f32> {
        let (cin, cout) = (self.cin, self.cout);
        let xp = pad(x, (h, w, cin), 1);
        let pw = w + 2;
        let wo = 2 * w;
        let mut out = vec![0f32; 2 * h * wo * cout];
        let rows = block_rows(w);
        // With few output channels the product is written channel-major into a scratch
        // block: gemm vectorises along the pixels then, not along 3 channels.
        let narrow = cout < NARROW;
        // A block holds `rows` input rows, i.e. 2·rows output rows.
        out.par_chunks_mut(2 * rows * wo * cout)
            .enumerate()
            .for_each_init(Vec::new, |scratch: &mut Vec<f32>, (bi, chunk)| {
                let pixels = chunk.len() / cout;
                if narrow {
                    scratch.clear();
                    for &b in &self.bias {
                        scratch.extend(std::iter::repeat_n(b, pixels));
                    }
                } else {
                    for px in chunk.chunks_exact_mut(cout) {
                        px.copy_from_slice(&self.bias);
                    }
                }
                for (phase, weights) in self.phases.iter().enumerate() {
                    let (py, px) = (phase / 2, phase % 2);
                    let (ty, tx) = (phase_taps(py), phase_taps(px));
                    let kx = tx.len() * cin;
                    // Padded column of the leftmost x tap of input column 0.
                    let x0 = (1 + tx[0].1) as usize;
                    for r in 0..pixels / (2 * wo) {
                        let a = bi * rows + r;
                        // Output row 2r + py of the block, every other pixel from px.
                        let first = (2 * r + py) * wo + px;
                        for (t, &(_, dy)) in ty.iter().enumerate() {
                            let at = (((a as isize + 1 + dy) as usize) * pw + x0) * cin;
                            let a = (&xp[at..], cin);
                            let wt = &weights[t * kx * cout..(t + 1) * kx * cout];
                            let dst = if narrow {
                                Dst {
                                    buf: &mut scratch[first..],
                                    rs: 2,
                                    cs: pixels,
                                }
                            } else {
                                Dst::rows(&mut chunk[first * cout..], 2 * cout)
                            };
                            matmul(dst, a, wt, (w, kx, cout), true);
                        }
                    }
                }
                if narrow {
                    for (i, px) in chunk.chunks_exact_mut(cout).enumerate() {
                        for (c, v) in px.iter_mut().enumerate() {
                            *v = scratch[c * pixels + i];
                        }
                    }
                }
                self.post.apply(chunk, cout);
            });
        out
    }
}

/// Planar `[c, h, w]` → channels-last `[h, w, c]`.
fn to_channels_last(x: &[f32], c: usize, hw: usize) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for (ch, plane) in x.chunks_exact(hw).enumerate().take(c) {
        for (i, &v) in plane.iter().enumerate() {
            out[i * c + ch] = v;
        }
    }
    out
}

/// Channels-last `[h, w, c]` → planar `[c, h, w]`.
fn to_planar(x: &[f32], c: usize) -> Vec<f32> {
    let hw = x.len() / c;
    let mut out = vec![0f32; x.len()];
    for (i, px) in x.chunks_exact(c).enumerate() {
        for (ch, &v) in px.iter().enumerate() {
            out[ch * hw + i] = v;
        }
    }
    out
}

/// Run a chain of convolutions on a planar `[c, h, w]` input; returns the planar output
/// and its size.
fn run_convs(layers: &[Conv], x: &[f32], h: usize, w: usize) -> (Vec<f32>, usize, usize) {
    let mut x = to_channels_last(x, layers[0].cin, h * w);
    let (mut h, mut w) = (h, w);
    for layer in layers {
        (x, h, w) = layer.forward(&x, h, w);
    }
    (to_planar(&x, layers[layers.len() - 1].cout), h, w)
}

/// g_a on the CPU kernels of this module.
#[derive(Debug, Clone)]
pub struct CpuAnalysis {
    layers: Vec<Conv>,
}

impl CpuAnalysis {
    /// The kernels for the parameters of `g_a`.
    pub fn new(g_a: &Analysis) -> Self {
        CpuAnalysis {
            layers: vec![
                Conv::new(&g_a.conv1, Post::gdn(&g_a.gdn1)),
                Conv::new(&g_a.conv2, Post::gdn(&g_a.gdn2)),
                Conv::new(&g_a.conv3, Post::gdn(&g_a.gdn3)),
                Conv::new(&g_a.conv4, Post::None),
            ],
        }
    }

    /// y = g_a(x) for a planar `[3, h, w]` image (h and w multiples of 16); returns
    /// planar `[M, h/16, w/16]`.
    pub fn forward(&self, x: &[f32], h: usize, w: usize) -> Vec<f32> {
        assert!(h.is_multiple_of(16) && w.is_multiple_of(16) && x.len() == 3 * h * w);
        run_convs(&self.layers, x, h, w).0
    }
}

/// h_a on the CPU kernels of this module.
#[derive(Debug, Clone)]
pub struct CpuHyperAnalysis {
    layers: Vec<Conv>,
}

impl CpuHyperAnalysis {
    /// The kernels for the parameters of `h_a`.
    pub fn new(h_a: &HyperAnalysis) -> Self {
        CpuHyperAnalysis {
            layers: vec![
                Conv::new(&h_a.conv1, Post::Relu),
                Conv::new(&h_a.conv2, Post::Relu),
                Conv::new(&h_a.conv3, Post::None),
            ],
        }
    }

    /// z = h_a(y) for a planar `[M, h, w]` latent (h and w multiples of 4); returns
    /// planar `[N, h/4, w/4]`.
    pub fn forward(&self, y: &[f32], h: usize, w: usize) -> Vec<f32> {
        assert!(
            h.is_multiple_of(4) && w.is_multiple_of(4) && y.len() == self.layers[0].cin * h * w
        );
        run_convs(&self.layers, y, h, w).0
    }
}

/// g_s on the CPU kernels of this module.
#[derive(Debug, Clone)]
pub struct CpuSynthesis {
    layers: Vec<ConvUp>,
}

impl CpuSynthesis {
    /// The kernels for the parameters of `g_s`.
    pub fn new(g_s: &Synthesis) -> Self {
        CpuSynthesis {
            layers: vec![
                ConvUp::new(&g_s.deconv1, Post::gdn(&g_s.igdn1)),
                ConvUp::new(&g_s.deconv2, Post::gdn(&g_s.igdn2)),
                ConvUp::new(&g_s.deconv3, Post::gdn(&g_s.igdn3)),
                ConvUp::new(&g_s.deconv4, Post::None),
            ],
        }
    }

    /// x̂ = g_s(ŷ) for a planar `[M, h, w]` latent; returns planar `[3, 16h, 16w]`
    /// (not clamped).
    pub fn forward(&self, y: &[f32], h: usize, w: usize) -> Vec<f32> {
        assert_eq!(y.len(), self.layers[0].cin * h * w);
        let mut x = to_channels_last(y, self.layers[0].cin, h * w);
        let (mut h, mut w) = (h, w);
        for layer in &self.layers {
            x = layer.forward(&x, h, w);
            (h, w) = (2 * h, 2 * w);
        }
        to_planar(&x, 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::transforms::{Analysis, HyperAnalysis, Synthesis};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// Largest |a − b| relative to the largest |b|.
    fn rel_err(a: &[f32], b: &[f32]) -> f32 {
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
        let g_a = Analysis::new(16, 24, &device);
        let (h, w) = (48, 80);
        let x = random(3 * h * w, 1)
            .iter()
            .map(|v| v.abs())
            .collect::<Vec<_>>();
        let ours = CpuAnalysis::new(&g_a).forward(&x, h, w);
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
        let h_a = HyperAnalysis::new(12, 20, &device);
        let (h, w) = (8, 12);
        let y = random(20 * h * w, 2);
        let ours = CpuHyperAnalysis::new(&h_a).forward(&y, h, w);
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
        let g_s = Synthesis::new(16, 24, &device);
        // Odd sizes and a single row: every phase meets the borders; 40 rows of 8
        // make several blocks.
        for (h, w) in [(3, 5), (1, 7), (4, 4), (40, 8)] {
            let y = random(24 * h * w, 3);
            let ours = CpuSynthesis::new(&g_s).forward(&y, h, w);
            let theirs = tensor_to_vec(g_s.forward(burn(&y, [1, 24, h, w], &device)));
            assert!(
                rel_err(&ours, &theirs) < 1e-5,
                "{h}x{w}: {}",
                rel_err(&ours, &theirs)
            );
        }
    }
}
