//! Convolutions of the transforms on channels-last (`[h, w, c]`) buffers.
//!
//! * a convolution gathers, for a block of output rows, each output pixel's taps —
//!   `k` rows of `k·c_in` contiguous floats — and multiplies once by the `[k²·c_in,
//!   c_out]` weight matrix with the `gemm` crate;
//! * a stride-2 transposed convolution is split into its four output phases (the
//!   sub-pixel decomposition): output pixel `(2a + py, 2b + px)` only sees the kernel
//!   taps of parity `(py, px)`, so each phase is an ordinary convolution of the input
//!   with a 3×3, 3×2, 2×3 or 2×2 kernel — no zero taps, no scatter — whose result is
//!   written straight into every other pixel of the output;
//! * the wide 5×5 stride-2 layers run instead as Winograd F(4×4, 3×3) convolutions of
//!   their phases ([`crate::winograd`]), with 2.8× fewer multiply-adds;
//! * GDN / inverse GDN and ReLU run on each block while it is in cache.
//!
//! Blocks of rows run in parallel on rayon's pool.

use rayon::prelude::*;

use crate::level::{level, Level};
use crate::matmul::{matmul, Dst};
use crate::winograd::{Scratch, WinogradConv, WinogradUp, LANES};
use crate::Precision;

/// Output pixels per block of work (rounded to whole rows): enough rows for the gemm
/// microkernels to run at speed, small enough for the gathered taps to stay in cache.
const BLOCK_PIXELS: usize = 256;

/// Convolutions whose kernel rows hold fewer taps than this (k·c_in) gather whole
/// patches before multiplying (see [`Conv::forward`]).
const MIN_ROW_TAPS: usize = 64;

/// Layers with fewer output channels than this compute channel-major (see
/// [`ConvUp::forward`]).
const NARROW: usize = 8;

/// Whether these kernels run a g_s with `width` hidden channels: layers narrower than
/// [`NARROW`] are only supported as the last (RGB) layer.
pub fn supports_synthesis_width(width: usize) -> bool {
    width >= NARROW
}

/// What follows a convolution, applied to each block of its output.
#[derive(Debug, Clone)]
pub enum Post {
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
    /// A (possibly inverse) GDN from its stored parameters, `beta` (`c`) and `gamma`
    /// (`c × c`, row-major): the layer uses their absolute values (β plus 10⁻⁶).
    pub fn gdn(beta: &[f32], gamma: &[f32], inverse: bool) -> Post {
        let c = beta.len();
        assert_eq!(gamma.len(), c * c, "γ is c × c");
        let beta = beta.iter().map(|b| b.abs() + 1e-6).collect::<Vec<_>>();
        let mut g = vec![0f32; c * c];
        for i in 0..c {
            for j in 0..c {
                g[j * c + i] = gamma[i * c + j].abs();
            }
        }
        Post::Gdn { beta, g, inverse }
    }

    /// Apply to `x`, `pixels × c` channels-last.
    pub fn apply(&self, x: &mut [f32], c: usize) {
        match self {
            Post::None => {}
            Post::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
            Post::Gdn { beta, g, inverse } => {
                // |x|·G, then β added per pixel as the result is used.
                let norm = abs_times(x, g, c);
                let rows = x.chunks_exact_mut(c).zip(norm.chunks_exact(c));
                if *inverse {
                    for (xr, nr) in rows {
                        for ((v, n), b) in xr.iter_mut().zip(nr).zip(beta) {
                            *v *= n + b;
                        }
                    }
                } else {
                    for (xr, nr) in rows {
                        for ((v, n), b) in xr.iter_mut().zip(nr).zip(beta) {
                            *v /= n + b;
                        }
                    }
                }
            }
        }
    }
}

