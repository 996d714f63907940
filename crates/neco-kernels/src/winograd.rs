//! 5×5 stride-2 convolutions and transposed convolutions by Winograd's minimal
//! filtering, for the layers of [`crate::conv`].
//!
//! A 5×5 stride-2 convolution is the sum of four stride-1 convolutions, one per input
//! phase (row and column parity): output `(i, j)` reads padded input
//! `(2i + ky, 2j + kx)`, and the taps of parity `(a, b)` = `(ky mod 2, kx mod 2)` read
//! the phase image `P_ab[r, c] = x[2r + a, 2c + b]` at `(i + ky/2, j + kx/2)`: a 3×3,
//! 3×2, 2×3 or 2×2 kernel, zero-padded here to 3×3 ([`WinogradConv`]). A 5×5
//! stride-2 transposed convolution is the mirror image: each of its four output
//! phases is a 3×3 convolution of the one input ([`WinogradUp`]).
//!
//! Each 3×3 convolution runs as Winograd F(4×4, 3×3) (Lavin & Gray 2016): per 4×4
//! block of outputs, 36 element-wise products in a transformed domain instead of 144
//! multiply-adds, for every pair of input and output channels. The four phases share
//! the transformed domain, so they stack — along the input channels for the
//! convolution, along the output channels for the transposed one — into one matrix
//! product per transform point. That is 2.8× fewer multiply-adds than the direct
//! layer (36·4 against 25·16 per block and channel pair); the input and output
//! transforms cost O(c_in + c_out) per block.
//!
//! The results equal the direct layer's up to float rounding a few times larger than
//! a direct sum's (the transforms scale values by up to 8 and 1/24): |Δy| ≤ 6·10⁻⁵
//! against Burn on the sample photo, decoded pixels within 1. Neither matters to the
//! format: y is rounded before it is coded, and g_s is outside the bit-exact part.

use crate::level::{level, Level};
use crate::matmul::{matmul, Dst};
use crate::Precision;

/// Outputs per tile side.
const M: usize = 4;
/// Inputs per tile side: M + 3 − 1.
const A: usize = 6;
/// Transform points per tile.
const POINTS: usize = A * A;
/// Tiles per matrix product at most: bounds the scratch memory for wide images.
const MAX_TILES: usize = 64;

/// Input transform Bᵀ of F(4, 3) (as matrices for the tests; [`bt`] applies it).
#[cfg(test)]
const BT: [[f32; A]; A] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];

/// Kernel transform G of F(4, 3).
const G: [[f64; 3]; A] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// Output transform Aᵀ of F(4, 3) (as matrices for the tests; [`at`] applies it).
#[cfg(test)]
const AT: [[f32; A]; M] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// A 5×5 stride-2 convolution with padding 2, its kernel in the Winograd domain.
#[derive(Debug, Clone)]
pub struct WinogradConv {
    cin: usize,
    cout: usize,
    /// `[POINTS][4·cin][cout]`: for each transform point, the four phases' transformed
    /// kernels stacked along the input channels (phase `2a + b` at rows
    /// `(2a + b)·cin..`).
    v: Kernels,
}

/// Lanes of the vectors the transforms work on: channels are processed 16 at a time.
pub const LANES: usize = 16;

/// 16 channels of one value.
type V = [f32; LANES];

/// Σ k·v over `terms`, lane by lane.
#[inline(always)]
fn lin(terms: &[(f32, &V)]) -> V {
    // From the first term rather than from zero: one vector addition less per output.
    let (k0, v0) = terms[0];
    let mut o = v0.map(|x| k0 * x);
    for (k, v) in &terms[1..] {
        for l in 0..LANES {
            o[l] += k * v[l];
        }
    }
    o
}

/// Bᵀ d for six vectors.
#[inline(always)]
fn bt(d: &[V; A]) -> [V; A] {
    [
        lin(&[(4.0, &d[0]), (-5.0, &d[2]), (1.0, &d[4])]),
        lin(&[(-4.0, &d[1]), (-4.0, &d[2]), (1.0, &d[3]), (1.0, &d[4])]),
        lin(&[(4.0, &d[1]), (-4.0, &d[2]), (-1.0, &d[3]), (1.0, &d[4])]),
        lin(&[(-2.0, &d[1]), (-1.0, &d[2]), (2.0, &d[3]), (1.0, &d[4])]),
        lin(&[(2.0, &d[1]), (-1.0, &d[2]), (-2.0, &d[3]), (1.0, &d[4])]),
        lin(&[(4.0, &d[1]), (-5.0, &d[3]), (1.0, &d[5])]),
    ]
}

/// Aᵀ m for six vectors.
#[inline(always)]
fn at(m: &[V; A]) -> [V; M] {
    [
        lin(&[
            (1.0, &m[0]),
            (1.0, &m[1]),
            (1.0, &m[2]),
            (1.0, &m[3]),
            (1.0, &m[4]),
        ]),
        lin(&[(1.0, &m[1]), (-1.0, &m[2]), (2.0, &m[3]), (-2.0, &m[4])]),
        lin(&[(1.0, &m[1]), (1.0, &m[2]), (4.0, &m[3]), (4.0, &m[4])]),
        lin(&[
            (1.0, &m[1]),
            (-1.0, &m[2]),
            (8.0, &m[3]),
            (-8.0, &m[4]),
            (1.0, &m[5]),
        ]),
    ]
}

/// `LANES` floats of `s` from `at`.
#[inline(always)]
fn load(s: &[f32], at: usize) -> V {
    s[at..at + LANES].try_into().expect("LANES floats")
}

