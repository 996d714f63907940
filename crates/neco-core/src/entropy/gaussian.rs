//! Quantized zero-mean Gaussian tables for ŷ and the coder that uses them.
//!
//! # Tables
//!
//! A fixed ladder of [`NUM_SCALES`] scales, log-spaced from [`SCALE_MIN`] to
//! [`SCALE_MAX`] ([`SCALE_LADDER`], hard-coded f32 literals). For ladder scale σ the
//! table covers the symbols `-R..=R` with
//!
//! ```text
//! R = clamp(ceil(7 σ), 2, 512)
//! ```
//!
//! plus one ESCAPE symbol that holds the tail mass `P(|Y| > R + 1/2)`. Symbol `k` has
//! probability `Φ((k + ½)/σ) − Φ((k − ½)/σ)`; the table is quantized to
//! [`PRECISION`](super::quantize::PRECISION) = 16 bits with
//! [`quantize_pmf`] (every entry ≥ 1, exact total).
//! Values with `|v| > R` are coded as ESCAPE followed by the
//! [escape code](super::escape).
//!
//! Φ is computed by this module's own code ([`std_normal_cdf`]): Numerical Recipes'
//! `erfcc` Chebyshev fit (fractional error < 1.2e-7) on top of [`deterministic_exp`],
//! an `exp` built from Cody–Waite range reduction, a fixed degree-13 Taylor polynomial
//! and an exact power-of-two scaling. Only ordered IEEE f64 `+ - * /`, comparisons
//! and casts are used, so the tables are bit-identical on every machine (pinned by a
//! checksum test).
//!
//! # Scale index
//!
//! [`scale_index`] converts a predicted scale to 16.16 fixed point and compares it,
//! as an integer, against [`SCALE_BOUNDARIES_FIXED`] (the geometric midpoints of
//! adjacent ladder scales, in 16.16 fixed point).

use super::coder::{self, dec_err, enc_err};
use super::escape::{check_symbol, decode_escape, encode_escape, escaped_value};
use super::quantize::{model_from_pmf, quantize_pmf, Model};
use crate::{NecoError, Result};
use constriction::stream::{Decode, Encode};
use rayon::prelude::*;
use std::ops::Range;
use std::sync::OnceLock;

/// Number of scales in the ladder (and of Gaussian tables).
pub const NUM_SCALES: usize = 64;
/// Smallest ladder scale.
pub const SCALE_MIN: f32 = 0.11;
/// Largest ladder scale.
pub const SCALE_MAX: f32 = 64.0;

/// The scale ladder: `SCALE_MIN · (SCALE_MAX / SCALE_MIN)^(i / 63)`, rounded to f32.
///
/// Generated once offline and pasted, so no transcendental function is evaluated at
/// run time.
#[allow(clippy::excessive_precision)]
pub const SCALE_LADDER: [f32; NUM_SCALES] = [
    0.10999999940395355,
    0.12169653177261353,
    0.1346367746591568,
    0.14895299077033997,
    0.16479147970676422,
    0.18231409788131714,
    0.20169994235038757,
    0.22314710915088654,
    0.24687480926513672,
    0.2731255292892456,
    0.30216753482818604,
    0.33429765701293945,
    0.3698442280292511,
    0.409170538187027,
    0.45267850160598755,
    0.5008127689361572,
    0.5540652275085449,
    0.6129801273345947,
    0.6781595945358276,
    0.7502697110176086,
    0.8300474882125854,
    0.9183081984519958,
    1.015953779220581,
    1.123982310295105,
    1.2434977293014526,
    1.3757214546203613,
    1.5220047235488892,
    1.683842658996582,
    1.862889289855957,
    2.06097412109375,
    2.2801218032836914,
    2.5225720405578613,
    2.790802478790283,
    3.0875542163848877,
    3.415860414505005,
    3.779075860977173,
    4.180912971496582,
    4.625478267669678,
    5.117315292358398,
    5.661449909210205,
    6.263443946838379,
    6.929449081420898,
    7.666271686553955,
    8.48144245147705,
    9.383292198181152,
    10.381036758422852,
    11.484874725341797,
    12.706085205078125,
    14.057149887084961,
    15.551876068115234,
    17.20553970336914,
    19.03504180908203,
    21.0590763092041,
    23.29833221435547,
    25.775693893432617,
    28.516477584838867,
    31.548694610595703,
    34.9033317565918,
    38.61467742919922,
    42.72065734863281,
    47.26323318481445,
    52.28883361816406,
    57.84881591796875,
    64.0,
];

