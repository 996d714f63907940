//! Image quality metrics.

/// PSNR in dB between two 8-bit images of equal size (all channels pooled), as
/// CompressAI reports it per image. Identical images give `f64::INFINITY`.
pub fn psnr_rgb8(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "PSNR of images of different sizes");
    let se: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum();
    let mse = se / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_known_values() {
        assert_eq!(psnr_rgb8(&[1, 2, 3], &[1, 2, 3]), f64::INFINITY);
        // Every sample off by one: MSE 1 → 20·log10(255) = 48.13 dB.
        let p = psnr_rgb8(&[10; 30], &[11; 30]);
        assert!((p - 48.1308).abs() < 1e-3, "{p}");
    }
}