/// The four phases' 3×3 kernels in the Winograd domain, G g Gᵀ (in f64, so the
/// kernel side adds no rounding of its own), all `cout` output channels at once:
/// `tap(phase, (u, v), ci)` is tap `(u, v)` of phase `(py, px)`'s kernels from input
/// channel `ci` (None: zero), an iterator over the output channels. The result is, for
/// each transform point, a matrix `[rows][cols]` stored by blocks of columns as
/// [`product`] reads it (`[cols / LANES][rows][LANES]`), where `at(phase, ci)` gives the
/// row and first column of the `cout` values of phase `phase` and input channel `ci`.
fn transformed_kernels<I: Iterator<Item = f32>>(
    (cin, cout): (usize, usize),
    (rows, cols): (usize, usize),
    tap: impl Fn((usize, usize), (usize, usize), usize) -> Option<I>,
    at: impl Fn(usize, usize) -> (usize, usize),
) -> Vec<f32> {
    assert!(cols.is_multiple_of(LANES) && cout.is_multiple_of(LANES));
    let mut v = vec![0f32; POINTS * rows * cols];
    // g[u][v][co] and G g [e][v][co]: the output channels innermost, so each step is a
    // loop over contiguous rows.
    let mut g = vec![0f64; 9 * cout];
    let mut gg = vec![0f64; A * 3 * cout];
    let mut point_row = vec![0f64; cout];
    for (phase, parity) in PHASES.into_iter().enumerate() {
        for ci in 0..cin {
            for (uv, row) in g.chunks_exact_mut(cout).enumerate() {
                match tap(parity, (uv / 3, uv % 3), ci) {
                    Some(taps) => row.iter_mut().zip(taps).for_each(|(t, w)| *t = w.into()),
                    None => row.fill(0.0),
                }
            }
            // G g (6×3), then (G g) Gᵀ: separable, a quarter of the multiplications of
            // summing G[e][u]·g[u][v]·G[f][v] per point.
            for (ev, row) in gg.chunks_exact_mut(cout).enumerate() {
                let (e, vv) = (ev / 3, ev % 3);
                row.fill(0.0);
                for (u, c) in G[e].iter().enumerate() {
                    let taps = &g[(u * 3 + vv) * cout..][..cout];
                    row.iter_mut().zip(taps).for_each(|(s, t)| *s += c * t);
                }
            }
            let (row, col0) = at(phase, ci);
            assert!(col0.is_multiple_of(LANES) && col0 + cout <= cols && row < rows);
            for e in 0..A {
                let gge = &gg[e * 3 * cout..][..3 * cout];
                let (g0, rest) = gge.split_at(cout);
                let (g1, g2) = rest.split_at(cout);
                for (f, gf) in G.iter().enumerate() {
                    // ((0 + g0·G0) + g1·G1) + g2·G2 for all output channels at once
                    // (contiguous, so it vectorizes), then scattered by blocks.
                    for (((s, &a), &b), &c) in point_row.iter_mut().zip(g0).zip(g1).zip(g2) {
                        *s = 0.0 + a * gf[0] + b * gf[1] + c * gf[2];
                    }
                    let point = &mut v[(e * A + f) * rows * cols..][..rows * cols];
                    for (c, vals) in point_row.chunks_exact(LANES).enumerate() {
                        let block = col0 / LANES + c;
                        let out = &mut point[(block * rows + row) * LANES..][..LANES];
                        for (o, &x) in out.iter_mut().zip(vals) {
                            *o = x as f32;
                        }
                    }
                }
            }
        }
    }
    v
}

/// Scratch memory of one worker.
#[derive(Default)]
pub struct Scratch {
    /// Transformed inputs, `[POINTS][tiles][4·cin]`.
    u: Vec<f32>,
    /// Products, `[POINTS][tiles][cout]`.
    m: Vec<f32>,
    /// `u` in bf16, pairs of neighbouring values in one `u32` (for [`Kernels::Bf16`]).
    ub: Vec<u32>,
}

/// A layer's kernels in the Winograd domain: for each transform point a matrix
/// `[rows][cols]`, stored by blocks of [`LANES`] columns as the products read them.
#[derive(Debug, Clone)]
enum Kernels {
    /// `[POINTS][cols / LANES][rows][LANES]`.
    F32(Vec<f32>),
    /// Rounded to bf16, rows paired: `[POINTS][cols / LANES][rows / 2][LANES]`, each
    /// `u32` holding row `2q` in its low half and row `2q + 1` in its high half (the
    /// operand layout of `vdpbf16ps`).
    Bf16(Vec<u32>),
}

impl Kernels {
    /// `v` (f32, as [`Kernels::F32`] holds it) in `precision` where this CPU runs it
    /// and the product has a bf16 kernel for `cols`; in f32 otherwise.
    fn new(v: Vec<f32>, (rows, cols): (usize, usize), precision: Precision) -> Kernels {
        let bf16 = precision == Precision::Bf16
            && level() >= Level::Avx512Bf16
            && rows.is_multiple_of(2)
            && (cols.is_multiple_of(64) || cols == 96);
        if !bf16 {
            return Kernels::F32(v);
        }
        let mut out = vec![0u32; v.len() / 2];
        for (src, dst) in v.chunks_exact(2 * LANES).zip(out.chunks_exact_mut(LANES)) {
            // Rows 2q and 2q + 1 of one block of columns: LANES values each.
            let (lo, hi) = src.split_at(LANES);
            for ((d, &a), &b) in dst.iter_mut().zip(lo).zip(hi) {
                *d = bf16_pair(a, b);
            }
        }
        Kernels::Bf16(out)
    }

    /// The products of every transform point, `s.m = s.u · v`, for `n` tiles, `k`
    /// rows and `cols` columns.
    fn products(&self, s: &mut Scratch, (n, k, cols): (usize, usize, usize)) {
        match self {
            Kernels::F32(v) => {
                for p in 0..POINTS {
                    product(
                        &s.u[p * n * k..(p + 1) * n * k],
                        &v[p * k * cols..(p + 1) * k * cols],
                        &mut s.m[p * n * cols..(p + 1) * n * cols],
                        (n, k, cols),
                    );
                }
            }
            Kernels::Bf16(v) => {
                let len = POINTS * n * k;
                s.ub.resize(len / 2, 0);
                to_bf16_pairs(&s.u[..len], &mut s.ub);
                let k2 = k / 2;
                for p in 0..POINTS {
                    product_bf16(
                        &s.ub[p * n * k2..(p + 1) * n * k2],
                        &v[p * k2 * cols..(p + 1) * k2 * cols],
                        &mut s.m[p * n * cols..(p + 1) * n * cols],
                        (n, k2, cols),
                    );
                }
            }
        }
    }
}

/// `a` and `b` rounded to bf16 (to nearest, ties to even, as `vcvtne2ps2bf16`), `a`
/// in the low half.
fn bf16_pair(a: f32, b: f32) -> u32 {
    let bits = |x: f32| u32::from(half::bf16::from_f32(x).to_bits());
    bits(a) | (bits(b) << 16)
}

/// `x` rounded to bf16, neighbours paired as [`bf16_pair`] pairs them.
fn to_bf16_pairs(x: &[f32], out: &mut [u32]) {
    assert_eq!(x.len(), 2 * out.len());
    #[cfg(target_arch = "x86_64")]
    if level() >= Level::Avx512Bf16 {
        // SAFETY: the CPU supports AVX-512 BF16 (the level says so); the lengths match.
        return unsafe { simd::to_bf16_pairs(x, out) };
    }
    for (d, p) in out.iter_mut().zip(x.chunks_exact(2)) {
        *d = bf16_pair(p[0], p[1]);
    }
}

