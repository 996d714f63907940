//! Latent grid geometry: how big ŷ and ẑ are for an image of a given size.
//!
//! The analysis transform downsamples by 16 and the hyper-analysis by 4 more, so
//! images are padded to a multiple of [`PAD_MULTIPLE`] pixels on each side first.
//! Encoder and decoder both derive these sizes from the header's width and height.

/// Pixels the padded size is a multiple of (g_a and h_a downsample by 64 in total).
pub const PAD_MULTIPLE: usize = 64;

/// Pixels per ŷ element along each side.
pub const Y_STRIDE: usize = 16;

/// `n` rounded up to a multiple of [`PAD_MULTIPLE`].
pub fn padded(n: usize) -> usize {
    n.div_ceil(PAD_MULTIPLE) * PAD_MULTIPLE
}

/// Sizes of the padded image and of the latent grids for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatentDims {
    /// Padded width in pixels.
    pub pw: usize,
    /// Padded height in pixels.
    pub ph: usize,
    /// ŷ rows.
    pub yh: usize,
    /// ŷ columns.
    pub yw: usize,
    /// ẑ rows.
    pub zh: usize,
    /// ẑ columns.
    pub zw: usize,
}

impl LatentDims {
    /// The grids for a `width`×`height` image.
    pub fn new(width: u32, height: u32) -> Self {
        let (pw, ph) = (padded(width as usize), padded(height as usize));
        LatentDims {
            pw,
            ph,
            yh: ph / Y_STRIDE,
            yw: pw / Y_STRIDE,
            zh: ph / PAD_MULTIPLE,
            zw: pw / PAD_MULTIPLE,
        }
    }

    /// Elements in one ŷ channel.
    pub fn y_plane(&self) -> usize {
        self.yh * self.yw
    }

    /// Elements in one ẑ channel.
    pub fn z_plane(&self) -> usize {
        self.zh * self.zw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_follow_the_padded_size() {
        let d = LatentDims::new(17, 33);
        assert_eq!((d.pw, d.ph, d.yw, d.yh, d.zw, d.zh), (64, 64, 4, 4, 1, 1));
        let d = LatentDims::new(768, 512);
        assert_eq!((d.yw, d.yh, d.zw, d.zh), (48, 32, 12, 8));
        assert_eq!((d.y_plane(), d.z_plane()), (1536, 96));
        let d = LatentDims::new(65, 1);
        assert_eq!((d.pw, d.ph), (128, 64));
    }
}
