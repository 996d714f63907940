//! JPEG anchor: baseline JPEG as users get it by default from libjpeg (cjpeg, Pillow):
//! IJG quality scaling of the Annex K tables, 4:2:0 chroma (box-averaged, as libjpeg's
//! `h2v2_downsample`), standard Huffman tables. Encoded with the pure-Rust
//! `jpeg-encoder` crate, decoded with the image crate.

use anyhow::{ensure, Context};
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};

/// Encode interleaved RGB at `quality` (1..=100) to a JPEG file in memory.
pub fn encode(rgb: &[u8], width: u32, height: u32, quality: u8) -> anyhow::Result<Vec<u8>> {
    ensure!(
        (1..=100).contains(&quality),
        "JPEG quality {quality} is out of range 1..=100"
    );
    let (w, h) = (u16::try_from(width), u16::try_from(height));
    let (Ok(w), Ok(h)) = (w, h) else {
        anyhow::bail!("JPEG cannot hold a {width}x{height} image (at most 65535 per side)");
    };
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out, quality);
    enc.set_sampling_factor(SamplingFactor::R_4_2_0);
    enc.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    enc.encode(rgb, w, h, ColorType::Rgb)
        .context("JPEG encoding")?;
    Ok(out)
}

/// Decode a JPEG file to interleaved RGB of the expected size.
pub fn decode(bytes: &[u8], width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
        .context("JPEG decoding")?
        .into_rgb8();
    ensure!(
        img.dimensions() == (width, height),
        "JPEG decoded to {:?}, expected {width}x{height}",
        img.dimensions()
    );
    Ok(img.into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::psnr_rgb8;

    fn gradient(w: u32, h: u32) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [
                    (x * 255 / w) as u8,
                    (y * 255 / h) as u8,
                    ((x + y) % 256) as u8,
                ]
            })
            .collect()
    }

    #[test]
    fn higher_quality_costs_more_and_looks_better() {
        let img = gradient(96, 64);
        let lo = encode(&img, 96, 64, 20).unwrap();
        let hi = encode(&img, 96, 64, 90).unwrap();
        assert!(hi.len() > lo.len());
        let p_lo = psnr_rgb8(&img, &decode(&lo, 96, 64).unwrap());
        let p_hi = psnr_rgb8(&img, &decode(&hi, 96, 64).unwrap());
        assert!(p_hi > p_lo && p_lo > 20.0, "{p_lo} {p_hi}");
    }

    #[test]
    fn chroma_is_subsampled_420() {
        let bytes = encode(&gradient(32, 16), 32, 16, 95).unwrap();
        // SOF0: marker, length, precision, height, width, components, then per component
        // id and sampling byte (h << 4 | v): luma 2x2, chroma 1x1.
        let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        let comps = &bytes[sof + 10..sof + 19];
        assert_eq!((comps[1], comps[4], comps[7]), (0x22, 0x11, 0x11));
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(encode(&[0; 3], 1, 1, 0).is_err());
        assert!(encode(&[0; 3], 70_000, 1, 50).is_err());
        assert!(decode(b"not a jpeg", 1, 1).is_err());
    }
}