/// Bin boundaries for [`scale_index`] in 16.16 fixed point:
/// `floor(sqrt(SCALE_LADDER[i] · SCALE_LADDER[i + 1]) · 65536)`, generated offline.
pub const SCALE_BOUNDARIES_FIXED: [u32; NUM_SCALES - 1] = [
    7582, 8388, 9280, 10267, 11359, 12567, 13903, 15382, 17017, 18827, 20829, 23043, 25494, 28205,
    31204, 34522, 38192, 42254, 46747, 51717, 57217, 63301, 70032, 77478, 85717, 94831, 104915,
    116071, 128413, 142067, 157174, 173886, 192376, 212832, 235463, 260500, 288199, 318844, 352748,
    390256, 431753, 477662, 528453, 584645, 646811, 715588, 791678, 875859, 968991, 1072026,
    1186017, 1312128, 1451650, 1606007, 1776777, 1965706, 2174723, 2405966, 2661798, 2944832,
    3257962, 3604388, 3987651,
];

/// Radius multiplier: a table covers `-R..=R` with `R = clamp(ceil(7σ), 2, 512)`.
pub const RADIUS_SIGMAS: f64 = 7.0;
/// Smallest table radius.
pub const MIN_RADIUS: i32 = 2;
/// Largest table radius.
pub const MAX_RADIUS: i32 = 512;

/// Maps a predicted scale to a table index in `0..NUM_SCALES`.
///
/// The scale is clamped to `[0, 1e4]` (NaN → 0), converted to 16.16 fixed point
/// (`(s * 65536.0) as u32`, exact up to truncation) and located among
/// [`SCALE_BOUNDARIES_FIXED`] by integer binary search: the index is the number of
/// boundaries `≤` the fixed-point scale. Monotone non-decreasing in `scale`.
pub fn scale_index(scale: f32) -> u8 {
    let s = if scale.is_nan() {
        0.0
    } else {
        scale.clamp(0.0, 1.0e4)
    };
    let fixed = (s * 65536.0) as u32;
    SCALE_BOUNDARIES_FIXED.partition_point(|&b| b <= fixed) as u8
}

