//! What an image file's bytes say before it is decoded, which the decoders do not
//! tell: that a JPEG was cut short (it still decodes, its missing part gray), that a
//! PNG, WebP or TIFF holds more pictures than the first one read.

use image::ImageFormat;

/// Whether a JPEG's markers run from its start to its end marker (EOI): a file cut
/// short decodes without error, the missing part gray. Segments are skipped by their
/// lengths and entropy-coded data up to the next marker (inside it, 0xFF is followed
/// by 0x00 or a restart marker), so an embedded thumbnail's EOI does not count.
pub fn jpeg_is_complete(b: &[u8]) -> bool {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut at = 2;
    loop {
        // Stray bytes before a marker are skipped (as libjpeg does, with a warning),
        // then fill bytes: any number of 0xFF before the marker code.
        match b
            .get(at..)
            .and_then(|rest| rest.iter().position(|&v| v == 0xFF))
        {
            Some(skip) => at += skip,
            None => return false,
        }
        while b.get(at) == Some(&0xFF) && b.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&code)) = (b.get(at), b.get(at + 1)) else {
            return false;
        };
        at += 2;
        match code {
            0xD9 => return true,
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = b
            .get(at..at + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            return false;
        };
        at += len;
        if code == 0xDA {
            // Entropy-coded data: up to a 0xFF that starts a marker other than RSTn.
            loop {
                match (b.get(at), b.get(at + 1)) {
                    (Some(0xFF), Some(0x00 | 0xD0..=0xD7)) => at += 2,
                    (Some(0xFF), Some(_)) => break,
                    (Some(_), _) => at += 1,
                    (None, _) => return false,
                }
            }
        }
    }
}

/// "frame" or "page" when a file holds an animation (APNG, animated WebP) or more than
/// one page (TIFF), of which only the first picture is read.
pub fn more_than_one_picture(format: ImageFormat, b: &[u8]) -> Option<&'static str> {
    match format {
        ImageFormat::Png => {
            // Chunks after the signature: an `acTL` before the first `IDAT` makes an APNG.
            let mut at = 8;
            while let Some(head) = b.get(at..at + 8) {
                let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
                match &head[4..8] {
                    // Its first field counts the frames: an APNG may hold just one.
                    b"acTL" => {
                        let frames = b.get(at + 8..at + 12)?;
                        let frames =
                            u32::from_be_bytes([frames[0], frames[1], frames[2], frames[3]]);
                        return (frames > 1).then_some("frame");
                    }
                    b"IDAT" => return None,
                    _ => at = at.checked_add(12)?.checked_add(len)?,
                }
            }
            None
        }
        // RIFF, size, `WEBP`, then a `VP8X` chunk whose flags say "animation" (bit 1).
        ImageFormat::WebP => (b.get(12..16) == Some(b"VP8X")
            && b.get(20).is_some_and(|f| f & 0x02 != 0))
        .then_some("frame"),
        ImageFormat::Tiff => {
            let u16_at = |at: usize, le: bool| {
                b.get(at..at.checked_add(2)?).map(|v| {
                    let v = [v[0], v[1]];
                    if le {
                        u16::from_le_bytes(v)
                    } else {
                        u16::from_be_bytes(v)
                    }
                })
            };
            let u32_at = |at: usize, le: bool| {
                b.get(at..at.checked_add(4)?).map(|v| {
                    let v = [v[0], v[1], v[2], v[3]];
                    if le {
                        u32::from_le_bytes(v)
                    } else {
                        u32::from_be_bytes(v)
                    }
                })
            };
            // Classic TIFF only (BigTIFF is rare and read as one page either way).
            let le = match b.get(0..4)? {
                [b'I', b'I', 42, 0] => true,
                [b'M', b'M', 0, 42] => false,
                _ => return None,
            };
            let ifd0 = u32_at(4, le)? as usize;
            let entries = usize::from(u16_at(ifd0, le)?);
            // Offsets come from the file: checked, for 32-bit targets.
            let next = u32_at(ifd0.checked_add(2 + 12 * entries)?, le)?;
            (next != 0).then_some("page")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn animations_and_pages_are_noticed() {
        // A PNG whose `acTL` chunk comes before its first `IDAT` is an animation.
        let chunk = |kind: &[u8; 4], data: &[u8]| {
            let mut c = (data.len() as u32).to_be_bytes().to_vec();
            c.extend_from_slice(kind);
            c.extend_from_slice(data);
            c.extend_from_slice(&[0; 4]); // CRC, not checked here
            c
        };
        let png = |chunks: &[Vec<u8>]| {
            let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
            chunks.iter().for_each(|c| b.extend_from_slice(c));
            b
        };
        let ihdr = chunk(b"IHDR", &[0; 13]);
        let (actl, idat) = (
            chunk(b"acTL", &[0, 0, 0, 2, 0, 0, 0, 0]),
            chunk(b"IDAT", &[0; 4]),
        );
        let one_frame = chunk(b"acTL", &[0, 0, 0, 1, 0, 0, 0, 0]);
        let apng = png(&[ihdr.clone(), actl.clone(), idat.clone()]);
        assert_eq!(
            more_than_one_picture(ImageFormat::Png, &apng),
            Some("frame")
        );
        let still = png(&[ihdr.clone(), idat.clone(), actl]);
        assert_eq!(more_than_one_picture(ImageFormat::Png, &still), None);
        let single = png(&[ihdr, one_frame, idat]);
        assert_eq!(more_than_one_picture(ImageFormat::Png, &single), None);
        // A WebP whose VP8X flags say "animation".
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0".to_vec();
        webp.extend_from_slice(&[0x02, 0, 0, 0]);
        assert_eq!(
            more_than_one_picture(ImageFormat::WebP, &webp),
            Some("frame")
        );
        webp[20] = 0x10; // alpha only
        assert_eq!(more_than_one_picture(ImageFormat::WebP, &webp), None);
        // A TIFF whose first IFD (no entries) points to a second one.
        let tiff = |next: u32| {
            let mut b = b"II\x2a\x00\x08\x00\x00\x00\x00\x00".to_vec();
            b.extend_from_slice(&next.to_le_bytes());
            b
        };
        assert_eq!(
            more_than_one_picture(ImageFormat::Tiff, &tiff(14)),
            Some("page")
        );
        assert_eq!(more_than_one_picture(ImageFormat::Tiff, &tiff(0)), None);
        // Truncated headers are not a second picture, nor a panic.
        for cut in 0..apng.len() {
            more_than_one_picture(ImageFormat::Png, &apng[..cut]);
        }
        for cut in 0..14 {
            assert_eq!(
                more_than_one_picture(ImageFormat::Tiff, &tiff(14)[..cut]),
                None
            );
        }
    }
}