/// [`product`] in bf16: `m = u · v` for `u` `[n, 2·k2]` in pairs (`[n][k2]`), `v` as
/// [`Kernels::Bf16`] holds one point's matrix, `m` `[n, cols]` in f32; products of
/// bf16 values summed in f32. Only called where [`Kernels::new`] chose bf16.
fn product_bf16(u: &[u32], v: &[u32], m: &mut [f32], (n, k2, cols): (usize, usize, usize)) {
    assert!(u.len() == n * k2 && v.len() == k2 * cols && m.len() == n * cols);
    #[cfg(target_arch = "x86_64")]
    {
        assert!(
            level() >= Level::Avx512Bf16,
            "bf16 kernels on a CPU without them"
        );
        // SAFETY (all calls): the CPU supports AVX-512 BF16 (asserted), the slices have
        // the sizes the kernel reads and writes (asserted above), and every column
        // block ends within `cols`.
        if cols.is_multiple_of(64) {
            for col in (0..cols).step_by(64) {
                unsafe { simd::product_bf16::<4, 6>((u, v, m), (n, k2, cols), col) };
            }
            return;
        }
        if cols == 96 {
            return unsafe { simd::product_bf16::<6, 4>((u, v, m), (n, k2, cols), 0) };
        }
    }
    unreachable!("no bf16 product for {cols} columns on this CPU");
}

impl WinogradConv {
    /// From the weights of a 5×5 convolution, `w[((ky·5 + kx)·cin + ci)·cout + co]`;
    /// `cin` and `cout` multiples of [`LANES`].
    pub fn new(w: &[f32], cin: usize, cout: usize, precision: Precision) -> WinogradConv {
        assert_eq!(w.len(), 25 * cin * cout);
        assert!(cin.is_multiple_of(LANES) && cout.is_multiple_of(LANES));
        let k4 = 4 * cin;
        // Phase (a, b)'s 3×3 kernel: zero where 2u + a or 2v + b is past 4.
        let v = transformed_kernels(
            (cin, cout),
            (k4, cout),
            |(a, b), (u, vv), ci| {
                let (ky, kx) = (2 * u + a, 2 * vv + b);
                (ky < 5 && kx < 5).then(|| {
                    w[((ky * 5 + kx) * cin + ci) * cout..][..cout]
                        .iter()
                        .copied()
                })
            },
            |phase, ci| (phase * cin + ci, 0),
        );
        let v = Kernels::new(v, (k4, cout), precision);
        WinogradConv { cin, cout, v }
    }

    /// Output rows `4·ti .. 4·ti + 4` (those below `ho`) of the convolution of `xp`, a
    /// padded input `ph × pw × cin`, into `out`: its rows `row_len` floats apart,
    /// pixel `ox` of a row at `(out_pad + ox)·cout`, set to `bias +` the sum.
    pub fn tile_row(
        &self,
        (xp, ph, pw): (&[f32], usize, usize),
        ti: usize,
        (ho, wo): (usize, usize),
        bias: &[f32],
        out: (&mut [f32], usize, usize),
        s: &mut Scratch,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if level() >= Level::Avx512 {
                // SAFETY: the CPU supports AVX-512F (the level says so).
                return unsafe { self.tile_row_avx512((xp, ph, pw), ti, (ho, wo), bias, out, s) };
            }
            if level() >= Level::Avx2 {
                // SAFETY: the CPU supports AVX2 (the level says so).
                return unsafe { self.tile_row_avx2((xp, ph, pw), ti, (ho, wo), bias, out, s) };
            }
        }
        self.tile_row_with((xp, ph, pw), ti, (ho, wo), bias, out, s);
    }

    /// [`Self::tile_row`] compiled for AVX-512, where the transforms' 16-lane vectors
    /// are one register each.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile_row_avx512(
        &self,
        input: (&[f32], usize, usize),
        ti: usize,
        out_size: (usize, usize),
        bias: &[f32],
        out: (&mut [f32], usize, usize),
        s: &mut Scratch,
    ) {
        self.tile_row_with(input, ti, out_size, bias, out, s);
    }

    /// [`Self::tile_row`] compiled for AVX2 (machines without AVX-512): two 8-lane
    /// registers per vector instead of four SSE ones. No FMA, so the sums round as
    /// on every other path.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn tile_row_avx2(
        &self,
        input: (&[f32], usize, usize),
        ti: usize,
        out_size: (usize, usize),
        bias: &[f32],
        out: (&mut [f32], usize, usize),
        s: &mut Scratch,
    ) {
        self.tile_row_with(input, ti, out_size, bias, out, s);
    }

    #[inline(always)]
    fn tile_row_with(
        &self,
        (xp, ph, pw): (&[f32], usize, usize),
        ti: usize,
        (ho, wo): (usize, usize),
        bias: &[f32],
        (out, row_len, out_pad): (&mut [f32], usize, usize),
        s: &mut Scratch,
    ) {
        let (cin, cout) = (self.cin, self.cout);
        let k4 = 4 * cin;
        let tiles = wo.div_ceil(M);
        let zero = [0f32; LANES];
        // One tile's values between the two passes of a transform (overwritten each
        // time, never cleared).
        let mut half = [[zero; A]; A];
        let mut t0 = 0;
        while t0 < tiles {
            let n = MAX_TILES.min(tiles - t0);
            s.u.resize(POINTS * n * k4, 0.0);
            s.m.resize(POINTS * n * cout, 0.0);
            for t in 0..n {
                let tj = t0 + t;
                for (phase, (a, b)) in PHASES.into_iter().enumerate() {
                    // Padded-input offset of tile position (r, c) in this phase, or
                    // None past the input's edge (read as zeros).
                    let mut offsets = [[None; A]; A];
                    for (r, row) in offsets.iter_mut().enumerate() {
                        for (c, o) in row.iter_mut().enumerate() {
                            let (y, x) = (2 * (M * ti + r) + a, 2 * (M * tj + c) + b);
                            *o = (y < ph && x < pw).then_some((y * pw + x) * cin);
                        }
                    }
                    for c0 in (0..cin).step_by(LANES) {
                        let at = (t * k4 + phase * cin + c0, n * k4);
                        input_tile(xp, &offsets, c0, &mut half, &mut s.u, at);
                    }
                }
            }
            self.v.products(s, (n, k4, cout));
            for t in 0..n {
                let tj = t0 + t;
                for c0 in (0..cout).step_by(LANES) {
                    let b = load(bias, c0);
                    let y = output_tile(&s.m, (t * cout + c0, n * cout), &mut half);
                    for (r, yr) in y.iter().enumerate().take(ho.saturating_sub(M * ti)) {
                        for (c, v) in yr.iter().enumerate().take(wo - M * tj) {
                            let o = r * row_len + (out_pad + M * tj + c) * cout + c0;
                            for (l, d) in out[o..o + LANES].iter_mut().enumerate() {
                                *d = b[l] + v[l];
                            }
                        }
                    }
                }
            }
            t0 += n;
        }
    }
}

