//! Validation through the codec itself: the model being trained is exported in memory
//! (z tables frozen, h_s in neco-core's arithmetic, the rate ladder) and the validation
//! crops are encoded and decoded at each rung's quality, so the log holds real file
//! sizes and 8-bit PSNR beside the training proxy (uniform noise for the rate,
//! unclamped float pictures), which can rank two models differently.

use burn::prelude::*;

use super::data::RgbImage;
use crate::codec::{Codec, Timings};
use crate::eval::metrics::psnr_rgb8;
use crate::io::image_io::SourceImage;
use crate::model::weights::WeightsFile;
use crate::model::{HyperpriorModel, ModelConfig};

/// Rate and quality of one rung, coded for real.
#[derive(Debug, Clone, PartialEq)]
pub struct CodedRung {
    /// The rung (0 for a fixed-rate model).
    pub rung: usize,
    /// The `-q` quality that codes at (or nearest to) the rung.
    pub quality: u8,
    /// Mean bits per pixel of the streams (whole files, headers included).
    pub bpp: f64,
    /// Mean PSNR of the decoded 8-bit images, dB.
    pub psnr: f64,
}

/// The quality that lands on rung `rung` of `rungs` (rounded when the rungs do not
/// fall on integer qualities); 50 for a fixed-rate model.
pub fn rung_quality(rung: usize, rungs: usize) -> u8 {
    if rungs < 2 {
        return 50;
    }
    ((rung * 100 + (rungs - 1) / 2) / (rungs - 1)).min(100) as u8
}

/// The validation crops, ready to code.
pub struct CodedValidation {
    crops: Vec<SourceImage>,
}

impl CodedValidation {
    /// The `side`×`side` centre crops of `images` (the proxy validation's crops).
    pub fn new(images: &[RgbImage], side: usize) -> Self {
        let crops = images
            .iter()
            .map(|img| {
                let (x0, y0) = ((img.width - side) / 2, (img.height - side) / 2);
                let mut rgb = Vec::with_capacity(side * side * 3);
                for y in y0..y0 + side {
                    let row = (y * img.width + x0) * 3;
                    rgb.extend_from_slice(&img.pixels[row..row + side * 3]);
                }
                SourceImage::from_rgb(side as u32, side as u32, rgb)
            })
            .collect();
        CodedValidation { crops }
    }

    /// Export `model` (on `device`, without autodiff) and code every crop at every
    /// rung; one result per rung, lowest rate first.
    pub fn run(
        &self,
        cfg: &ModelConfig,
        model: &HyperpriorModel,
        device: &Device,
    ) -> anyhow::Result<Vec<CodedRung>> {
        let z_tables = model.z_density.export(cfg.n, device)?;
        let bytes = WeightsFile::build(cfg, model, &z_tables, None)?;
        let codec = Codec::new(&WeightsFile::parse(&bytes)?, Device::flex())?;
        let rungs = cfg.rungs.max(1);
        (0..rungs)
            .map(|rung| {
                let quality = rung_quality(rung, cfg.rungs);
                let (mut bits, mut psnr) = (0f64, 0f64);
                for src in &self.crops {
                    let mut t = Timings::default();
                    let stream = codec.encode(src, quality, &mut t)?;
                    bits += 8.0 * stream.to_bytes()?.len() as f64;
                    let decoded = codec.decode(&stream, &mut t)?;
                    psnr += psnr_rgb8(&src.rgb, &decoded.rgb);
                }
                let n = self.crops.len().max(1) as f64;
                let pixels = n
                    * f64::from(self.crops.first().map_or(1, |c| c.width))
                    * f64::from(self.crops.first().map_or(1, |c| c.height));
                Ok(CodedRung {
                    rung,
                    quality,
                    bpp: bits / pixels,
                    psnr: psnr / n,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rung_qualities() {
        assert_eq!(rung_quality(0, 0), 50);
        let five: Vec<u8> = (0..5).map(|r| rung_quality(r, 5)).collect();
        assert_eq!(five, [0, 25, 50, 75, 100]);
        let eight: Vec<u8> = (0..8).map(|r| rung_quality(r, 8)).collect();
        assert_eq!(eight, [0, 14, 29, 43, 57, 71, 86, 100]);
    }
}
