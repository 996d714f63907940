//! RGB ↔ Y′CbCr conversion for the HEVC anchor: full-range BT.601 (the JFIF matrix),
//! which is what BPG uses by default, in 4:4:4 or with 2×2 chroma subsampling.

/// Chroma layout of the planes handed to the video encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroma {
    /// Full-resolution chroma (BPG's default).
    Yuv444,
    /// Chroma halved in both directions (box-averaged down, bilinear up).
    Yuv420,
}

/// Three 8-bit planes; `cw`×`ch` is the chroma plane size.
#[derive(Debug, Clone, PartialEq)]
pub struct Planes {
    /// Luma width.
    pub width: usize,
    /// Luma height.
    pub height: usize,
    /// Chroma width.
    pub cw: usize,
    /// Chroma height.
    pub ch: usize,
    /// Y′, `width * height`.
    pub y: Vec<u8>,
    /// Cb, `cw * ch`.
    pub cb: Vec<u8>,
    /// Cr, `cw * ch`.
    pub cr: Vec<u8>,
}

impl Chroma {
    /// Chroma plane size for a `width`×`height` picture.
    pub fn chroma_size(self, width: usize, height: usize) -> (usize, usize) {
        match self {
            Chroma::Yuv444 => (width, height),
            Chroma::Yuv420 => (width.div_ceil(2), height.div_ceil(2)),
        }
    }
}

fn clamp_u8(v: f64) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// Convert interleaved RGB to planes.
pub fn from_rgb(rgb: &[u8], width: usize, height: usize, chroma: Chroma) -> Planes {
    let n = width * height;
    assert_eq!(rgb.len(), n * 3);
    let mut y = Vec::with_capacity(n);
    let mut cb = Vec::with_capacity(n);
    let mut cr = Vec::with_capacity(n);
    for px in rgb.chunks_exact(3) {
        let (r, g, b) = (px[0] as f64, px[1] as f64, px[2] as f64);
        y.push(0.299 * r + 0.587 * g + 0.114 * b);
        cb.push(128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b);
        cr.push(128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b);
    }
    let (cw, ch) = chroma.chroma_size(width, height);
    let (cb, cr) = match chroma {
        Chroma::Yuv444 => (cb, cr),
        Chroma::Yuv420 => (
            downsample(&cb, width, height, cw, ch),
            downsample(&cr, width, height, cw, ch),
        ),
    };
    Planes {
        width,
        height,
        cw,
        ch,
        y: y.into_iter().map(clamp_u8).collect(),
        cb: cb.into_iter().map(clamp_u8).collect(),
        cr: cr.into_iter().map(clamp_u8).collect(),
    }
}

/// Convert planes back to interleaved RGB.
pub fn to_rgb(p: &Planes) -> Vec<u8> {
    let (cb, cr) = if (p.cw, p.ch) == (p.width, p.height) {
        let f = |v: &[u8]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
        (f(&p.cb), f(&p.cr))
    } else {
        (
            upsample(&p.cb, p.cw, p.ch, p.width, p.height),
            upsample(&p.cr, p.cw, p.ch, p.width, p.height),
        )
    };
    let mut rgb = Vec::with_capacity(p.width * p.height * 3);
    for i in 0..p.width * p.height {
        let y = p.y[i] as f64;
        let (u, v) = (cb[i] - 128.0, cr[i] - 128.0);
        rgb.push(clamp_u8(y + 1.402 * v));
        rgb.push(clamp_u8(y - 0.344_136 * u - 0.714_136 * v));
        rgb.push(clamp_u8(y + 1.772 * u));
    }
    rgb
}

/// 2×2 box average, repeating the last row/column on odd sides.
fn downsample(src: &[f64], w: usize, h: usize, cw: usize, ch: usize) -> Vec<f64> {
    let at = |x: usize, y: usize| src[y.min(h - 1) * w + x.min(w - 1)];
    let mut out = Vec::with_capacity(cw * ch);
    for cy in 0..ch {
        for cx in 0..cw {
            let (x, y) = (2 * cx, 2 * cy);
            out.push((at(x, y) + at(x + 1, y) + at(x, y + 1) + at(x + 1, y + 1)) / 4.0);
        }
    }
    out
}

/// Bilinear upsampling for chroma samples centred between luma pairs (weights 3/4 and
/// 1/4 in each direction, as libjpeg's "fancy" upsampling).
fn upsample(src: &[u8], cw: usize, ch: usize, w: usize, h: usize) -> Vec<f64> {
    let at = |x: isize, y: isize| {
        let x = x.clamp(0, cw as isize - 1) as usize;
        let y = y.clamp(0, ch as isize - 1) as usize;
        src[y * cw + x] as f64
    };
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let cy = (y / 2) as isize;
        let ny = if y % 2 == 0 { cy - 1 } else { cy + 1 };
        for x in 0..w {
            let cx = (x / 2) as isize;
            let nx = if x % 2 == 0 { cx - 1 } else { cx + 1 };
            let v = 0.5625 * at(cx, cy)
                + 0.1875 * at(nx, cy)
                + 0.1875 * at(cx, ny)
                + 0.0625 * at(nx, ny);
            out.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::psnr_rgb8;

    fn pattern(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [
                    (x * 7 % 256) as u8,
                    (y * 5 % 256) as u8,
                    ((x * y) % 256) as u8,
                ]
            })
            .collect()
    }

    #[test]
    fn primaries_and_grays_map_as_jfif() {
        let p = from_rgb(&[255, 0, 0, 128, 128, 128], 2, 1, Chroma::Yuv444);
        assert_eq!((p.y[0], p.cb[0], p.cr[0]), (76, 85, 255));
        assert_eq!((p.y[1], p.cb[1], p.cr[1]), (128, 128, 128));
    }

    #[test]
    fn yuv444_round_trip_is_near_lossless() {
        let rgb = pattern(37, 23);
        let back = to_rgb(&from_rgb(&rgb, 37, 23, Chroma::Yuv444));
        assert!(psnr_rgb8(&rgb, &back) > 45.0);
        assert!(rgb.iter().zip(&back).all(|(a, b)| a.abs_diff(*b) <= 3));
    }

    #[test]
    fn yuv420_halves_chroma_and_keeps_flat_colors() {
        let rgb: Vec<u8> = [40u8, 90, 200].repeat(5 * 3);
        let p = from_rgb(&rgb, 5, 3, Chroma::Yuv420);
        assert_eq!((p.cw, p.ch, p.cb.len()), (3, 2, 6));
        let back = to_rgb(&p);
        assert!(rgb.iter().zip(&back).all(|(a, b)| a.abs_diff(*b) <= 1));
    }
}
