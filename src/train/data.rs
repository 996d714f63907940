//! Training data: images decoded once into memory, random crops per batch.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::prelude::*;
use rand::Rng;
use rayon::prelude::*;

use crate::io::datasets::list_images;

/// An 8-bit RGB image held in memory, row-major, interleaved.
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes.
    pub pixels: Vec<u8>,
}

/// Decode every image in `dir` that is at least `min_side` in both dimensions.
pub fn load_images(dir: &Path, min_side: usize) -> anyhow::Result<Vec<RgbImage>> {
    let out = load_files(&list_images(dir)?, min_side)?;
    anyhow::ensure!(
        !out.is_empty(),
        "no image in {} is at least {min_side}px on each side",
        dir.display()
    );
    Ok(out)
}

/// Decode the image files `files` (in parallel, kept in their order), leaving out
/// those smaller than `min_side` in either dimension.
pub fn load_files(files: &[PathBuf], min_side: usize) -> anyhow::Result<Vec<RgbImage>> {
    let images: Vec<anyhow::Result<Option<RgbImage>>> = files
        .par_iter()
        .map(|path| {
            let img = image::open(path)
                .with_context(|| format!("decoding {}", path.display()))?
                .to_rgb8();
            let (w, h) = (img.width() as usize, img.height() as usize);
            Ok((w >= min_side && h >= min_side).then(|| RgbImage {
                width: w,
                height: h,
                pixels: img.into_raw(),
            }))
        })
        .collect();
    let mut out = Vec::new();
    for img in images {
        out.extend(img?);
    }
    Ok(out)
}

/// Copy a `side`×`side` window at (`x0`, `y0`) into `dst` as planar f32 in 0..1, optionally mirrored.
fn crop_planar(img: &RgbImage, x0: usize, y0: usize, side: usize, flip: bool, dst: &mut [f32]) {
    let plane = side * side;
    for y in 0..side {
        for x in 0..side {
            let sx = if flip { x0 + side - 1 - x } else { x0 + x };
            let src = ((y0 + y) * img.width + sx) * 3;
            for c in 0..3 {
                dst[c * plane + y * side + x] = img.pixels[src + c] as f32 / 255.0;
            }
        }
    }
}

/// A batch of random crops (random image, position and horizontal flip), `[batch, 3, side, side]`.
pub fn random_batch(
    images: &[RgbImage],
    batch: usize,
    side: usize,
    rng: &mut impl Rng,
    device: &Device,
) -> Tensor<4> {
    let plane = 3 * side * side;
    let mut data = vec![0f32; batch * plane];
    for chunk in data.chunks_mut(plane) {
        let img = &images[rng.random_range(0..images.len())];
        let x0 = rng.random_range(0..=img.width - side);
        let y0 = rng.random_range(0..=img.height - side);
        crop_planar(img, x0, y0, side, rng.random_bool(0.5), chunk);
    }
    Tensor::from_data(TensorData::new(data, [batch, 3, side, side]), device)
}

/// The centre `side`×`side` crop of every image, for validation, in batches of `batch`.
pub fn centre_batches(
    images: &[RgbImage],
    side: usize,
    batch: usize,
    device: &Device,
) -> Vec<Tensor<4>> {
    let plane = 3 * side * side;
    images
        .chunks(batch)
        .map(|group| {
            let mut data = vec![0f32; group.len() * plane];
            for (img, chunk) in group.iter().zip(data.chunks_mut(plane)) {
                crop_planar(
                    img,
                    (img.width - side) / 2,
                    (img.height - side) / 2,
                    side,
                    false,
                    chunk,
                );
            }
            Tensor::from_data(TensorData::new(data, [group.len(), 3, side, side]), device)
        })
        .collect()
}
