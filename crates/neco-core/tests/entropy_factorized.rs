//! Tests for the factorized ẑ tables and the shared quantizer.

use neco_core::entropy::factorized::{MAX_CHANNELS, MAX_TABLE_LEN};
use neco_core::entropy::{quantize_pmf, ChannelTable, FactorizedTables, MAX_ABS_SYMBOL};
use neco_core::NecoError;
use proptest::prelude::*;

fn sample_tables() -> FactorizedTables {
    // Three channels: a peaked one, a skewed one, a tiny one.
    let peaked: Vec<f64> = (-8..=8)
        .map(|v: i32| 0.5f64.powi(v.abs() + 1) * 0.98)
        .collect();
    let skewed: Vec<f64> = (0..20).map(|i| 0.05 * (1.0 - i as f64 / 25.0)).collect();
    let tiny = vec![0.5, 0.5];
    FactorizedTables::from_probabilities(&[(-8, peaked), (-3, skewed), (0, tiny)]).unwrap()
}

#[test]
fn quantize_pmf_rules() {
    let q = quantize_pmf(&[0.5, 0.25, 0.25]).unwrap();
    assert_eq!(q, vec![32768, 16384, 16384]);
    let q = quantize_pmf(&[1.0, 0.0, f64::NAN, -1.0, f64::INFINITY]).unwrap();
    assert_eq!(q.iter().sum::<u32>(), 65536);
    assert!(q.iter().all(|&v| v >= 1));
    assert_eq!(q[1..], [1, 1, 1, 1]);
    let q = quantize_pmf(&[0.0; 7]).unwrap(); // all zero -> uniform
    assert_eq!(q.iter().sum::<u32>(), 65536);
    assert!(q.iter().max().unwrap() - q.iter().min().unwrap() <= 1);
    let q = quantize_pmf(&vec![1.0; 65536]).unwrap();
    assert!(q.iter().all(|&v| v == 1));
    assert!(quantize_pmf(&vec![1.0; 65537]).is_err());
    assert!(quantize_pmf(&[1.0]).is_err());
    // Uniform over 1000 spreads the remainder.
    let q = quantize_pmf(&vec![1.0; 1000]).unwrap();
    assert_eq!(q.iter().sum::<u32>(), 65536);
    assert!(q.iter().max().unwrap() - q.iter().min().unwrap() <= 1);
}

#[test]
fn from_probabilities_layout() {
    let t = sample_tables();
    assert_eq!(t.channels.len(), 3);
    assert_eq!(t.channels[0].offset, -8);
    assert_eq!(t.channels[0].pmf.len(), 18);
    for c in &t.channels {
        assert_eq!(c.pmf.iter().sum::<u32>(), 65536);
        assert!(c.pmf.iter().all(|&p| p >= 1));
    }
    // Tiny channel sums to 1: escape gets the minimum.
    assert_eq!(t.channels[2].pmf[2], 1);
    t.validate().unwrap();
    assert!(FactorizedTables::from_probabilities(&[]).is_err());
    assert!(FactorizedTables::from_probabilities(&[(0, vec![])]).is_err());
    assert!(FactorizedTables::from_probabilities(&[(0, vec![0.1; MAX_TABLE_LEN])]).is_err());
    assert!(FactorizedTables::from_probabilities(&[(MAX_ABS_SYMBOL, vec![0.1, 0.1])]).is_err());
    assert!(FactorizedTables::from_probabilities(&vec![(0, vec![0.5]); MAX_CHANNELS + 1]).is_err());
}

#[test]
fn bytes_round_trip_and_golden() {
    let t = FactorizedTables::from_probabilities(&[(-1, vec![0.25, 0.5, 0.25]), (2, vec![0.9])])
        .unwrap();
    let b = t.to_bytes();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    assert_eq!(
        hex,
        "02000000ffffffff040000000040ff7f00400100020000000200000066e69a19"
    );
    assert_eq!(FactorizedTables::from_bytes(&b).unwrap(), t);
    let big = sample_tables();
    assert_eq!(FactorizedTables::from_bytes(&big.to_bytes()).unwrap(), big);
    // Trailing byte, truncation.
    let mut extra = b.clone();
    extra.push(0);
    assert!(matches!(
        FactorizedTables::from_bytes(&extra),
        Err(NecoError::Corrupt(_))
    ));
    for cut in 0..b.len() {
        assert!(matches!(
            FactorizedTables::from_bytes(&b[..cut]),
            Err(NecoError::Corrupt(_))
        ));
    }
    // Bad sum.
    let mut bad = b.clone();
    bad[12] ^= 1;
    assert!(matches!(
        FactorizedTables::from_bytes(&bad),
        Err(NecoError::Corrupt(_))
    ));
    // Huge channel count / table length is rejected before allocating.
    assert!(FactorizedTables::from_bytes(&u32::MAX.to_le_bytes()).is_err());
    let mut huge = 1u32.to_le_bytes().to_vec();
    huge.extend_from_slice(&0i32.to_le_bytes());
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(FactorizedTables::from_bytes(&huge).is_err());
}