/// Bᵀ d B for channels `c0..c0 + LANES` of the 6×6 tile whose pixels start at
/// `offsets` in `xp` (None: outside the input, read as zero): transform point
/// `(e, f)` goes to `u[base + (e·A + f)·stride..]`. `half` is scratch.
#[inline(always)]
fn input_tile(
    xp: &[f32],
    offsets: &[[Option<usize>; A]; A],
    c0: usize,
    half: &mut [[V; A]; A],
    u: &mut [f32],
    (base, stride): (usize, usize),
) {
    let zero = [0f32; LANES];
    // Down each column c of the tile, then along each row e.
    let mut col = [zero; A];
    for c in 0..A {
        for (r, v) in col.iter_mut().enumerate() {
            *v = offsets[r][c].map_or(zero, |at| load(xp, at + c0));
        }
        let tc = bt(&col);
        for e in 0..A {
            half[e][c] = tc[e];
        }
    }
    for (e, row) in half.iter().enumerate() {
        for (f, v) in bt(row).iter().enumerate() {
            let at = base + (e * A + f) * stride;
            u[at..at + LANES].copy_from_slice(v);
        }
    }
}

/// Aᵀ m A of one tile, point `(e, f)`'s `LANES` values at `m[base + (e·A +
/// f)·stride..]`: the 4×4 outputs, `[r][c]`. `half` is scratch.
#[inline(always)]
fn output_tile(m: &[f32], (base, stride): (usize, usize), half: &mut [[V; A]; A]) -> [[V; M]; M] {
    // Along each row e of the tile, then down each column c.
    let mut row = [[0f32; LANES]; A];
    for (e, h) in half.iter_mut().enumerate() {
        for (f, v) in row.iter_mut().enumerate() {
            *v = load(m, base + (e * A + f) * stride);
        }
        h[..M].copy_from_slice(&at(&row));
    }
    let mut y = [[[0f32; LANES]; M]; M];
    for c in 0..M {
        for (e, v) in row.iter_mut().enumerate() {
            *v = half[e][c];
        }
        for (r, v) in at(&row).into_iter().enumerate() {
            y[r][c] = v;
        }
    }
    y
}

/// Kernel tap (index into 5) of a 5×5 stride-2 transposed convolution (padding 2)
/// that output parity `p` applies to the input at offset `u − 1`, if any.
fn up_tap(p: usize, u: usize) -> Option<usize> {
    [[Some(4), Some(2), Some(0)], [None, Some(3), Some(1)]][p][u]
}

/// A 5×5 stride-2 transposed convolution (padding 2, output padding 1), its kernel
/// in the Winograd domain: output pixel `(2a + py, 2b + px)` is a 3×3 correlation of
/// the input around `(a, b)` with the taps of parity `(py, px)` (zero-padded to
/// 3×3), so the four output phases are four 3×3 convolutions of one input. They
/// share the input transform and stack along the output channels: for each
/// transform point, one product `[tiles, c_in] × [c_in, 4·c_out]`.
#[derive(Debug, Clone)]
pub struct WinogradUp {
    cin: usize,
    cout: usize,
    /// `[POINTS][cin][4·cout]`, phase `2·py + px` at columns `(2·py + px)·cout..`.
    v: Kernels,
}

impl WinogradUp {
    /// From the weights of a transposed convolution, `w[((ci·cout + co)·5 + ky)·5 +
    /// kx]` (Burn's layout); `cin` and `cout` multiples of [`LANES`].
    pub fn new(w: &[f32], cin: usize, cout: usize, precision: Precision) -> WinogradUp {
        assert_eq!(w.len(), 25 * cin * cout);
        assert!(cin.is_multiple_of(LANES) && cout.is_multiple_of(LANES));
        let n4 = 4 * cout;
        let v = transformed_kernels(
            (cin, cout),
            (cin, n4),
            |(py, px), (u, vv), ci| match (up_tap(py, u), up_tap(px, vv)) {
                (Some(ky), Some(kx)) => Some(
                    w[ci * cout * 25..][..cout * 25]
                        .iter()
                        .skip(ky * 5 + kx)
                        .step_by(25)
                        .copied(),
                ),
                _ => None,
            },
            |phase, ci| (ci, phase * cout),
        );
        let v = Kernels::new(v, (cin, n4), precision);
        WinogradUp { cin, cout, v }
    }