/// `exp(x)` computed with ordered IEEE f64 operations only (no libm).
///
/// `x = n·ln2 + r` (Cody–Waite, fdlibm's split of ln 2), `e^r` by a degree-13 Taylor
/// polynomial in Horner form (|r| ≤ 0.35, truncation error < 1e-16 relative), then an
/// exact multiplication by `2^n` built from its bit pattern. Returns 0 for
/// `x < -708`, +∞ for `x > 709`, NaN for NaN. Relative error ≈ 1e-15.
pub fn deterministic_exp(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < -708.0 {
        return 0.0;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    // fdlibm's split of ln 2: LN2_HI has 32 trailing zero bits, so n·LN2_HI is exact.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    const INV_LN2: f64 = std::f64::consts::LOG2_E;
    let t = x * INV_LN2;
    let n: i64 = if t >= 0.0 {
        (t + 0.5) as i64
    } else {
        (t - 0.5) as i64
    };
    let nf = n as f64;
    let r = (x - nf * LN2_HI) - nf * LN2_LO;
    // Taylor coefficients 1/k!, k = 13 down to 0.
    const C: [f64; 14] = [
        1.0 / 6_227_020_800.0,
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        1.0 / 2.0,
        1.0,
        1.0,
    ];
    let mut p = C[0];
    for &c in &C[1..] {
        p = p * r + c;
    }
    // n ∈ [-1022, 1023] here, so 2^n is a normal f64.
    let two_n = f64::from_bits(((n + 1023) as u64) << 52);
    p * two_n
}

/// Complementary error function, Numerical Recipes' `erfcc` (fractional error
/// < 1.2e-7), evaluated with [`deterministic_exp`] and ordered f64 operations.
pub fn erfc(x: f64) -> f64 {
    let z = if x < 0.0 { -x } else { x };
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * deterministic_exp(poly);
    if x >= 0.0 {
        ans
    } else {
        2.0 - ans
    }
}

/// Standard normal CDF Φ(x) = erfc(−x/√2)/2, deterministic (see [`erfc`]).
pub fn std_normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// One quantized Gaussian table.
#[derive(Debug)]
pub struct GaussianTable {
    scale: f32,
    radius: i32,
    pmf: Vec<u32>,
    model: Model,
}

impl GaussianTable {
    /// The ladder scale σ of this table.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// The radius `R`: symbols `-R..=R` are coded directly.
    pub fn radius(&self) -> i32 {
        self.radius
    }

    /// Fixed-point probabilities (sum `1 << 16`): entry `k + R` for symbol `k`, the
    /// last entry (`2R + 1`) for ESCAPE.
    pub fn pmf(&self) -> &[u32] {
        &self.pmf
    }

    fn build(scale: f32) -> Self {
        let sigma = scale as f64;
        let t = RADIUS_SIGMAS * sigma;
        let mut r = t as i32; // truncation; t > 0
        if (r as f64) < t {
            r += 1;
        }
        let radius = r.clamp(MIN_RADIUS, MAX_RADIUS);
        let denom = sigma * std::f64::consts::SQRT_2;
        // Upper tail Q_k = P(Y > k + 1/2) = erfc((k + 1/2) / (σ√2)) / 2, k = 0..=R.
        let tail: Vec<f64> = (0..=radius)
            .map(|k| 0.5 * erfc((k as f64 + 0.5) / denom))
            .collect();
        let n = 2 * radius as usize + 2;
        let mut w = vec![0.0f64; n];
        let center = radius as usize;
        w[center] = 1.0 - 2.0 * tail[0];
        for k in 1..=radius as usize {
            let p = tail[k - 1] - tail[k];
            w[center + k] = p;
            w[center - k] = p;
        }
        w[n - 1] = 2.0 * tail[radius as usize];
        let pmf = quantize_pmf(&w).expect("table sizes are within 2..=65536");
        let model = model_from_pmf(&pmf).expect("quantize_pmf output is a valid table");
        GaussianTable {
            scale,
            radius,
            pmf,
            model,
        }
    }
}

/// All [`NUM_SCALES`] Gaussian tables, built once (see [`gaussian_tables`]).
#[derive(Debug)]
pub struct GaussianTables {
    tables: Vec<GaussianTable>,
}

impl GaussianTables {
    /// All tables, indexed by scale index.
    pub fn tables(&self) -> &[GaussianTable] {
        &self.tables
    }

    /// The table for `scale_idx`, or `None` if `scale_idx >= NUM_SCALES`.
    pub fn get(&self, scale_idx: usize) -> Option<&GaussianTable> {
        self.tables.get(scale_idx)
    }
}

/// The process-wide Gaussian tables, computed on first use.
pub fn gaussian_tables() -> &'static GaussianTables {
    static TABLES: OnceLock<GaussianTables> = OnceLock::new();
    TABLES.get_or_init(|| GaussianTables {
        tables: SCALE_LADDER
            .iter()
            .map(|&s| GaussianTable::build(s))
            .collect(),
    })
}

fn check_lengths(symbols: &[i32], scale_idx: &[u8]) -> Result<()> {
    if symbols.len() != scale_idx.len() {
        return Err(NecoError::InvalidArgument(format!(
            "{} symbols but {} scale indices",
            symbols.len(),
            scale_idx.len()
        )));
    }
    Ok(())
}

fn check_indices(scale_idx: &[u8]) -> Result<()> {
    if let Some(pos) = scale_idx.iter().position(|&i| i as usize >= NUM_SCALES) {
        return Err(NecoError::InvalidArgument(format!(
            "scale index {} at position {pos} is out of range 0..{NUM_SCALES}",
            scale_idx[pos]
        )));
    }
    Ok(())
}

