//! MS-SSIM (Wang, Simoncelli & Bovik 2003): 5 scales, 11-tap Gaussian window with
//! σ = 1.5, K1 = 0.01, K2 = 0.03, the standard scale weights.
//!
//! It follows `pytorch_msssim.ms_ssim`, which CompressAI uses for its published curves:
//! each color channel is scored on its own (valid-region filtering, 2×2 average pooling
//! between scales with a zero pad on odd sides), and the per-channel values are averaged.

use rayon::prelude::*;

/// Scale weights of Wang et al. (coarsest last).
const WEIGHTS: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
/// Gaussian window size.
const WIN: usize = 11;
/// Gaussian window standard deviation.
const SIGMA: f64 = 1.5;
/// Dynamic range of 8-bit samples.
const DATA_RANGE: f64 = 255.0;

/// The smallest image side MS-SSIM is defined for: the window must still fit after the
/// four halvings (the same bound pytorch_msssim enforces).
pub const MIN_SIDE: usize = (WIN - 1) * 16 + 1;

/// MS-SSIM of two interleaved 8-bit images of `width`×`height` with `channels` samples
/// per pixel, in [0, 1] (1 = identical). `None` when a side is shorter than [`MIN_SIDE`].
pub fn ms_ssim_u8(a: &[u8], b: &[u8], width: usize, height: usize, channels: usize) -> Option<f64> {
    assert_eq!(a.len(), width * height * channels, "first image size");
    assert_eq!(b.len(), width * height * channels, "second image size");
    if width.min(height) < MIN_SIDE || channels == 0 {
        return None;
    }
    let per_channel: Vec<f64> = (0..channels)
        .into_par_iter()
        .map(|c| {
            let plane = |img: &[u8]| Plane {
                width,
                height,
                data: img
                    .iter()
                    .skip(c)
                    .step_by(channels)
                    .map(|&v| v as f64)
                    .collect(),
            };
            ms_ssim_plane(plane(a), plane(b))
        })
        .collect();
    Some(per_channel.iter().sum::<f64>() / channels as f64)
}

/// MS-SSIM in decibels, `-10·log10(1 − v)`, the form RD plots and BD-rates use.
/// Identical images (v = 1) give `f64::INFINITY`.
pub fn ms_ssim_db(v: f64) -> f64 {
    -10.0 * (1.0 - v).log10()
}

/// One channel as f64 samples, row-major.
#[derive(Clone)]
struct Plane {
    width: usize,
    height: usize,
    data: Vec<f64>,
}

fn ms_ssim_plane(mut x: Plane, mut y: Plane) -> f64 {
    let window = gaussian_window();
    let mut value = 1.0;
    for (level, &w) in WEIGHTS.iter().enumerate() {
        let (ssim, cs) = ssim_and_cs(&x, &y, &window);
        if level + 1 == WEIGHTS.len() {
            value *= ssim.max(0.0).powf(w);
        } else {
            value *= cs.max(0.0).powf(w);
            x = avg_pool2(&x);
            y = avg_pool2(&y);
        }
    }
    value
}

fn gaussian_window() -> [f64; WIN] {
    let mut g = [0.0; WIN];
    let half = (WIN / 2) as f64;
    for (i, v) in g.iter_mut().enumerate() {
        let d = i as f64 - half;
        *v = (-(d * d) / (2.0 * SIGMA * SIGMA)).exp();
    }
    let sum: f64 = g.iter().sum();
    g.iter_mut().for_each(|v| *v /= sum);
    g
}

/// Mean SSIM and mean contrast–structure term over the valid region.
fn ssim_and_cs(x: &Plane, y: &Plane, window: &[f64; WIN]) -> (f64, f64) {
    let c1 = (0.01 * DATA_RANGE).powi(2);
    let c2 = (0.03 * DATA_RANGE).powi(2);
    let xx: Vec<f64> = x.data.iter().map(|v| v * v).collect();
    let yy: Vec<f64> = y.data.iter().map(|v| v * v).collect();
    let xy: Vec<f64> = x.data.iter().zip(&y.data).map(|(a, b)| a * b).collect();
    let (w, h) = (x.width, x.height);
    let mu_x = filter_valid(&x.data, w, h, window);
    let mu_y = filter_valid(&y.data, w, h, window);
    let e_xx = filter_valid(&xx, w, h, window);
    let e_yy = filter_valid(&yy, w, h, window);
    let e_xy = filter_valid(&xy, w, h, window);
    let (mut ssim_sum, mut cs_sum) = (0.0, 0.0);
    for i in 0..mu_x.len() {
        let (mx, my) = (mu_x[i], mu_y[i]);
        let var_x = e_xx[i] - mx * mx;
        let var_y = e_yy[i] - my * my;
        let cov = e_xy[i] - mx * my;
        let cs = (2.0 * cov + c2) / (var_x + var_y + c2);
        cs_sum += cs;
        ssim_sum += (2.0 * mx * my + c1) / (mx * mx + my * my + c1) * cs;
    }
    let n = mu_x.len() as f64;
    (ssim_sum / n, cs_sum / n)
}

