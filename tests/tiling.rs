//! Large images are coded in overlapping tiles (src/codec/tiling.rs) whose margins
//! cover the transforms' receptive fields, so tiling must not show: coding the sample
//! photo in 128-pixel tiles (5 vertical and 3 horizontal tile borders) must give what
//! coding it in one tile gives, up to float rounding, on the borders as elsewhere.

mod common;

use common::*;
use neco::codec::Timings;

/// Tile interior for the tiled runs, in latents (128 pixels).
const SMALL_TILE: usize = 8;
/// Half-width of the bands along tile borders, in pixels.
const BAND: usize = 8;

/// PSNR (dB) between `a` and `b` over the pixels where `keep(x, y)`; ∞ when equal.
fn psnr_where(a: &[u8], b: &[u8], w: usize, keep: impl Fn(usize, usize) -> bool) -> f64 {
    let (mut se, mut n) = (0f64, 0usize);
    for (i, (pa, pb)) in a.chunks_exact(3).zip(b.chunks_exact(3)).enumerate() {
        if keep(i % w, i / w) {
            for c in 0..3 {
                let d = pa[c] as f64 - pb[c] as f64;
                se += d * d;
            }
            n += 3;
        }
    }
    assert!(n > 0);
    10.0 * (255.0f64.powi(2) / (se / n as f64)).log10()
}

#[test]
fn tiles_do_not_show() {
    let src = source("sample-768x512.png");
    let (w, h) = (src.width as usize, src.height as usize);
    let whole = codec(); // 64-latent tiles: this image is one tile
    let tiled = codec().with_tile(SMALL_TILE);
    let tile_px = SMALL_TILE * 16;
    let on_border = |x: usize, y: usize| {
        let near = |v: usize, len: usize| {
            (1..len.div_ceil(tile_px)).any(|k| (k * tile_px).abs_diff(v) < BAND)
        };
        near(x, w) || near(y, h)
    };

    // Decoding: one stream, synthesized whole and in tiles.
    let stream = whole.encode(&src, 50, &mut Timings::default()).unwrap();
    let a = whole.decode(&stream, &mut Timings::default()).unwrap().rgb;
    let b = tiled.decode(&stream, &mut Timings::default()).unwrap().rgb;
    let max_diff = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    let borders = psnr_where(&a, &b, w, on_border);
    let interior = psnr_where(&a, &b, w, |x, y| !on_border(x, y));
    eprintln!(
        "g_s whole vs in {tile_px}-px tiles: max |diff| {max_diff}, PSNR on ±{BAND} px \
         border bands {borders:.1} dB, elsewhere {interior:.1} dB"
    );
    assert!(max_diff <= 2, "tiled synthesis differs by up to {max_diff}");
    assert!(
        borders > 50.0,
        "tiled synthesis differs on tile borders: {borders:.1} dB"
    );

    // Encoding: the analysis run in tiles gives (almost) the same latents.
    let tiled_stream = tiled.encode(&src, 50, &mut Timings::default()).unwrap();
    let la = whole
        .decode_latents(&stream, &mut Timings::default())
        .unwrap();
    let lb = tiled
        .decode_latents(&tiled_stream, &mut Timings::default())
        .unwrap();
    let flips = la
        .symbols
        .iter()
        .zip(&lb.symbols)
        .filter(|(x, y)| x != y)
        .count();
    let out = tiled
        .decode(&tiled_stream, &mut Timings::default())
        .unwrap()
        .rgb;
    let (p_whole, p_tiled) = (psnr(&src.rgb, &a), psnr(&src.rgb, &out));
    let p_borders = psnr_where(&src.rgb, &out, w, on_border);
    let p_interior = psnr_where(&src.rgb, &out, w, |x, y| !on_border(x, y));
    eprintln!(
        "g_a in tiles: {flips} of {} ŷ symbols differ; PSNR to source {p_whole:.2} dB whole, \
         {p_tiled:.2} dB tiled ({p_borders:.2} dB on border bands, {p_interior:.2} dB elsewhere)",
        la.symbols.len()
    );
    assert!(flips * 1000 < la.symbols.len(), "{flips} symbols differ");
    assert!(
        (p_whole - p_tiled).abs() < 0.05,
        "{p_whole:.2} vs {p_tiled:.2} dB"
    );
    assert_eq!(la.z_hat.len(), lb.z_hat.len());
}