/// Entropy-codes zero-mean integer symbols, symbol `i` with the table
/// `scale_idx[i]`, into one range-coded stream (32-bit words, little-endian bytes).
///
/// Errors ([`NecoError::InvalidArgument`]): length mismatch, an index
/// `>= NUM_SCALES`, or `|symbol| > MAX_ABS_SYMBOL` (2^24).
pub fn encode_symbols(symbols: &[i32], scale_idx: &[u8]) -> Result<Vec<u8>> {
    check_lengths(symbols, scale_idx)?;
    check_indices(scale_idx)?;
    let tables = gaussian_tables();
    let mut enc = coder::Encoder::new();
    for (pos, (&v, &si)) in symbols.iter().zip(scale_idx).enumerate() {
        check_symbol(v, pos)?;
        let t = &tables.tables[si as usize];
        let r = t.radius;
        if v >= -r && v <= r {
            enc.encode_symbol((v + r) as usize, &t.model)
                .map_err(enc_err)?;
        } else {
            enc.encode_symbol(2 * r as usize + 1, &t.model)
                .map_err(enc_err)?;
            let negative = v < 0;
            let magnitude = v.unsigned_abs() - r as u32 - 1;
            encode_escape(&mut enc, negative, magnitude)?;
        }
    }
    coder::finish(enc)
}

/// Decodes `scale_idx.len()` symbols written by [`encode_symbols`].
///
/// Never panics on hostile data: a malformed stream gives [`NecoError::Corrupt`]
/// (or garbage symbols, if it happens to be a valid encoding); an index
/// `>= NUM_SCALES` gives [`NecoError::InvalidArgument`].
pub fn decode_symbols(data: &[u8], scale_idx: &[u8]) -> Result<Vec<i32>> {
    check_indices(scale_idx)?;
    let tables = gaussian_tables();
    let mut dec = coder::open(data)?;
    let mut out = Vec::with_capacity(scale_idx.len());
    for &si in scale_idx {
        let t = &tables.tables[si as usize];
        let r = t.radius;
        let s = dec.decode_symbol(&t.model).map_err(dec_err)?;
        if s == 2 * r as usize + 1 {
            let (negative, magnitude) = decode_escape(&mut dec)?;
            out.push(escaped_value(-r as i64, r as i64, negative, magnitude)?);
        } else {
            out.push(s as i32 - r);
        }
    }
    Ok(out)
}

/// Splits `total` symbols into `n` contiguous substreams: the first `total % n`
/// ranges hold `total / n + 1` symbols, the rest `total / n`. Returns an empty
/// vector for `n == 0`.
pub fn substream_ranges(total: usize, n: usize) -> Vec<Range<usize>> {
    if n == 0 {
        return Vec::new();
    }
    let base = total / n;
    let extra = total % n;
    let mut start = 0;
    (0..n)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .collect()
}

/// Codes `symbols` as `substreams` independent streams (split by
/// [`substream_ranges`]), in parallel. Output is identical to calling
/// [`encode_symbols`] on each range.
///
/// Errors: as [`encode_symbols`], plus `substreams == 0` ([`NecoError::InvalidArgument`]).
pub fn encode_parallel(
    symbols: &[i32],
    scale_idx: &[u8],
    substreams: usize,
) -> Result<Vec<Vec<u8>>> {
    if substreams == 0 {
        return Err(NecoError::InvalidArgument(
            "substreams must be at least 1".into(),
        ));
    }
    check_lengths(symbols, scale_idx)?;
    substream_ranges(symbols.len(), substreams)
        .into_par_iter()
        .map(|r| encode_symbols(&symbols[r.clone()], &scale_idx[r]))
        .collect()
}

/// Decodes the substreams written by [`encode_parallel`], in parallel; the number of
/// substreams is `streams.len()`, the total number of symbols `scale_idx.len()`.
///
/// Errors: as [`decode_symbols`]; no streams for a nonempty `scale_idx` is
/// [`NecoError::Corrupt`].
pub fn decode_parallel<S: AsRef<[u8]> + Sync>(streams: &[S], scale_idx: &[u8]) -> Result<Vec<i32>> {
    if streams.is_empty() {
        if scale_idx.is_empty() {
            return Ok(Vec::new());
        }
        return Err(NecoError::corrupt("no substreams for a nonempty latent"));
    }
    check_indices(scale_idx)?;
    let ranges = substream_ranges(scale_idx.len(), streams.len());
    let parts: Vec<Vec<i32>> = streams
        .par_iter()
        .zip(ranges)
        .map(|(s, r)| decode_symbols(s.as_ref(), &scale_idx[r]))
        .collect::<Result<_>>()?;
    Ok(parts.concat())
}