/// `|x|·G` for `x`, `pixels × c` channels-last, and `G`, `c × c` row-major: a GDN's
/// normalizer without its β.
pub fn abs_times(x: &[f32], g: &[f32], c: usize) -> Vec<f32> {
    let abs: Vec<f32> = x.iter().map(|v| v.abs()).collect();
    let mut out = vec![0f32; x.len()];
    matmul(
        Dst::rows(&mut out, c),
        (&abs, c),
        g,
        (x.len() / c, c, c),
        false,
    );
    out
}

/// `x` (`h × w × c`) with `p` zero pixels added on every side.
pub fn pad(x: &[f32], (h, w, c): (usize, usize, usize), p: usize) -> Vec<f32> {
    let pw = w + 2 * p;
    let mut out = Vec::with_capacity((h + 2 * p) * pw * c);
    out.resize(p * pw * c, 0.0);
    for row in x.chunks_exact(w * c) {
        out.resize(out.len() + p * c, 0.0);
        out.extend_from_slice(row);
        out.resize(out.len() + p * c, 0.0);
    }
    out.resize((h + 2 * p) * pw * c, 0.0);
    out
}

/// `n` zeros, written by all of rayon's threads: a layer's output is tens of MB, and
/// zeroing it (and faulting in its fresh pages) on the calling thread left the other
/// core idle.
pub fn zeroed(n: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(n);
    v.par_extend(rayon::iter::repeat_n(0f32, n));
    v
}

/// Rows per block for outputs `width` pixels wide.
fn block_rows(width: usize) -> usize {
    BLOCK_PIXELS.div_ceil(width.max(1))
}

/// A k×k convolution with stride `s` and `p` zero pixels of padding on each side.
#[derive(Debug, Clone)]
pub struct Conv {
    k: usize,
    s: usize,
    p: usize,
    pub cin: usize,
    pub cout: usize,
    /// `[k·k·cin, cout]`, rows ordered (ky, kx, ci).
    w: Vec<f32>,
    /// The same kernel in the Winograd domain, for the 5×5 stride-2 layers with enough
    /// input channels for it to pay.
    winograd: Option<WinogradConv>,
    bias: Vec<f32>,
    post: Post,
}

impl Conv {
    /// A convolution from weights `src` laid out `[cout, cin, k, k]`, with stride and
    /// padding `(s, p)`; the Winograd layers multiply in `precision`.
    pub fn from_weights(
        src: &[f32],
        [cout, cin, k]: [usize; 3],
        (s, p): (usize, usize),
        (bias, post): (Vec<f32>, Post),
        precision: Precision,
    ) -> Conv {
        assert_eq!(src.len(), cout * cin * k * k);
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
        let winograd = ((k, s, p) == (5, 2, 2)
            && cin >= MIN_ROW_TAPS
            && cin % LANES == 0
            && cout % LANES == 0)
            .then(|| WinogradConv::new(&w, cin, cout, precision));
        Conv {
            k,
            s,
            p,
            cin,
            cout,
            w,
            winograd,
            bias,
            post,
        }
    }

    /// Output size for an `h × w` input.
    fn out_size(&self, h: usize, w: usize) -> (usize, usize) {
        let o = |n: usize| (n + 2 * self.p - self.k) / self.s + 1;
        (o(h), o(w))
    }

