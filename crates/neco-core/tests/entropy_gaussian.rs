//! Tests for the quantized-Gaussian entropy model.

use neco_core::entropy::gaussian::{
    decode_parallel, decode_symbols, deterministic_exp, encode_parallel, encode_symbols, erfc,
    gaussian_tables, scale_index, std_normal_cdf, substream_ranges, NUM_SCALES,
    SCALE_BOUNDARIES_FIXED, SCALE_LADDER, SCALE_MAX, SCALE_MIN,
};
use neco_core::entropy::{MAX_ABS_SYMBOL, PRECISION};
use neco_core::NecoError;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// SplitMix64: a tiny deterministic generator for test data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[test]
fn ladder_is_log_spaced_and_boundaries_are_midpoints() {
    assert_eq!(SCALE_LADDER[0], SCALE_MIN);
    assert_eq!(SCALE_LADDER[NUM_SCALES - 1], SCALE_MAX);
    let ratio = (64.0f64 / 0.11).powf(1.0 / 63.0);
    for i in 0..NUM_SCALES - 1 {
        let r = SCALE_LADDER[i + 1] as f64 / SCALE_LADDER[i] as f64;
        assert!((r - ratio).abs() < 1e-6, "ratio at {i}: {r}");
        let b = SCALE_BOUNDARIES_FIXED[i] as f64 / 65536.0;
        assert!(b > SCALE_LADDER[i] as f64 && b < SCALE_LADDER[i + 1] as f64);
        let mid = (SCALE_LADDER[i] as f64 * SCALE_LADDER[i + 1] as f64).sqrt();
        assert!((b - mid).abs() <= 1.0 / 65536.0);
    }
}

#[test]
fn scale_index_edges_and_monotone() {
    assert_eq!(scale_index(f32::NAN), 0);
    assert_eq!(scale_index(-f32::NAN), 0);
    assert_eq!(scale_index(0.0), 0);
    assert_eq!(scale_index(-0.0), 0);
    assert_eq!(scale_index(-5.0), 0);
    assert_eq!(scale_index(f32::NEG_INFINITY), 0);
    assert_eq!(scale_index(f32::INFINITY), 63);
    assert_eq!(scale_index(f32::MAX), 63);
    assert_eq!(scale_index(1e30), 63);
    assert_eq!(scale_index(64.0), 63);
    assert_eq!(scale_index(0.11), 0);
    // Every ladder scale maps to itself.
    for (i, &s) in SCALE_LADDER.iter().enumerate() {
        assert_eq!(scale_index(s) as usize, i, "ladder scale {s}");
    }
    // Boundaries: exactly at a boundary goes up.
    for (i, &b) in SCALE_BOUNDARIES_FIXED.iter().enumerate() {
        let s = b as f32 / 65536.0;
        assert_eq!(scale_index(s) as usize, i + 1);
        let below = (b - 1) as f32 / 65536.0;
        assert_eq!(scale_index(below) as usize, i);
    }
    // Monotone over a dense sweep.
    let mut prev = 0u8;
    let mut s = 0.0f32;
    while s < 100.0 {
        let i = scale_index(s);
        assert!(i >= prev, "not monotone at {s}");
        prev = i;
        s += 0.001;
    }
    assert_eq!(prev, 63);
}

