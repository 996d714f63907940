//! neco-core's latent decoder with the default weights' entropy model on arbitrary
//! payloads and image sizes: ẑ decoding, the parameter path and ŷ decoding must
//! return `Ok` or `Err`, never panic or hang; decoded latents have the grid's size.
//!
//! Input: width − 1, height − 1, quality, number of ŷ substreams (u8 each), ẑ length
//! (u16 LE), the ẑ bits, then the ŷ bits split evenly into the substreams — so seeds
//! made from real streams (fuzz/seeds/latents) start the search from valid payloads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neco_core::latent::LatentDims;
use neco_fuzz::entropy_model;

fuzz_target!(|data: &[u8]| {
    let [w, h, quality, substreams, z0, z1, rest @ ..] = data else {
        return;
    };
    let z_len = usize::from(u16::from_le_bytes([*z0, *z1])).min(rest.len());
    let (z_bits, y_all) = rest.split_at(z_len);
    let n = usize::from(*substreams % 8);
    let y_bits: Vec<&[u8]> = if n == 0 {
        Vec::new()
    } else {
        let per = y_all.len().div_ceil(n).max(1);
        y_all.chunks(per).collect()
    };
    let model = entropy_model();
    // Up to 256×256 pixels: 4×4 ẑ and 16×16 ŷ positions per channel.
    let d = LatentDims::new(u32::from(*w) + 1, u32::from(*h) + 1);
    if let Ok(l) = model.decode(z_bits, &y_bits, &d, *quality) {
        assert_eq!(l.z_hat.len(), model.z_channels() * d.z_plane());
        assert_eq!(l.symbols.len(), model.y_channels() * d.y_plane());
    }
});