    /// Apply to `xp`, an `h × w × cin` input with this layer's `p` zero pixels of
    /// padding on every side; returns the output, with a zero border of `out_pad`
    /// pixels (the next layer's padding), and its size without the border.
    pub fn forward(
        &self,
        xp: &[f32],
        h: usize,
        w: usize,
        out_pad: usize,
    ) -> (Vec<f32>, usize, usize) {
        let (ho, wo) = self.out_size(h, w);
        let (k, s, cin, cout) = (self.k, self.s, self.cin, self.cout);
        let pw = w + 2 * self.p;
        assert_eq!(xp.len(), (h + 2 * self.p) * pw * cin);
        let row_len = (wo + 2 * out_pad) * cout;
        let mut out = zeroed((ho + 2 * out_pad) * row_len);
        let interior = &mut out[out_pad * row_len..(out_pad + ho) * row_len];
        if let Some(wg) = &self.winograd {
            // Blocks of whole tile rows (4 output rows each).
            let rows = block_rows(wo).next_multiple_of(4);
            let ph = h + 2 * self.p;
            interior
                .par_chunks_mut(rows * row_len)
                .enumerate()
                .for_each_init(Scratch::default, |scratch, (bi, chunk)| {
                    for (r, tile_rows) in chunk.chunks_mut(4 * row_len).enumerate() {
                        let ti = bi * rows / 4 + r;
                        let dst = (tile_rows, row_len, out_pad);
                        wg.tile_row((xp, ph, pw), ti, (ho, wo), &self.bias, dst, scratch);
                    }
                    self.post.apply(chunk, cout);
                });
            return (out, ho, wo);
        }
        let rows = block_rows(wo);
        // With few input channels (g_a's first layer) a kernel row is too short a
        // product: gather each pixel's k rows of taps first and multiply once.
        let gather = k * cin < MIN_ROW_TAPS;
        interior
            .par_chunks_mut(rows * row_len)
            .enumerate()
            .for_each_init(Vec::new, |cols: &mut Vec<f32>, (bi, chunk)| {
                for (r, row) in chunk.chunks_exact_mut(row_len).enumerate() {
                    let oy = bi * rows + r;
                    let pixels = &mut row[out_pad * cout..(out_pad + wo) * cout];
                    for px in pixels.chunks_exact_mut(cout) {
                        px.copy_from_slice(&self.bias);
                    }
                    if gather {
                        let kk = k * k * cin;
                        cols.clear();
                        for ox in 0..wo {
                            for ky in 0..k {
                                let at = ((oy * s + ky) * pw + ox * s) * cin;
                                cols.extend_from_slice(&xp[at..at + k * cin]);
                            }
                        }
                        let dst = Dst::rows(pixels, cout);
                        matmul(dst, (cols, kk), &self.w, (wo, kk, cout), true);
                    } else {
                        // Kernel row ky: the taps of output pixel ox are the k·cin
                        // contiguous floats at padded (oy·s + ky, ox·s), so the padded
                        // input is the left factor as it is, rows s·cin apart.
                        for ky in 0..k {
                            let at = (oy * s + ky) * pw * cin;
                            let w = &self.w[ky * k * cin * cout..(ky + 1) * k * cin * cout];
                            let a = (&xp[at..], s * cin);
                            matmul(Dst::rows(pixels, cout), a, w, (wo, k * cin, cout), true);
                        }
                    }
                }
                // The border stays zero: GDN and ReLU map 0 to 0.
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

/// Where one output phase of a [`ConvUp`] reads and writes, for layers that compute
/// it pixel by pixel (the narrow ones).
struct PhaseGeometry {
    /// Output row and column parity.
    py: usize,
    px: usize,
    /// The phase's y taps, as in [`phase_taps`].
    ty: &'static [(usize, isize)],
    /// Input floats one y tap spans: x taps × `cin`, contiguous in the padded input.
    kx: usize,
    /// Weights per output channel: y taps × `kx`.
    k: usize,
    /// Padded input column of the first x tap for input column 0.
    x0: usize,
    cin: usize,
}

impl PhaseGeometry {
    fn new(phase: usize, cin: usize) -> PhaseGeometry {
        let (py, px) = (phase / 2, phase % 2);
        let (ty, tx) = (phase_taps(py), phase_taps(px));
        let kx = tx.len() * cin;
        PhaseGeometry {
            py,
            px,
            ty,
            kx,
            k: ty.len() * kx,
            x0: (1 + tx[0].1) as usize,
            cin,
        }
    }

    /// Start in the padded input (`(h + 2) × (w + 2) × cin`) of the `kx` floats that
    /// y tap offset `dy` reads for input pixel (`a`, `b`).
    fn tap_start(&self, a: usize, b: usize, dy: isize, w: usize) -> usize {
        (((a as isize + 1 + dy) as usize) * (w + 2) + self.x0 + b) * self.cin
    }

    /// Start in the two output rows `2a`, `2a + 1` (`2 × 2w × cout`) of the output
    /// pixel input column `b` gives in this phase.
    fn out_start(&self, b: usize, w: usize, cout: usize) -> usize {
        (self.py * 2 * w + 2 * b + self.px) * cout
    }
}

/// A 5×5 stride-2 transposed convolution (padding 2, output padding 1) that doubles
/// height and width, run as four phase convolutions.
#[derive(Debug, Clone)]
pub struct ConvUp {
    pub cin: usize,
    pub cout: usize,
    /// Weights of phase `2·py + px`: `[ny·nx·cin, cout]`, rows ordered (y tap, x tap, ci)
    /// as in [`phase_taps`] (empty for the Winograd layers).
    phases: [Vec<f32>; 4],
    /// The same weights channel-major, `[cout][ny·nx·cin]`, for narrow layers (empty
    /// for the others).
    phases_t: [Vec<f32>; 4],
    /// The same kernel in the Winograd domain, for layers wide enough.
    winograd: Option<WinogradUp>,
    bias: Vec<f32>,
    post: Post,
}

impl ConvUp {
    /// A 5×5 stride-2 transposed convolution (padding 2, output padding 1) from
    /// weights `src` laid out `[cin, cout, 5, 5]`; the Winograd layers multiply in
    /// `precision`.
    pub fn from_weights(
        src: &[f32],
        [cin, cout]: [usize; 2],
        (bias, post): (Vec<f32>, Post),
        precision: Precision,
    ) -> ConvUp {
        assert_eq!(src.len(), cin * cout * 25);
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
        let winograd = (cout >= NARROW && cin % LANES == 0 && cout % LANES == 0)
            .then(|| WinogradUp::new(src, cin, cout, precision));
        // The Winograd layers never read the phases' weights: not built for them (the
        // training kernels rebuild every layer each step).
        let phases = match winograd {
            Some(_) => Default::default(),
            None => [phase(0, 0), phase(0, 1), phase(1, 0), phase(1, 1)],
        };
        let transpose = |w: &Vec<f32>| {
            let k = w.len() / cout;
            let mut t = vec![0f32; w.len()];
            for (i, row) in w.chunks_exact(cout).enumerate() {
                for (c, &v) in row.iter().enumerate() {
                    t[c * k + i] = v;
                }
            }
            t
        };
        let phases_t = if cout < NARROW {
            phases.each_ref().map(transpose)
        } else {
            Default::default()
        };
        ConvUp {
            cin,
            cout,
            phases,
            phases_t,
            winograd,
            bias,
            post,
        }
    }

    /// Apply to `xp`, an `h × w × cin` input with a border of one zero pixel on every
    /// side; returns the `2h × 2w × cout` output with a zero border of `out_pad`
    /// pixels (what the next layer reads, so no layer copies its input to pad it).
    pub fn forward(&self, xp: &[f32], h: usize, w: usize, out_pad: usize) -> Vec<f32> {
        let (cin, cout) = (self.cin, self.cout);
        let pw = w + 2;
        assert_eq!(xp.len(), (h + 2) * pw * cin);
        let wo = 2 * w;
        let rows = block_rows(w);
        if self.cout < NARROW {
            // Few output channels: a gemm would pack every input tap to use it only
            // `cout` times; dot products read each tap once, from cache.
            assert_eq!(out_pad, 0, "a narrow layer is the last one");
            let mut out = zeroed(2 * h * wo * cout);
            out.par_chunks_mut(2 * rows * wo * cout)
                .enumerate()
                .for_each(|(bi, chunk)| {
                    for r in 0..chunk.len() / (2 * wo * cout) {
                        let out_rows = &mut chunk[2 * r * wo * cout..(2 * r + 2) * wo * cout];
                        narrow_rows(self, xp, bi * rows + r, w, out_rows);
                    }
                    self.post.apply(chunk, cout);
                });
            return out;
        }
        let row_len = (wo + 2 * out_pad) * cout;
        let mut out = zeroed((2 * h + 2 * out_pad) * row_len);
        let interior = &mut out[out_pad * row_len..(out_pad + 2 * h) * row_len];
        if let Some(wg) = &self.winograd {
            // Blocks of whole tile rows (4 input rows, 8 output rows each).
            let rows = rows.next_multiple_of(4);
            interior
                .par_chunks_mut(2 * rows * row_len)
                .enumerate()
                .for_each_init(Scratch::default, |scratch, (bi, chunk)| {
                    for (r, tile_rows) in chunk.chunks_mut(8 * row_len).enumerate() {
                        let ti = bi * rows / 4 + r;
                        let dst = (tile_rows, row_len, out_pad);
                        wg.tile_row(xp, ti, (h, w), &self.bias, dst, scratch);
                    }
                    self.post.apply(chunk, cout);
                });
            return out;
        }
        // A block holds `rows` input rows, i.e. 2·rows output rows.
        interior
            .par_chunks_mut(2 * rows * row_len)
            .enumerate()
            .for_each(|(bi, chunk)| {
                for row in chunk.chunks_exact_mut(row_len) {
                    let pixels = &mut row[out_pad * cout..(out_pad + wo) * cout];
                    for px in pixels.chunks_exact_mut(cout) {
                        px.copy_from_slice(&self.bias);
                    }
                }
                for (phase, weights) in self.phases.iter().enumerate() {
                    let (py, px) = (phase / 2, phase % 2);
                    let (ty, tx) = (phase_taps(py), phase_taps(px));
                    let kx = tx.len() * cin;
                    // Padded column of the leftmost x tap of input column 0.
                    let x0 = (1 + tx[0].1) as usize;
                    for r in 0..chunk.len() / (2 * row_len) {
                        let a = bi * rows + r;
                        // Output row 2r + py of the block, every other pixel from px.
                        let first = (2 * r + py) * row_len + (out_pad + px) * cout;
                        for (t, &(_, dy)) in ty.iter().enumerate() {
                            let at = (((a as isize + 1 + dy) as usize) * pw + x0) * cin;
                            let wt = &weights[t * kx * cout..(t + 1) * kx * cout];
                            let dst = Dst::rows(&mut chunk[first..], 2 * cout);
                            matmul(dst, (&xp[at..], cin), wt, (w, kx, cout), true);
                        }
                    }
                }
                // The border stays zero: GDN, inverse GDN and ReLU all map 0 to 0.
                self.post.apply(chunk, cout);
            });
        out
    }
}

/// Output rows `2a` and `2a + 1` (`out`, `2 × 2w × cout`) of a narrow [`ConvUp`] from
/// its padded input `xp` (`(h + 2) × (w + 2) × cin`): per output pixel and channel, a
/// dot product over the phase's taps, with the widest SIMD the CPU has.
fn narrow_rows(layer: &ConvUp, xp: &[f32], a: usize, w: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if level() >= Level::Avx512 {
            if layer.cout == 3 && layer.cin.is_multiple_of(16) {
                // SAFETY: the CPU supports AVX-512F (the level says so).
                return unsafe { simd::rgb_rows_avx512(layer, xp, a, w, out) };
            }
            // SAFETY: the CPU supports AVX-512F (the level says so).
            return narrow_rows_with(layer, xp, a, w, out, |x, y| unsafe {
                simd::dot_avx512(x, y)
            });
        }
        if level() >= Level::Avx2 {
            if layer.cout == 3 && layer.cin.is_multiple_of(8) {
                // SAFETY: the CPU supports AVX2 and FMA (the level says so).
                return unsafe { simd::rgb_rows_avx2(layer, xp, a, w, out) };
            }
            // SAFETY: the CPU supports AVX2 and FMA (the level says so).
            return narrow_rows_with(layer, xp, a, w, out, |x, y| unsafe { simd::dot_avx2(x, y) });
        }
    }
    narrow_rows_with(layer, xp, a, w, out, dot_taps);
}

/// [`narrow_rows`] with `dot(taps, weights)`, which sums over the taps (pairs of
/// slices of one length) the products of each pair.
fn narrow_rows_with(
    layer: &ConvUp,
    xp: &[f32],
    a: usize,
    w: usize,
    out: &mut [f32],
    dot: impl Fn(&[&[f32]], &[&[f32]]) -> f32,
) {
    let cout = layer.cout;
    for (phase, weights) in layer.phases_t.iter().enumerate() {
        let g = PhaseGeometry::new(phase, layer.cin);
        let (kx, k, n) = (g.kx, g.k, g.ty.len());
        let mut taps: [&[f32]; 3] = [&[]; 3];
        let mut wts: [&[f32]; 3] = [&[]; 3];
        for b in 0..w {
            for (t, &(_, dy)) in g.ty.iter().enumerate() {
                let at = g.tap_start(a, b, dy, w);
                taps[t] = &xp[at..at + kx];
            }
            let o = g.out_start(b, w, cout);
            for (c, v) in out[o..o + cout].iter_mut().enumerate() {
                for (t, wt) in wts.iter_mut().enumerate().take(n) {
                    *wt = &weights[c * k + t * kx..c * k + (t + 1) * kx];
                }
                *v = layer.bias[c] + dot(&taps[..n], &wts[..n]);
            }
        }
    }
}

/// Σ over pairs of Σ x·y, portable.
fn dot_taps(xs: &[&[f32]], ys: &[&[f32]]) -> f32 {
    xs.iter()
        .zip(ys)
        .map(|(x, y)| x.iter().zip(*y).map(|(a, b)| a * b).sum::<f32>())
        .sum()
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    use super::{ConvUp, PhaseGeometry};

    /// Defines `$rows`, [`super::narrow_rows`] for 3 output channels and `cin` a
    /// multiple of `$lanes`: `$px` neighbouring output pixels of a phase at a time
    /// (then single ones), so each weight vector loaded serves `$px` pixels and each
    /// input vector three channels, in `3 · $px` independent accumulators.
    macro_rules! rgb_kernel {
        (
            $feature:literal, $rows:ident, $pixels:ident, $lanes:literal, $px:literal,
            $vec:ident, $zero:ident, $load:ident, $fmadd:ident, $reduce:path
        ) => {
            /// # Safety
            /// The CPU must support the target features this build is compiled for.
            #[target_feature(enable = $feature)]
            pub unsafe fn $rows(layer: &ConvUp, xp: &[f32], a: usize, w: usize, out: &mut [f32]) {
                let mut b = 0;
                while b + $px <= w {
                    $pixels::<$px>(layer, xp, a, w, b, out);
                    b += $px;
                }
                while b < w {
                    $pixels::<1>(layer, xp, a, w, b, out);
                    b += 1;
                }
            }

            /// Input columns `b..b + P` of every phase.
            #[target_feature(enable = $feature)]
            #[inline]
            fn $pixels<const P: usize>(
                layer: &ConvUp,
                xp: &[f32],
                a: usize,
                w: usize,
                b: usize,
                out: &mut [f32],
            ) {
                let load = |s: &[f32]| -> $vec {
                    let s: &[f32; $lanes] = s[..$lanes].try_into().expect("whole vector");
                    // SAFETY: `s` holds one vector of floats.
                    unsafe { $load(s.as_ptr()) }
                };
                let cin = layer.cin;
                for (phase, weights) in layer.phases_t.iter().enumerate() {
                    let g = PhaseGeometry::new(phase, cin);
                    let (kx, k) = (g.kx, g.k);
                    let mut acc = [[$zero(); 3]; P];
                    for (t, &(_, dy)) in g.ty.iter().enumerate() {
                        let at = g.tap_start(a, b, dy, w);
                        let row = &xp[at..at + kx + (P - 1) * cin];
                        let wr = [0, 1, 2].map(|c| &weights[c * k + t * kx..c * k + (t + 1) * kx]);
                        for i in (0..kx).step_by($lanes) {
                            let wv = [load(&wr[0][i..]), load(&wr[1][i..]), load(&wr[2][i..])];
                            for (p, lanes) in acc.iter_mut().enumerate() {
                                let x = load(&row[p * cin + i..]);
                                for (l, wc) in lanes.iter_mut().zip(wv) {
                                    *l = $fmadd(x, wc, *l);
                                }
                            }
                        }
                    }
                    for (p, lanes) in acc.iter().enumerate() {
                        let o = g.out_start(b + p, w, 3);
                        for (c, l) in lanes.iter().enumerate() {
                            out[o + c] = layer.bias[c] + $reduce(*l);
                        }
                    }
                }
            }
        };
    }

    rgb_kernel!(
        "avx512f",
        rgb_rows_avx512,
        rgb_pixels_avx512,
        16,
        2,
        __m512,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_fmadd_ps,
        _mm512_reduce_add_ps
    );
    rgb_kernel!(
        "avx2,fma",
        rgb_rows_avx2,
        rgb_pixels_avx2,
        8,
        3,
        __m256,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_fmadd_ps,
        sum_lanes_avx2
    );

    /// The sum of the 8 lanes of `v`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn sum_lanes_avx2(v: __m256) -> f32 {
        let half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let pairs = _mm_add_ps(half, _mm_movehl_ps(half, half));
        _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehdup_ps(pairs)))
    }

