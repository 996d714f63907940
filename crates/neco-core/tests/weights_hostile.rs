//! Weights files are parsed as hostile input too: damaged or truncated files of every
//! format version give an error, never a panic, and what parses builds an entropy model
//! that codes (or refuses) without panicking.

use neco_core::entropy::{FactorizedTables, HyperSynthesis, Layer, RateLadder};
use neco_core::latent::LatentDims;
use neco_core::weights::Weights;
use proptest::prelude::*;

/// A 1×1 convolution from `in_ch` to `out_ch` channels.
fn conv(in_ch: usize, out_ch: usize) -> HyperSynthesis {
    HyperSynthesis {
        layers: vec![Layer::Conv {
            weight: (0..in_ch * out_ch).map(|i| i as f32 / 16.0 - 1.0).collect(),
            bias: vec![0.5; out_ch],
            in_ch,
            out_ch,
            kernel: 1,
            stride: 1,
            padding: 0,
        }],
    }
}

/// A weights file of each kind: N = 2 z channels, M = 4 y channels; diagonal without and
/// with a temporal prior (versions 2 and 3), groups of 2 without and with one (version 4),
/// a rate ladder of 3 rungs with a prior (version 5).
fn files() -> Vec<Vec<u8>> {
    let pmf = vec![0.25, 0.5, 0.25];
    let tables = FactorizedTables::from_probabilities(&[(-1, pmf.clone()), (-1, pmf)]).unwrap();
    let (diag, grouped, prior) = (conv(2, 8), conv(2, 10), conv(13, 8));
    let ladder = RateLadder::new(3, 4, vec![2.0; 12], vec![1.0; 12]).unwrap();
    [
        (&diag, None, 1, None),
        (&diag, Some(&prior), 1, None),
        (&grouped, None, 2, None),
        (&grouped, Some(&prior), 2, None),
        (&diag, Some(&prior), 1, Some(&ladder)),
    ]
    .into_iter()
    .map(|(h, t, g, l)| Weights::write("[model]", b"record", &tables, h, t, g, l).unwrap())
    .collect()
}

/// Parses `bytes`; if that works, builds the entropy model and, if that works too, runs
/// the parameter path on a tiny latent — all without panicking.
fn exercise(bytes: &[u8]) {
    let Ok(w) = Weights::parse(bytes) else { return };
    let Ok(model) = w.entropy_model() else { return };
    // 1×1 convolutions keep ẑ's grid, which the model refuses for ŷ's: an error, no panic.
    let d = LatentDims::new(64, 64);
    let _ = model.params(&vec![0; model.z_channels() * d.z_plane()], &d, 50);
}

#[test]
fn every_truncation_is_refused() {
    for file in files() {
        exercise(&file);
        assert!(Weights::parse(&file).is_ok());
        for len in 0..file.len() {
            assert!(
                Weights::parse(&file[..len]).is_err(),
                "{len} of {}",
                file.len()
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn damaged_files_never_panic(
        which in 0usize..5,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut file = files().swap_remove(which);
        for (at, byte) in edits {
            let i = at.index(file.len());
            file[i] = byte;
        }
        exercise(&file);
    }
}
