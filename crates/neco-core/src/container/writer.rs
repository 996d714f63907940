//! Serializing an [`ImageStream`] to `.neco` bytes.

use super::reader::chunk_crc;
use super::{tag, ImageStream, PixelFormat, CONTAINER_VERSION, CONTAINER_VERSION_METADATA, MAGIC};
use crate::{NecoError, Result};

impl ImageStream {
    /// Serializes the stream in canonical chunk order (`HEAD ZBIT YBIT* [ALPH] [ICCP]
    /// [EXIF] IEND`), as container version 2 when it has metadata, else version 1.
    ///
    /// Returns [`NecoError::InvalidArgument`] if the header is out of range, the
    /// number of ŷ substreams differs from `header.substreams`, alpha is present
    /// for a format other than [`PixelFormat::Rgba8`], the ICC profile or Exif block
    /// is empty, or a payload exceeds 4 GiB.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let head = self.header.to_payload()?;
        if self.y_bits.len() != usize::from(self.header.substreams) {
            return Err(NecoError::InvalidArgument(format!(
                "{} ŷ substreams given, header declares {}",
                self.y_bits.len(),
                self.header.substreams
            )));
        }
        if self.alpha.is_some() && self.header.pixel_format != PixelFormat::Rgba8 {
            return Err(NecoError::InvalidArgument(format!(
                "alpha given for a {:?} image, only Rgba8 carries alpha",
                self.header.pixel_format
            )));
        }

        if self.icc.as_ref().is_some_and(|p| p.is_empty()) {
            return Err(NecoError::InvalidArgument(
                "an empty ICC profile (give none instead)".into(),
            ));
        }
        if self.exif.as_ref().is_some_and(|p| p.is_empty()) {
            return Err(NecoError::InvalidArgument(
                "an empty Exif block (give none instead)".into(),
            ));
        }

        let mut chunks: Vec<([u8; 4], &[u8])> = Vec::with_capacity(self.y_bits.len() + 6);
        chunks.push((tag::HEAD, &head));
        chunks.push((tag::ZBIT, &self.z_bits));
        chunks.extend(self.y_bits.iter().map(|y| (tag::YBIT, y.as_slice())));
        if let Some(alpha) = &self.alpha {
            chunks.push((tag::ALPH, alpha));
        }
        if let Some(icc) = &self.icc {
            chunks.push((tag::ICCP, icc));
        }
        if let Some(exif) = &self.exif {
            chunks.push((tag::EXIF, exif));
        }
        chunks.push((tag::IEND, &[]));

        let total = MAGIC.len() + 2 + chunks.iter().map(|(_, p)| p.len() + 12).sum::<usize>();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&MAGIC);
        let version = if self.icc.is_some() || self.exif.is_some() {
            CONTAINER_VERSION_METADATA
        } else {
            CONTAINER_VERSION
        };
        out.extend_from_slice(&version.to_le_bytes());
        for (t, payload) in chunks {
            let len = u32::try_from(payload.len()).map_err(|_| {
                NecoError::InvalidArgument(format!(
                    "chunk {:?} payload is {} bytes, at most {} fit",
                    String::from_utf8_lossy(&t),
                    payload.len(),
                    u32::MAX
                ))
            })?;
            out.extend_from_slice(&t);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(payload);
            out.extend_from_slice(&chunk_crc(&t, payload).to_le_bytes());
        }
        Ok(out)
    }
}