#[test]
fn encode_round_trip_with_escapes() {
    let t = sample_tables();
    let plane = 257;
    let mut s = 12345u64;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as i64
    };
    let mut sym = Vec::new();
    for _ in 0..3 * plane {
        let v = match next() % 40 {
            0 => 1_000_000,
            1 => -1_000_000,
            2 => MAX_ABS_SYMBOL,
            3 => -MAX_ABS_SYMBOL,
            4 => (next() % 200) as i32 - 100,
            _ => (next() % 13) as i32 - 6,
        };
        sym.push(v);
    }
    let bytes = t.encode(&sym, plane).unwrap();
    assert_eq!(t.decode(&bytes, plane).unwrap(), sym);
    // plane_len 0.
    let bytes = t.encode(&[], 0).unwrap();
    assert!(t.decode(&bytes, 0).unwrap().is_empty());
    // Errors.
    assert!(matches!(
        t.encode(&sym, plane + 1),
        Err(NecoError::InvalidArgument(_))
    ));
    let mut too_big = sym.clone();
    too_big[5] = MAX_ABS_SYMBOL + 1;
    assert!(matches!(
        t.encode(&too_big, plane),
        Err(NecoError::InvalidArgument(_))
    ));
    assert!(matches!(
        t.decode(&[0; 5], plane),
        Err(NecoError::Corrupt(_))
    ));
    assert!(t.decode(&[], usize::MAX).is_err());
    let broken = FactorizedTables {
        channels: vec![ChannelTable {
            offset: 0,
            pmf: vec![1, 2],
        }],
    };
    assert!(matches!(
        broken.encode(&[0], 1),
        Err(NecoError::InvalidArgument(_))
    ));
    assert!(matches!(
        broken.decode(&[], 1),
        Err(NecoError::InvalidArgument(_))
    ));
}

#[test]
fn golden_encoded_bytes() {
    let t = sample_tables();
    let sym = [0, 1, -1, 8, -9, 100, 0, 5, 16, 17, -4, 0, 1, 7, -7];
    let bytes = t.encode(&sym, 5).unwrap();
    let hex: String = bytes.iter().map(|x| format!("{x:02x}")).collect();
    assert_eq!(hex, "c9cf0d934bd7c53eb23e85e9e082792b906e5f16");
    assert_eq!(t.decode(&bytes, 5).unwrap(), sym);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn hostile_decode_never_panics(
        data in proptest::collection::vec(any::<u8>(), 0..200),
        plane in 0usize..100,
    ) {
        let t = sample_tables();
        if let Ok(v) = t.decode(&data, plane) {
            prop_assert_eq!(v.len(), 3 * plane);
        }
    }

    #[test]
    fn hostile_table_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        flip in any::<(usize, u8)>(),
        cut in any::<usize>(),
    ) {
        let _ = FactorizedTables::from_bytes(&data);
        let mut b = sample_tables().to_bytes();
        let i = flip.0 % b.len();
        b[i] ^= flip.1;
        if let Ok(t) = FactorizedTables::from_bytes(&b) {
            t.validate().unwrap();
            let enc = t.encode(&[0, 1, 2], 1);
            if let Ok(enc) = enc {
                prop_assert_eq!(t.decode(&enc, 1).unwrap(), vec![0, 1, 2]);
            }
        }
        let _ = FactorizedTables::from_bytes(&b[..cut % (b.len() + 1)]);
    }

    #[test]
    fn round_trip_prop(sym in proptest::collection::vec(-MAX_ABS_SYMBOL..=MAX_ABS_SYMBOL, 0..60)) {
        let t = sample_tables();
        let plane = sym.len() / 3;
        let sym = &sym[..plane * 3];
        let bytes = t.encode(sym, plane).unwrap();
        prop_assert_eq!(t.decode(&bytes, plane).unwrap(), sym);
    }
}