    /// [`super::dot_taps`] with AVX-512: one 16-lane accumulator, reduced once.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_avx512(xs: &[&[f32]], ys: &[&[f32]]) -> f32 {
        let mut acc = _mm512_setzero_ps();
        for (x, y) in xs.iter().zip(ys) {
            let n = x.len().min(y.len());
            let mut i = 0;
            while i + 16 <= n {
                // SAFETY: i + 16 <= n, within both slices.
                let (a, b) = unsafe {
                    (
                        _mm512_loadu_ps(x.as_ptr().add(i)),
                        _mm512_loadu_ps(y.as_ptr().add(i)),
                    )
                };
                acc = _mm512_fmadd_ps(a, b, acc);
                i += 16;
            }
            if i < n {
                let mask: __mmask16 = (1u16 << (n - i)) - 1;
                // SAFETY: the mask covers the n − i < 16 elements left, within both.
                let (a, b) = unsafe {
                    (
                        _mm512_maskz_loadu_ps(mask, x.as_ptr().add(i)),
                        _mm512_maskz_loadu_ps(mask, y.as_ptr().add(i)),
                    )
                };
                acc = _mm512_fmadd_ps(a, b, acc);
            }
        }
        _mm512_reduce_add_ps(acc)
    }

    /// [`super::dot_taps`] with AVX2 and FMA: one 8-lane accumulator, reduced once.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_avx2(xs: &[&[f32]], ys: &[&[f32]]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        let mut tail = 0.0;
        for (x, y) in xs.iter().zip(ys) {
            let n = x.len().min(y.len());
            let mut i = 0;
            while i + 8 <= n {
                // SAFETY: i + 8 <= n, within both slices.
                let (a, b) = unsafe {
                    (
                        _mm256_loadu_ps(x.as_ptr().add(i)),
                        _mm256_loadu_ps(y.as_ptr().add(i)),
                    )
                };
                acc = _mm256_fmadd_ps(a, b, acc);
                i += 8;
            }
            tail += x[i..n]
                .iter()
                .zip(&y[i..n])
                .map(|(a, b)| a * b)
                .sum::<f32>();
        }
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        lanes.iter().sum::<f32>() + tail
    }
}