#[test]
fn deterministic_exp_and_erfc_are_accurate() {
    let mut x = -700.0f64;
    while x < 700.0 {
        let a = deterministic_exp(x);
        let b = x.exp();
        assert!(((a - b) / b).abs() < 1e-14, "exp({x}) = {a}, std {b}");
        x += 0.37;
    }
    assert_eq!(deterministic_exp(0.0), 1.0);
    assert_eq!(deterministic_exp(-800.0), 0.0);
    assert!(deterministic_exp(800.0).is_infinite());
    assert!(deterministic_exp(f64::NAN).is_nan());
    // Known values of erfc / Φ.
    for (x, want) in [
        (0.0, 1.0),
        (0.5, 0.479_500_122_186_953_5),
        (1.0, 0.157_299_207_050_285_13),
        (2.0, 0.004_677_734_981_047_266),
        (3.0, 2.209_049_699_858_544e-5),
        (-1.0, 1.842_700_792_949_715),
    ] {
        let got = erfc(x);
        assert!(((got - want) / want).abs() < 1.3e-7, "erfc({x}) = {got}");
    }
    assert!((std_normal_cdf(0.0) - 0.5).abs() < 1e-7);
    assert!((std_normal_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-7);
}

#[test]
fn tables_are_valid() {
    let t = gaussian_tables();
    assert_eq!(t.tables().len(), NUM_SCALES);
    assert!(t.get(NUM_SCALES).is_none());
    for (i, tab) in t.tables().iter().enumerate() {
        let r = tab.radius();
        assert_eq!(tab.scale(), SCALE_LADDER[i]);
        let want_r = ((7.0 * SCALE_LADDER[i] as f64).ceil() as i32).clamp(2, 512);
        assert_eq!(r, want_r);
        let pmf = tab.pmf();
        assert_eq!(pmf.len(), 2 * r as usize + 2);
        assert!(pmf.iter().all(|&p| p >= 1));
        assert_eq!(pmf.iter().map(|&p| p as u64).sum::<u64>(), 1 << PRECISION);
        // Symmetric and unimodal around 0.
        for k in 0..r as usize {
            assert_eq!(pmf[r as usize + k], pmf[r as usize - k]);
            assert!(
                pmf[r as usize + k] >= pmf[r as usize + k + 1],
                "table {i} k {k}: {:?}",
                &pmf[r as usize..]
            );
        }
    }
}

/// Pins every Gaussian table bit for bit: any change to the table math must be
/// deliberate (and is a format change).
#[test]
fn tables_checksum_is_pinned() {
    let mut h = Sha256::new();
    for tab in gaussian_tables().tables() {
        h.update((tab.pmf().len() as u32).to_le_bytes());
        for &p in tab.pmf() {
            h.update(p.to_le_bytes());
        }
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "aa36a994bdd8d9020530c1f8447800c48297f7a556ad4feecea25f41b77b49e7"
    );
}

fn random_case(seed: u64, n: usize) -> (Vec<i32>, Vec<u8>) {
    let mut rng = Rng(seed);
    let mut sym = Vec::with_capacity(n);
    let mut idx = Vec::with_capacity(n);
    for _ in 0..n {
        let si = (rng.next() % NUM_SCALES as u64) as u8;
        let sigma = SCALE_LADDER[si as usize] as f64;
        let v = match rng.next() % 50 {
            0 => 1_000_000,
            1 => -1_000_000,
            2 => MAX_ABS_SYMBOL,
            3 => -MAX_ABS_SYMBOL,
            4 => (rng.next() % 5000) as i32 - 2500,
            _ => (rng.gauss() * sigma).round() as i32,
        };
        sym.push(v);
        idx.push(si);
    }
    (sym, idx)
}

#[test]
fn round_trip_random_with_escapes() {
    for seed in 0..8 {
        let (sym, idx) = random_case(seed, 5000);
        let bytes = encode_symbols(&sym, &idx).unwrap();
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(decode_symbols(&bytes, &idx).unwrap(), sym);
    }
    // Empty.
    let bytes = encode_symbols(&[], &[]).unwrap();
    assert_eq!(decode_symbols(&bytes, &[]).unwrap(), Vec::<i32>::new());
}

#[test]
fn round_trip_parallel_matches_serial_slices() {
    let (sym, idx) = random_case(99, 10_007);
    for n in [1, 2, 3, 7, 16] {
        let streams = encode_parallel(&sym, &idx, n).unwrap();
        assert_eq!(streams.len(), n);
        for (s, r) in streams.iter().zip(substream_ranges(sym.len(), n)) {
            assert_eq!(s, &encode_symbols(&sym[r.clone()], &idx[r]).unwrap());
        }
        assert_eq!(decode_parallel(&streams, &idx).unwrap(), sym);
        let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
        assert_eq!(decode_parallel(&refs, &idx).unwrap(), sym);
    }
    // More substreams than symbols.
    let streams = encode_parallel(&sym[..3], &idx[..3], 5).unwrap();
    assert_eq!(decode_parallel(&streams, &idx[..3]).unwrap(), &sym[..3]);
    assert!(matches!(
        encode_parallel(&sym, &idx, 0),
        Err(NecoError::InvalidArgument(_))
    ));
}

#[test]
fn substream_ranges_rule() {
    assert_eq!(substream_ranges(10, 3), vec![0..4, 4..7, 7..10]);
    assert_eq!(substream_ranges(2, 4), vec![0..1, 1..2, 2..2, 2..2]);
    assert_eq!(substream_ranges(9, 3), vec![0..3, 3..6, 6..9]);
    assert!(substream_ranges(5, 0).is_empty());
}

#[test]
fn invalid_arguments() {
    assert!(matches!(
        encode_symbols(&[1, 2], &[0]),
        Err(NecoError::InvalidArgument(_))
    ));
    assert!(matches!(
        encode_symbols(&[1], &[64]),
        Err(NecoError::InvalidArgument(_))
    ));
    assert!(matches!(
        encode_symbols(&[MAX_ABS_SYMBOL + 1], &[3]),
        Err(NecoError::InvalidArgument(_))
    ));
    assert!(matches!(
        encode_symbols(&[i32::MIN], &[3]),
        Err(NecoError::InvalidArgument(_))
    ));
    assert!(matches!(
        decode_symbols(&[0; 8], &[200]),
        Err(NecoError::InvalidArgument(_))
    ));
    assert!(matches!(
        decode_symbols(&[0; 7], &[0]),
        Err(NecoError::Corrupt(_))
    ));
}

/// Pins the exact bytes of a small input, so any change to tables or coder is deliberate.
#[test]
fn golden_bytes() {
    let sym = [0, 1, -1, 2, -3, 5, 0, 40, -700, 1_000_000, 0, 3];
    let idx = [0, 10, 20, 30, 33, 40, 63, 5, 50, 25, 12, 33];
    let bytes = encode_symbols(&sym, &idx).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "554e2cf630b134928639938b36403e974453dd35");
    assert_eq!(decode_symbols(&bytes, &idx).unwrap(), sym);
}