    /// Output rows `8·ti .. 8·ti + 8` (from input rows `4·ti .. 4·ti + 4` below `h`)
    /// of the layer on `xp`, its `h × w` input with a border of one zero pixel, into
    /// `out`: rows `row_len` floats apart, pixel `ox` of a row at `(out_pad +
    /// ox)·cout`, set to `bias +` the sum.
    pub fn tile_row(
        &self,
        xp: &[f32],
        ti: usize,
        (h, w): (usize, usize),
        bias: &[f32],
        out: (&mut [f32], usize, usize),
        s: &mut Scratch,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if level() >= Level::Avx512 {
                // SAFETY: the CPU supports AVX-512F (the level says so).
                return unsafe { self.tile_row_avx512(xp, ti, (h, w), bias, out, s) };
            }
            if level() >= Level::Avx2 {
                // SAFETY: the CPU supports AVX2 (the level says so).
                return unsafe { self.tile_row_avx2(xp, ti, (h, w), bias, out, s) };
            }
        }
        self.tile_row_with(xp, ti, (h, w), bias, out, s);
    }

    /// [`Self::tile_row`] compiled for AVX-512.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile_row_avx512(
        &self,
        xp: &[f32],
        ti: usize,
        size: (usize, usize),
        bias: &[f32],
        out: (&mut [f32], usize, usize),
        s: &mut Scratch,
    ) {
        self.tile_row_with(xp, ti, size, bias, out, s);
    }

    /// [`Self::tile_row`] compiled for AVX2 (see the input layer's).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn tile_row_avx2(
        &self,
        xp: &[f32],
        ti: usize,
        size: (usize, usize),
        bias: &[f32],
        out: (&mut [f32], usize, usize),
        s: &mut Scratch,
    ) {
        self.tile_row_with(xp, ti, size, bias, out, s);
    }

    #[inline(always)]
    fn tile_row_with(
        &self,
        xp: &[f32],
        ti: usize,
        (h, w): (usize, usize),
        bias: &[f32],
        (out, row_len, out_pad): (&mut [f32], usize, usize),
        s: &mut Scratch,
    ) {
        let (cin, cout) = (self.cin, self.cout);
        let (ph, pw) = (h + 2, w + 2);
        let n4 = 4 * cout;
        let tiles = w.div_ceil(M);
        let mut half = [[[0f32; LANES]; A]; A];
        let mut t0 = 0;
        while t0 < tiles {
            let n = MAX_TILES.min(tiles - t0);
            s.u.resize(POINTS * n * cin, 0.0);
            s.m.resize(POINTS * n * n4, 0.0);
            for t in 0..n {
                let tj = t0 + t;
                // Padded-input offset of tile position (r, c): input pixel
                // (4·ti + r − 1, 4·tj + c − 1).
                let mut offsets = [[None; A]; A];
                for (r, row) in offsets.iter_mut().enumerate() {
                    for (c, o) in row.iter_mut().enumerate() {
                        let (y, x) = (M * ti + r, M * tj + c);
                        *o = (y < ph && x < pw).then_some((y * pw + x) * cin);
                    }
                }
                for c0 in (0..cin).step_by(LANES) {
                    input_tile(
                        xp,
                        &offsets,
                        c0,
                        &mut half,
                        &mut s.u,
                        (t * cin + c0, n * cin),
                    );
                }
            }
            self.v.products(s, (n, cin, n4));
            for t in 0..n {
                let tj = t0 + t;
                for (phase, (py, px)) in PHASES.into_iter().enumerate() {
                    for c0 in (0..cout).step_by(LANES) {
                        let b = load(bias, c0);
                        let at = (t * n4 + phase * cout + c0, n * n4);
                        let y = output_tile(&s.m, at, &mut half);
                        for (r, yr) in y.iter().enumerate().take(h.saturating_sub(M * ti)) {
                            for (c, v) in yr.iter().enumerate().take(w - M * tj) {
                                let ox = 2 * (M * tj + c) + px;
                                let o = (2 * r + py) * row_len + (out_pad + ox) * cout + c0;
                                for (l, d) in out[o..o + LANES].iter_mut().enumerate() {
                                    *d = b[l] + v[l];
                                }
                            }
                        }
                    }
                }
            }
            t0 += n;
        }
    }
}

/// `m = u · v` for `u` `[n, k]` and `m` `[n, cols]` row-major, and `v` `[k, cols]`
/// stored by blocks of [`LANES`] columns (`[cols / LANES][k][LANES]`; `cols` a
/// multiple of [`LANES`]). With AVX-512 (a multiple of 64
/// columns, or 96) or AVX2 + FMA, a register-blocked kernel that reads `u` and `v`
/// where they are; elsewhere the `gemm` crate, once per block of columns. Row-major,
/// a block's rows of `v` were `cols` floats apart, so at 64 or 256 columns they fell
/// into a quarter or a sixteenth of the L1 cache's sets and left it between row groups.
fn product(u: &[f32], v: &[f32], m: &mut [f32], (n, k, cols): (usize, usize, usize)) {
    assert!(u.len() == n * k && v.len() == k * cols && m.len() == n * cols);
    assert!(cols.is_multiple_of(LANES), "whole blocks of columns");
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY (all calls): the CPU has the features each build needs (the level
        // says so), the slices have the sizes the kernel reads and writes (asserted
        // above), and every column block ends within `cols`.
        if level() >= Level::Avx512 {
            if cols.is_multiple_of(64) {
                for col in (0..cols).step_by(64) {
                    unsafe { simd::product_avx512::<4, 6>((u, v, m), (n, k, cols), col) };
                }
                return;
            }
            if cols == 96 {
                return unsafe { simd::product_avx512::<6, 4>((u, v, m), (n, k, cols), 0) };
            }
        }
        if level() >= Level::Avx2 && cols.is_multiple_of(16) {
            for col in (0..cols).step_by(16) {
                unsafe { simd::product_avx2::<2, 6>((u, v, m), (n, k, cols), col) };
            }
            return;
        }
    }
    product_gemm(u, v, m, (n, k, cols));
}

/// [`product`] with the `gemm` crate, one block of columns at a time.
fn product_gemm(u: &[f32], v: &[f32], m: &mut [f32], (n, k, cols): (usize, usize, usize)) {
    for (b, vb) in v.chunks_exact(k * LANES).enumerate() {
        let dst = Dst::rows(&mut m[b * LANES..], cols);
        matmul(dst, (u, k), vb, (n, k, LANES), false);
    }
}