/// Pixels per parallel block of the layout conversions.
const CONVERT_PIXELS: usize = 16384;

/// Planar `[c, h, w]` → channels-last `[h, w, c]`.
pub fn to_channels_last(x: &[f32], c: usize, hw: usize) -> Vec<f32> {
    let mut out = zeroed(c * hw);
    out.par_chunks_mut(c * CONVERT_PIXELS)
        .enumerate()
        .for_each(|(bi, block)| {
            let first = bi * CONVERT_PIXELS;
            for (ch, plane) in x.chunks_exact(hw).enumerate().take(c) {
                let src = &plane[first..first + block.len() / c];
                for (px, &v) in block.chunks_exact_mut(c).zip(src) {
                    px[ch] = v;
                }
            }
        });
    out
}

/// Channels-last `[h, w, c]` → planar `[c, h, w]`.
pub fn to_planar(x: &[f32], c: usize) -> Vec<f32> {
    let hw = x.len() / c;
    let mut out = zeroed(x.len());
    out.par_chunks_mut(hw).enumerate().for_each(|(ch, plane)| {
        plane
            .par_chunks_mut(CONVERT_PIXELS)
            .enumerate()
            .for_each(|(bi, block)| {
                let src = x[bi * CONVERT_PIXELS * c..].chunks_exact(c);
                for (v, px) in block.iter_mut().zip(src) {
                    *v = px[ch];
                }
            });
    });
    out
}

