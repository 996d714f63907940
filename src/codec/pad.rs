//! Conversion between interleaved 8-bit RGB and the padded planar floats the
//! transforms take.

/// Pixels the padded size is a multiple of (g_a and h_a downsample by 64 in total).
pub const PAD_MULTIPLE: usize = 64;

/// `n` rounded up to a multiple of [`PAD_MULTIPLE`].
pub fn padded(n: usize) -> usize {
    n.div_ceil(PAD_MULTIPLE) * PAD_MULTIPLE
}

/// Planar `[3, ph, pw]` floats in 0..1 from interleaved RGB, padded by edge replication
/// (replicated edges cost fewer bits than a constant border).
pub fn to_planar_padded(rgb: &[u8], width: usize, height: usize) -> (Vec<f32>, usize, usize) {
    let (pw, ph) = (padded(width), padded(height));
    let plane = pw * ph;
    let mut out = vec![0f32; 3 * plane];
    for y in 0..ph {
        let sy = y.min(height - 1);
        for x in 0..pw {
            let sx = x.min(width - 1);
            let src = (sy * width + sx) * 3;
            for c in 0..3 {
                out[c * plane + y * pw + x] = rgb[src + c] as f32 * (1.0 / 255.0);
            }
        }
    }
    (out, pw, ph)
}

/// Interleaved RGB from planar `[3, ph, pw]` floats, cropped to `width`×`height`,
/// clamped to 0..1 and rounded to 8 bits.
pub fn from_planar_cropped(
    planar: &[f32],
    pw: usize,
    ph: usize,
    width: usize,
    height: usize,
) -> Vec<u8> {
    let plane = pw * ph;
    let mut out = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            for c in 0..3 {
                let v = planar[c * plane + y * pw + x];
                out.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_then_crop_is_identity() {
        let (w, h) = (17, 33);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 256) as u8).collect();
        let (planar, pw, ph) = to_planar_padded(&rgb, w, h);
        assert_eq!((pw, ph), (64, 64));
        assert_eq!(from_planar_cropped(&planar, pw, ph, w, h), rgb);
        // Edge replication: the padded column repeats the last real one.
        assert_eq!(planar[w], planar[w - 1]);
    }
}