/// Separable Gaussian filter without padding: output is (w−10)×(h−10).
fn filter_valid(data: &[f64], w: usize, h: usize, window: &[f64; WIN]) -> Vec<f64> {
    let ow = w - (WIN - 1);
    let oh = h - (WIN - 1);
    let mut rows = vec![0.0; ow * h];
    for r in 0..h {
        let src = &data[r * w..(r + 1) * w];
        for c in 0..ow {
            rows[r * ow + c] = window
                .iter()
                .zip(&src[c..c + WIN])
                .map(|(g, v)| g * v)
                .sum();
        }
    }
    let mut out = vec![0.0; ow * oh];
    for r in 0..oh {
        for (k, g) in window.iter().enumerate() {
            let src = &rows[(r + k) * ow..(r + k + 1) * ow];
            for (o, v) in out[r * ow..(r + 1) * ow].iter_mut().zip(src) {
                *o += g * v;
            }
        }
    }
    out
}

/// 2×2 average pooling; an odd side gets one zero sample of padding on each end,
/// counted in the average (torch's `avg_pool2d(kernel 2, padding = side % 2)`).
fn avg_pool2(p: &Plane) -> Plane {
    let (pad_x, pad_y) = (p.width % 2, p.height % 2);
    let ow = (p.width + 2 * pad_x - 2) / 2 + 1;
    let oh = (p.height + 2 * pad_y - 2) / 2 + 1;
    let at = |r: isize, c: isize| -> f64 {
        if r < 0 || c < 0 || r as usize >= p.height || c as usize >= p.width {
            0.0
        } else {
            p.data[r as usize * p.width + c as usize]
        }
    };
    let mut data = Vec::with_capacity(ow * oh);
    for r in 0..oh {
        for c in 0..ow {
            let r0 = (2 * r) as isize - pad_y as isize;
            let c0 = (2 * c) as isize - pad_x as isize;
            data.push((at(r0, c0) + at(r0, c0 + 1) + at(r0 + 1, c0) + at(r0 + 1, c0 + 1)) / 4.0);
        }
    }
    Plane {
        width: ow,
        height: oh,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u32) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn identical_images_score_one() {
        let img = noise(200 * 170 * 3, 1);
        let v = ms_ssim_u8(&img, &img, 200, 170, 3).unwrap();
        assert!((v - 1.0).abs() < 1e-12, "{v}");
        assert_eq!(ms_ssim_db(1.0), f64::INFINITY);
    }

    #[test]
    fn too_small_images_have_no_score() {
        let img = noise(160 * 300, 2);
        assert_eq!(ms_ssim_u8(&img, &img, 160, 300, 1), None);
        assert_eq!(MIN_SIDE, 161);
    }

    #[test]
    fn more_distortion_scores_lower() {
        let a = noise(192 * 192, 3);
        let near: Vec<u8> = a.iter().map(|&v| v.saturating_add(4)).collect();
        let far = noise(192 * 192, 4);
        let v_near = ms_ssim_u8(&a, &near, 192, 192, 1).unwrap();
        let v_far = ms_ssim_u8(&a, &far, 192, 192, 1).unwrap();
        assert!(
            v_near > 0.99 && (0.0..0.2).contains(&v_far),
            "{v_near} {v_far}"
        );
    }

    #[test]
    fn odd_sides_pool_with_zero_padding() {
        let p = Plane {
            width: 3,
            height: 1,
            data: vec![4.0, 8.0, 12.0],
        };
        let q = avg_pool2(&p);
        // Padded row: [0, 4, 8, 12, 0] horizontally, and a zero row above.
        assert_eq!((q.width, q.height), (2, 1));
        assert_eq!(q.data, vec![1.0, 5.0]);
    }
}