/// Run a chain of convolutions on a planar `[c, h, w]` input; returns the planar output
/// and its size.
pub fn run_convs(layers: &[Conv], x: &[f32], h: usize, w: usize) -> (Vec<f32>, usize, usize) {
    let (cin, p) = (layers[0].cin, layers[0].p);
    let mut x = pad(&to_channels_last(x, cin, h * w), (h, w, cin), p);
    let (mut h, mut w) = (h, w);
    for (i, layer) in layers.iter().enumerate() {
        let out_pad = layers.get(i + 1).map_or(0, |next| next.p);
        (x, h, w) = layer.forward(&x, h, w, out_pad);
    }
    (to_planar(&x, layers[layers.len() - 1].cout), h, w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random;

    #[test]
    fn layout_conversions_invert_each_other_across_blocks() {
        // More pixels than one parallel block, and not a multiple of it.
        let hw = 2 * CONVERT_PIXELS + 123;
        for c in [3, 5] {
            let planar = random(c * hw, c as u64);
            let last = to_channels_last(&planar, c, hw);
            for (i, px) in last.chunks_exact(c).enumerate() {
                for (ch, &v) in px.iter().enumerate() {
                    assert_eq!(v, planar[ch * hw + i], "pixel {i} channel {ch}");
                }
            }
            assert_eq!(to_planar(&last, c), planar);
        }
    }

    #[test]
    fn simd_dots_match_the_portable_one() {
        for n in [0, 1, 7, 8, 15, 16, 17, 40, 192] {
            let (x, y) = (random(2 * n, n as u64), random(2 * n, 100 + n as u64));
            let (xs, ys) = ([&x[..n], &x[n..]], [&y[..n], &y[n..]]);
            let want = dot_taps(&xs, &ys);
            let close = |got: f32| (got - want).abs() <= 1e-5 * (1.0 + want.abs());
            #[cfg(target_arch = "x86_64")]
            {
                if level() >= Level::Avx512 {
                    // SAFETY: the CPU supports AVX-512F (the level says so).
                    let got = unsafe { simd::dot_avx512(&xs, &ys) };
                    assert!(close(got), "AVX-512, n = {n}: {got} vs {want}");
                }
                if level() >= Level::Avx2 {
                    // SAFETY: the CPU supports AVX2 and FMA (the level says so).
                    let got = unsafe { simd::dot_avx2(&xs, &ys) };
                    assert!(close(got), "AVX2, n = {n}: {got} vs {want}");
                }
            }
        }
    }
}