/// Coded size for σ = 3 samples is within 2% of the ideal −log2 p of the true
/// (unquantized-probability) discretized Gaussian.
#[test]
fn coding_is_efficient() {
    let sigma = 3.0f64;
    let n = 200_000;
    let mut rng = Rng(7);
    let sym: Vec<i32> = (0..n)
        .map(|_| (rng.gauss() * sigma).round() as i32)
        .collect();
    let idx = vec![scale_index(sigma as f32); n];
    let bytes = encode_symbols(&sym, &idx).unwrap();
    let ideal: f64 = sym
        .iter()
        .map(|&k| {
            let k = k as f64;
            let p = std_normal_cdf((k + 0.5) / sigma) - std_normal_cdf((k - 0.5) / sigma);
            -p.log2()
        })
        .sum();
    let coded = bytes.len() as f64 * 8.0;
    let overhead = coded / ideal - 1.0;
    eprintln!(
        "ideal {ideal:.0} bits, coded {coded} bits, overhead {:.4}%",
        overhead * 100.0
    );
    assert!(overhead < 0.02, "overhead {overhead}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn hostile_random_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..256),
        idx in proptest::collection::vec(0u8..64, 0..300),
    ) {
        let r = decode_symbols(&data, &idx);
        if data.len() % 4 != 0 {
            prop_assert!(matches!(r, Err(NecoError::Corrupt(_))));
        }
        if let Ok(v) = r {
            prop_assert_eq!(v.len(), idx.len());
            prop_assert!(v.iter().all(|x| x.abs() <= MAX_ABS_SYMBOL));
        }
    }

    #[test]
    fn hostile_truncated_or_mutated_never_panic(
        seed in any::<u64>(),
        cut in 0usize..4096,
        flip in any::<(usize, u8)>(),
    ) {
        let (sym, idx) = random_case(seed, 200);
        let mut bytes = encode_symbols(&sym, &idx).unwrap();
        prop_assert_eq!(&decode_symbols(&bytes, &idx).unwrap(), &sym);
        if !bytes.is_empty() {
            let i = flip.0 % bytes.len();
            bytes[i] ^= flip.1 | 1;
        }
        let _ = decode_symbols(&bytes, &idx);
        let cut = cut.min(bytes.len());
        let _ = decode_symbols(&bytes[..cut], &idx);
        let _ = decode_parallel(&[&bytes[..cut], &bytes[..]], &idx);
    }

    #[test]
    fn round_trip_prop(
        pairs in proptest::collection::vec((-MAX_ABS_SYMBOL..=MAX_ABS_SYMBOL, 0u8..64), 0..200),
        small in proptest::collection::vec((-20i32..=20, 0u8..64), 0..200),
    ) {
        let all: Vec<(i32, u8)> = pairs.into_iter().chain(small).collect();
        let sym: Vec<i32> = all.iter().map(|p| p.0).collect();
        let idx: Vec<u8> = all.iter().map(|p| p.1).collect();
        let bytes = encode_symbols(&sym, &idx).unwrap();
        prop_assert_eq!(decode_symbols(&bytes, &idx).unwrap(), sym);
    }
}
