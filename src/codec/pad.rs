//! Conversion between interleaved 8-bit RGB and the padded planar floats the
//! transforms take.

use std::ops::Range;

use neco_core::latent::padded;

/// Planar `[3, ph, pw]` floats in 0..1 from interleaved RGB, padded by edge replication
/// (replicated edges cost fewer bits than a constant border).
pub fn to_planar_padded(rgb: &[u8], width: usize, height: usize) -> (Vec<f32>, usize, usize) {
    let (pw, ph) = (padded(width), padded(height));
    (planar_window(rgb, (width, height), 0..ph, 0..pw), pw, ph)
}

/// Rows `rows` and columns `cols` of the image padded as [`to_planar_padded`] pads
/// it (any coordinate past the edge repeats the edge), planar `[3, rows, cols]`.
pub fn planar_window(
    rgb: &[u8],
    (width, height): (usize, usize),
    rows: Range<usize>,
    cols: Range<usize>,
) -> Vec<f32> {
    let plane = rows.len() * cols.len();
    let mut out = vec![0f32; 3 * plane];
    for (i, y) in rows.enumerate() {
        let sy = y.min(height - 1);
        for (j, x) in cols.clone().enumerate() {
            let src = (sy * width + x.min(width - 1)) * 3;
            for c in 0..3 {
                out[c * plane + i * cols.len() + j] = rgb[src + c] as f32 * (1.0 / 255.0);
            }
        }
    }
    out
}

/// Where a planar `[3, th, tw]` block of synthesised pixels sits in the image, and
/// which part of it to keep.
pub struct PlanarWindow<'a> {
    /// The block's values, planar.
    pub planar: &'a [f32],
    /// Block height and width.
    pub size: (usize, usize),
    /// Image coordinates (row, column) of the block's top-left sample.
    pub origin: (usize, usize),
    /// Image rows to keep.
    pub rows: std::ops::Range<usize>,
    /// Image columns to keep.
    pub cols: std::ops::Range<usize>,
}

/// Write the kept part of `win` into interleaved 8-bit RGB (`width`×`height`), clamped
/// to 0..1 and rounded; rows and columns beyond the image (padding) are dropped.
pub fn write_rgb(win: &PlanarWindow, rgb: &mut [u8], width: usize, height: usize) {
    let (th, tw) = win.size;
    let plane = th * tw;
    for y in win.rows.start..win.rows.end.min(height) {
        for x in win.cols.start..win.cols.end.min(width) {
            let (ty, tx) = (y - win.origin.0, x - win.origin.1);
            for c in 0..3 {
                let v = win.planar[c * plane + ty * tw + tx];
                rgb[(y * width + x) * 3 + c] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
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
        let mut back = vec![0u8; rgb.len()];
        let win = PlanarWindow {
            planar: &planar,
            size: (ph, pw),
            origin: (0, 0),
            rows: 0..ph,
            cols: 0..pw,
        };
        write_rgb(&win, &mut back, w, h);
        assert_eq!(back, rgb);
        // Edge replication: the padded column repeats the last real one.
        assert_eq!(planar[w], planar[w - 1]);
    }

    /// A window, inside or past the edges, is that crop of the whole padded image.
    #[test]
    fn windows_are_crops_of_the_padded_image() {
        let (w, h) = (17, 33);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 11 % 256) as u8).collect();
        let (planar, pw, ph) = to_planar_padded(&rgb, w, h);
        for (rows, cols) in [(0..ph, 0..pw), (5..40, 3..20), (30..64, 16..64)] {
            let window = planar_window(&rgb, (w, h), rows.clone(), cols.clone());
            let mut want = Vec::new();
            for c in 0..3 {
                for y in rows.clone() {
                    want.extend_from_slice(&planar[(c * ph + y) * pw..][cols.clone()]);
                }
            }
            assert_eq!(window, want, "{rows:?} {cols:?}");
        }
    }
}