/// `v`, `points` matrices `[k][cols]` row-major, as [`product`] reads them: each by
/// blocks of [`LANES`] columns, `[cols / LANES][k][LANES]`.
#[cfg(test)]
fn block_columns(v: &[f32], points: usize, k: usize, cols: usize) -> Vec<f32> {
    assert!(v.len() == points * k * cols && cols.is_multiple_of(LANES));
    let mut out = vec![0f32; v.len()];
    for (src, dst) in v.chunks_exact(k * cols).zip(out.chunks_exact_mut(k * cols)) {
        for (b, block) in dst.chunks_exact_mut(k * LANES).enumerate() {
            for (row, d) in src.chunks_exact(cols).zip(block.chunks_exact_mut(LANES)) {
                d.copy_from_slice(&row[b * LANES..][..LANES]);
            }
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// Columns per block of `v` ([`super::product`]).
    const BLOCK: usize = super::LANES;

    /// Defines `$product`, [`super::product`] for the `$lanes·NV` columns of `v` and
    /// `m` from `col` with one vector width: `NT` rows of `m` at a time, their
    /// `NT × NV` vectors in registers (AVX-512: 6 × 4 of 32; AVX2: 6 × 2 of 16), each
    /// vector of `v` loaded once per `NT` rows.
    macro_rules! product_kernel {
        (
            $feature:literal, $product:ident, $rows:ident, $lanes:literal, $vec:ident,
            $zero:ident, $load:ident, $store:ident, $splat:ident, $fmadd:ident
        ) => {
            /// # Safety
            /// The CPU must support the target features this build is compiled for;
            /// `u` holds `n·k` floats, `v` `k·cols` (by blocks of `BLOCK` columns, a
            /// multiple of the lanes), `m` `n·cols`, `col` is a multiple of `BLOCK`
            /// and `col + lanes·NV <= cols`.
            #[target_feature(enable = $feature)]
            pub unsafe fn $product<const NV: usize, const NT: usize>(
                (u, v, m): (&[f32], &[f32], &mut [f32]),
                (n, k, cols): (usize, usize, usize),
                col: usize,
            ) {
                let mut t = 0;
                while t + NT <= n {
                    // SAFETY: rows t..t + NT exist (t + NT <= n); the caller's sizes.
                    unsafe { $rows::<NV, NT>((u, v, m), (k, cols), (t, col)) };
                    t += NT;
                }
                while t < n {
                    // SAFETY: row t exists; the caller's sizes.
                    unsafe { $rows::<NV, 1>((u, v, m), (k, cols), (t, col)) };
                    t += 1;
                }
            }

            /// Rows `t..t + R` of the product.
            ///
            /// # Safety
            /// As for the product, with `t + R <= n`.
            #[target_feature(enable = $feature)]
            #[inline]
            unsafe fn $rows<const NV: usize, const R: usize>(
                (u, v, m): (&[f32], &[f32], &mut [f32]),
                (k, cols): (usize, usize),
                (t, col): (usize, usize),
            ) {
                let (u, v, m) = (u.as_ptr(), v.as_ptr(), m.as_mut_ptr());
                let mut acc = [[$zero(); NV]; R];
                for kk in 0..k {
                    let mut vk = [$zero(); NV];
                    for (j, w) in vk.iter_mut().enumerate() {
                        // Columns `c..c + lanes` (within one block of BLOCK) of row kk.
                        let c = col + $lanes * j;
                        let at = (c / BLOCK * k + kk) * BLOCK + c % BLOCK;
                        // SAFETY: kk < k, c + lanes <= cols: inside v's k·cols floats.
                        *w = unsafe { $load(v.add(at)) };
                    }
                    for (i, row) in acc.iter_mut().enumerate() {
                        // SAFETY: row t + i < n, kk < k: inside u's n·k floats.
                        let x = $splat(unsafe { *u.add((t + i) * k + kk) });
                        for (a, &w) in row.iter_mut().zip(&vk) {
                            *a = $fmadd(x, w, *a);
                        }
                    }
                }
                for (i, row) in acc.iter().enumerate() {
                    for (j, &a) in row.iter().enumerate() {
                        // SAFETY: row t + i < n, col + lanes·(j + 1) <= cols: inside m.
                        unsafe { $store(m.add((t + i) * cols + col + $lanes * j), a) };
                    }
                }
            }
        };
    }

    product_kernel!(
        "avx512f",
        product_avx512,
        rows_avx512,
        16,
        __m512,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps
    );
    product_kernel!(
        "avx2,fma",
        product_avx2,
        rows_avx2,
        8,
        __m256,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps
    );

    /// `v` as the bf16 operand of `vdpbf16ps` (same 512 bits).
    #[inline(always)]
    fn as_bh(v: __m512i) -> __m512bh {
        // SAFETY: both are 512-bit vectors of plain bits.
        unsafe { std::mem::transmute::<__m512i, __m512bh>(v) }
    }

    /// [`super::to_bf16_pairs`] with `vcvtne2ps2bf16`, 32 values at a time.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F and BF16; `x.len() == 2·out.len()`.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn to_bf16_pairs(x: &[f32], out: &mut [u32]) {
        let mut i = 0;
        while i + 2 * LANES <= x.len() {
            // SAFETY: i + 32 <= x.len() and i/2 + 16 <= out.len().
            unsafe {
                let lo = _mm512_loadu_ps(x.as_ptr().add(i));
                let hi = _mm512_loadu_ps(x.as_ptr().add(i + LANES));
                let pairs = _mm512_cvtne2ps_pbh(hi, lo);
                let bits = std::mem::transmute::<__m512bh, __m512i>(pairs);
                _mm512_storeu_si512(out.as_mut_ptr().add(i / 2).cast(), bits);
            }
            i += 2 * LANES;
        }
        for (d, p) in out[i / 2..].iter_mut().zip(x[i..].chunks_exact(2)) {
            *d = super::bf16_pair(p[0], p[1]);
        }
    }

    const LANES: usize = super::LANES;

    /// [`super::product_bf16`] for the `16·NV` columns from `col`: `NT` rows of `m` at
    /// a time, their `NT × NV` vectors in registers, as the f32 kernels do, with one
    /// `vdpbf16ps` per pair of rows of `v`.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F and BF16; `u` holds `n·k2` pairs, `v` `k2·cols`
    /// (by blocks of 16 columns), `m` `n·cols` floats, `col` is a multiple of 16 and
    /// `col + 16·NV <= cols`.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn product_bf16<const NV: usize, const NT: usize>(
        (u, v, m): (&[u32], &[u32], &mut [f32]),
        (n, k2, cols): (usize, usize, usize),
        col: usize,
    ) {
        let mut t = 0;
        while t + NT <= n {
            // SAFETY: rows t..t + NT exist (t + NT <= n); the caller's sizes.
            unsafe { rows_bf16::<NV, NT>((u, v, m), (k2, cols), (t, col)) };
            t += NT;
        }
        while t < n {
            // SAFETY: row t exists; the caller's sizes.
            unsafe { rows_bf16::<NV, 1>((u, v, m), (k2, cols), (t, col)) };
            t += 1;
        }
    }

    /// Rows `t..t + R` of [`product_bf16`].
    ///
    /// # Safety
    /// As for [`product_bf16`], with `t + R <= n`.
    #[target_feature(enable = "avx512f,avx512bf16")]
    #[inline]
    unsafe fn rows_bf16<const NV: usize, const R: usize>(
        (u, v, m): (&[u32], &[u32], &mut [f32]),
        (k2, cols): (usize, usize),
        (t, col): (usize, usize),
    ) {
        let (u, v, m) = (u.as_ptr(), v.as_ptr(), m.as_mut_ptr());
        let mut acc = [[_mm512_setzero_ps(); NV]; R];
        for q in 0..k2 {
            let mut vq = [as_bh(_mm512_setzero_si512()); NV];
            for (j, w) in vq.iter_mut().enumerate() {
                // Columns c..c + 16 (one block) of row pair q.
                let c = col + LANES * j;
                let at = (c / LANES * k2 + q) * LANES;
                // SAFETY: q < k2, c + 16 <= cols: inside v's k2·cols pairs.
                *w = as_bh(unsafe { _mm512_loadu_si512(v.add(at).cast()) });
            }
            for (i, row) in acc.iter_mut().enumerate() {
                // SAFETY: row t + i < n, q < k2: inside u's n·k2 pairs.
                let x = as_bh(_mm512_set1_epi32(unsafe { *u.add((t + i) * k2 + q) } as i32));
                for (a, &w) in row.iter_mut().zip(&vq) {
                    *a = _mm512_dpbf16_ps(*a, x, w);
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (j, &a) in row.iter().enumerate() {
                // SAFETY: row t + i < n, col + 16·(j + 1) <= cols: inside m.
                unsafe { _mm512_storeu_ps(m.add((t + i) * cols + col + LANES * j), a) };
            }
        }
    }
}

/// Row and column parity of each input phase, in the order the kernels stack.
const PHASES: [(usize, usize); 4] = [(0, 0), (0, 1), (1, 0), (1, 1)];

#[cfg(test)]
mod tests {
    use super::*;

    /// F(4, 3) in one dimension: Aᵀ[(G g) ⊙ (Bᵀ d)] is the correlation of d with g.
    #[test]
    fn one_dimensional_identity() {
        let d = [0.3f64, -1.2, 2.5, 0.7, -0.4, 1.9];
        let g = [0.8f64, -0.5, 1.3];
        let gg: Vec<f64> = G
            .iter()
            .map(|r| r.iter().zip(&g).map(|(a, b)| a * b).sum())
            .collect();
        let bd: Vec<f64> = BT
            .iter()
            .map(|r| r.iter().zip(&d).map(|(&a, b)| f64::from(a) * b).sum())
            .collect();
        for (i, row) in AT.iter().enumerate() {
            let y: f64 = (0..A).map(|k| f64::from(row[k]) * gg[k] * bd[k]).sum();
            let want: f64 = (0..3).map(|k| g[k] * d[i + k]).sum();
            assert!((y - want).abs() < 1e-12, "output {i}: {y} vs {want}");
        }
    }

    /// The whole layer against a direct 5×5 stride-2 convolution, with sizes that leave
    /// partial tiles on both edges, for output widths of each kernel of [`product`]
    /// (64, 96) and of the fallback (32).
    /// The SIMD products this CPU has agree with the gemm one on blocked columns, for
    /// whole register blocks of rows and the rows left over.
    #[test]
    fn products_agree() {
        let (n, k) = (13, 40);
        for cols in [16, 48, 64, 96, 256] {
            let f = |i: usize| ((i * 7919 % 211) as f32 - 105.0) / 64.0;
            let u: Vec<f32> = (0..n * k).map(f).collect();
            let plain: Vec<f32> = (0..k * cols).map(|i| f(i + 3)).collect();
            let v = block_columns(&plain, 1, k, cols);
            let (mut simd, mut gemm) = (vec![0f32; n * cols], vec![0f32; n * cols]);
            product(&u, &v, &mut simd, (n, k, cols));
            product_gemm(&u, &v, &mut gemm, (n, k, cols));
            for (i, (a, b)) in simd.iter().zip(&gemm).enumerate() {
                // The direct sum, from the row-major matrix.
                let (t, c) = (i / cols, i % cols);
                let want: f32 = (0..k).map(|kk| u[t * k + kk] * plain[kk * cols + c]).sum();
                assert!(
                    (a - want).abs() < 1e-3 && (b - want).abs() < 1e-3,
                    "{a} {b} {want}"
                );
            }
        }
    }

    #[test]
    fn matches_direct_convolution() {
        for cout in [32, 64, 96] {
            matches_direct(16, cout, 14, 22);
        }
    }

    fn matches_direct(cin: usize, cout: usize, h: usize, w: usize) {
        let err = conv_error(cin, cout, (h, w), Precision::F32);
        assert!(err < 1e-4, "{cin}→{cout}: {err}");
    }

    /// The largest |error| against a direct convolution in f64, of outputs about 1 in
    /// size, for a `cin → cout` layer on an `h × w` input.
    fn conv_error(cin: usize, cout: usize, (h, w): (usize, usize), precision: Precision) -> f64 {
        let mut seed = 1u32;
        let mut rand = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        let wts: Vec<f32> = (0..25 * cin * cout).map(|_| rand()).collect();
        let bias: Vec<f32> = (0..cout).map(|_| rand()).collect();
        let (ph, pw) = (h + 4, w + 4);
        let mut xp = vec![0f32; ph * pw * cin];
        for y in 2..h + 2 {
            for x in 2..w + 2 {
                for c in 0..cin {
                    xp[(y * pw + x) * cin + c] = rand();
                }
            }
        }
        let (ho, wo) = (h / 2, w / 2);
        let conv = WinogradConv::new(&wts, cin, cout, precision);
        let out_pad = 1;
        let row_len = (wo + 2) * cout;
        let mut out = vec![0f32; (ho + 2) * row_len];
        let mut s = Scratch::default();
        let mut err = 0f64;
        for ti in 0..ho.div_ceil(M) {
            let rows = (M * ti..(M * ti + M).min(ho)).len();
            let chunk = &mut out[(1 + M * ti) * row_len..(1 + M * ti + rows) * row_len];
            conv.tile_row(
                (&xp, ph, pw),
                ti,
                (ho, wo),
                &bias,
                (chunk, row_len, out_pad),
                &mut s,
            );
        }
        for oy in 0..ho {
            for ox in 0..wo {
                for co in 0..cout {
                    let mut want = f64::from(bias[co]);
                    for ky in 0..5 {
                        for kx in 0..5 {
                            for ci in 0..cin {
                                want +=
                                    f64::from(xp[((2 * oy + ky) * pw + 2 * ox + kx) * cin + ci])
                                        * f64::from(wts[((ky * 5 + kx) * cin + ci) * cout + co]);
                            }
                        }
                    }
                    let got = out[(1 + oy) * row_len + (1 + ox) * cout + co];
                    err = err.max((f64::from(got) - want).abs());
                }
            }
        }
        // The border stays as it was.
        assert!(out[..row_len].iter().all(|&v| v == 0.0));
        assert!(out[(ho + 1) * row_len..].iter().all(|&v| v == 0.0));
        err
    }

    /// The up-sampling layer against a direct transposed convolution.
    #[test]
    fn up_matches_direct_transposed_convolution() {
        for cout in [32, 64] {
            up_matches_direct(16, cout, 7, 11);
        }
    }

    fn up_matches_direct(cin: usize, cout: usize, h: usize, w: usize) {
        let err = up_error(cin, cout, (h, w), Precision::F32);
        assert!(err < 1e-4, "{cin}→{cout}: {err}");
    }

    /// [`conv_error`] for the up-sampling layer.
    fn up_error(cin: usize, cout: usize, (h, w): (usize, usize), precision: Precision) -> f64 {
        let mut seed = 7u32;
        let mut rand = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        let wts: Vec<f32> = (0..25 * cin * cout).map(|_| rand()).collect();
        let bias: Vec<f32> = (0..cout).map(|_| rand()).collect();
        let x: Vec<f32> = (0..h * w * cin).map(|_| rand()).collect();
        let (ph, pw) = (h + 2, w + 2);
        let mut xp = vec![0f32; ph * pw * cin];
        for y in 0..h {
            for xx in 0..w {
                let at = ((y + 1) * pw + xx + 1) * cin;
                xp[at..at + cin].copy_from_slice(&x[(y * w + xx) * cin..][..cin]);
            }
        }
        let conv = WinogradUp::new(&wts, cin, cout, precision);
        let (ho, wo, out_pad) = (2 * h, 2 * w, 1);
        let row_len = (wo + 2) * cout;
        let mut out = vec![0f32; (ho + 2) * row_len];
        let mut s = Scratch::default();
        for ti in 0..h.div_ceil(M) {
            let rows = (2 * M * ti..(2 * M * ti + 2 * M).min(ho)).len();
            let chunk = &mut out[(1 + 2 * M * ti) * row_len..(1 + 2 * M * ti + rows) * row_len];
            conv.tile_row(&xp, ti, (h, w), &bias, (chunk, row_len, out_pad), &mut s);
        }
        // Direct: input (iy, ix) spreads to output (2·iy − 2 + ky, 2·ix − 2 + kx).
        let mut want = vec![0f64; ho * wo * cout];
        for (i, v) in want.iter_mut().enumerate() {
            *v = f64::from(bias[i % cout]);
        }
        for iy in 0..h {
            for ix in 0..w {
                for ky in 0..5 {
                    for kx in 0..5 {
                        let (oy, ox) = ((2 * iy + ky) as isize - 2, (2 * ix + kx) as isize - 2);
                        if oy < 0 || ox < 0 || oy >= ho as isize || ox >= wo as isize {
                            continue;
                        }
                        let o = (oy as usize * wo + ox as usize) * cout;
                        for ci in 0..cin {
                            let xv = f64::from(x[(iy * w + ix) * cin + ci]);
                            for co in 0..cout {
                                let k = wts[((ci * cout + co) * 5 + ky) * 5 + kx];
                                want[o + co] += xv * f64::from(k);
                            }
                        }
                    }
                }
            }
        }
        let mut err = 0f64;
        for oy in 0..ho {
            for ox in 0..wo {
                for co in 0..cout {
                    let got = out[(1 + oy) * row_len + (1 + ox) * cout + co];
                    let want = want[(oy * wo + ox) * cout + co];
                    err = err.max((f64::from(got) - want).abs());
                }
            }
        }
        assert!(out[..row_len].iter().all(|&v| v == 0.0));
        assert!(out[(ho + 1) * row_len..].iter().all(|&v| v == 0.0));
        err
    }

    /// Whether this CPU runs the bf16 kernels; says so when it does not.
    fn has_bf16() -> bool {
        let yes = Precision::Bf16.effective() == Precision::Bf16;
        if !yes {
            eprintln!("skipped: no AVX-512 BF16 at level {}", level());
        }
        yes
    }

    /// The bf16 product sums exactly the products of the bf16-rounded operands (up to
    /// f32 summation), for both register blockings and a row count that leaves a
    /// remainder.
    #[test]
    fn bf16_product_sums_the_rounded_operands() {
        if !has_bf16() {
            return;
        }
        let round = |x: f32| f64::from(half::bf16::from_f32(x).to_f32());
        for (n, k, cols) in [(13, 32, 64), (7, 48, 128), (9, 16, 96)] {
            let u = crate::test_util::random(n * k, 1);
            let plain = crate::test_util::random(k * cols, 2);
            let v = match Kernels::new(
                block_columns(&plain, 1, k, cols),
                (k, cols),
                Precision::Bf16,
            ) {
                Kernels::Bf16(v) => v,
                Kernels::F32(_) => panic!("bf16 kernels for {cols} columns"),
            };
            let mut ub = vec![0u32; n * k / 2];
            to_bf16_pairs(&u, &mut ub);
            let mut m = vec![0f32; n * cols];
            product_bf16(&ub, &v, &mut m, (n, k / 2, cols));
            for (i, &got) in m.iter().enumerate() {
                let (t, c) = (i / cols, i % cols);
                let want: f64 = (0..k)
                    .map(|kk| round(u[t * k + kk]) * round(plain[kk * cols + c]))
                    .sum();
                assert!(
                    (f64::from(got) - want).abs() < 1e-5,
                    "{n}×{k}×{cols} [{t}, {c}]: {got} vs {want}"
                );
            }
        }
    }

    /// bf16 layers stay near the direct convolution. Not near enough for everything:
    /// the transforms scale values by up to 8 before they are rounded to bf16's 8
    /// bits and the output transform adds them back with cancellation, so the error
    /// is 0.3–0.55 on outputs of standard deviation 1.7–3.3 (f32: < 10⁻⁴; a direct
    /// bf16 sum would be ≈ 0.01); a kernel that paired the wrong values would be off
    /// by several units.
    #[test]
    fn bf16_layers_stay_near_direct_convolution() {
        if !has_bf16() {
            return;
        }
        for cout in [64, 96] {
            let err = conv_error(64, cout, (14, 22), Precision::Bf16);
            assert!(err < 1.0, "conv 64→{cout}: {err}");
        }
        for cout in [16, 32] {
            let err = up_error(64, cout, (7, 11), Precision::Bf16);
            assert!(err < 1.0, "up 64→{cout}: {err}");
        }
    }
}
