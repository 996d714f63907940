//! Reading source images and writing decoded ones (image crate).

use std::io::Cursor;
use std::path::Path;

use anyhow::{bail, Context};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageFormat};
use neco_core::Limits;

/// What the source image held, before conversion to 8-bit RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// 8-bit RGB.
    Rgb,
    /// Grayscale (coded as RGB).
    Gray,
    /// RGB with a non-opaque alpha channel (alpha coded losslessly beside).
    Rgba,
}

/// A source image as neco codes it.
pub struct SourceImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Interleaved 8-bit RGB, `width * height * 3` bytes.
    pub rgb: Vec<u8>,
    /// The alpha plane when the source had a non-opaque alpha channel.
    pub alpha: Option<Vec<u8>>,
    /// The source's ICC colour profile (PNG `iCCP`, JPEG `APP2`), kept so the decoded
    /// image shows the same colours; never empty.
    pub icc: Option<Vec<u8>>,
    /// The source's Exif block (TIFF layout; PNG `eXIf`, JPEG `APP1`) with its
    /// orientation cleared, since the pixels are turned upright, its pixel dimensions
    /// those of the coded image and its thumbnail dropped (src/io/exif.rs); never empty.
    pub exif: Option<Vec<u8>>,
    /// What the source was.
    pub kind: SourceKind,
    /// Notes for the user (e.g. a 16-bit source converted to 8 bits).
    pub warnings: Vec<String>,
}

impl SourceImage {
    /// Plain interleaved 8-bit RGB pixels (`width * height * 3` bytes), with no alpha,
    /// colour profile or Exif: a video frame, a training crop.
    pub fn from_rgb(width: u32, height: u32, rgb: Vec<u8>) -> Self {
        SourceImage {
            width,
            height,
            rgb,
            alpha: None,
            icc: None,
            exif: None,
            kind: SourceKind::Rgb,
            warnings: Vec::new(),
        }
    }
}

/// The image formats neco reads, for messages.
const READABLE: &str = "PNG, JPEG, PPM, WebP, TIFF and BMP";

/// Decode image bytes (PNG, JPEG, PPM/PNM, WebP, TIFF, BMP; format guessed from
/// content).
pub fn decode_source(bytes: &[u8], max_pixels: u64) -> anyhow::Result<SourceImage> {
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .context("reading image header")?;
    let Some(format) = reader.format() else {
        bail!("unrecognised image format (neco reads {READABLE})");
    };
    if !matches!(
        format,
        ImageFormat::Png
            | ImageFormat::Jpeg
            | ImageFormat::Pnm
            | ImageFormat::WebP
            | ImageFormat::Tiff
            | ImageFormat::Bmp
    ) {
        bail!("unsupported image format {format:?} (neco reads {READABLE})");
    }
    // Check the dimensions from the header before decoding any pixels.
    let (width, height) = reader
        .into_dimensions()
        .map_err(image_error)
        .context("reading image header")?;
    let pixels = width as u64 * height as u64;
    if pixels > max_pixels {
        bail!("image is {width}x{height} = {pixels} pixels, over the limit of {max_pixels} (--max-pixels)");
    }
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    // 16-bit RGBA is 8 bytes a pixel; leave room for the decoder's own buffers.
    limits.max_alloc = Some(pixels.saturating_mul(16).max(1 << 20));
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(image_error)
        .context("decoding image")?;
    // Cameras store pixels as the sensor saw them and say in Exif how to turn them; code
    // the picture upright, as viewers show it (decoders and tools that ignore Exif then
    // show it right too), and keep the Exif block saying it is upright. A malformed
    // orientation counts as none, as in viewers.
    let mut warnings = Vec::new();
    if format == ImageFormat::Jpeg && !super::sniff::jpeg_is_complete(bytes) {
        warnings.push(
            "the JPEG ends before its end marker (a truncated file?): what is missing decodes as gray"
                .to_owned(),
        );
    }
    if let Some(what) = super::sniff::more_than_one_picture(format, bytes) {
        warnings.push(format!(
            "the file holds more than one {what}: only the first is coded"
        ));
    }
    let mut exif = match decoder.exif_metadata() {
        Ok(e) => e.filter(|e| !e.is_empty()),
        Err(e) => {
            warnings.push(format!("the Exif block could not be read ({e}): dropped"));
            None
        }
    };
    // Some WebP writers keep JPEG's `Exif\0\0` header in front of the TIFF layout.
    if let Some(e) = exif.as_mut().filter(|e| e.starts_with(EXIF_HEADER)) {
        e.drain(..EXIF_HEADER.len());
    }
    let orientation = match decoder.orientation() {
        Ok(o) if o != Orientation::NoTransforms => o,
        _ => exif
            .as_deref()
            .and_then(Orientation::from_exif_chunk)
            .unwrap_or(Orientation::NoTransforms),
    };
    // Checked against the pixels' colour space below.
    let icc = match decoder.icc_profile() {
        Ok(p) => p.filter(|p| !p.is_empty()),
        Err(e) => {
            warnings.push(format!(
                "the ICC colour profile could not be read ({e}): dropped"
            ));
            None
        }
    };
    let mut img = DynamicImage::from_decoder(decoder)
        .map_err(image_error)
        .context("decoding image")?;
    if orientation != Orientation::NoTransforms {
        img.apply_orientation(orientation);
        // The pixels are upright now: a kept Exif block must not turn them again.
        if let Some(e) = exif.as_mut() {
            let _ = Orientation::remove_from_exif_chunk(e);
        }
        warnings.push(format!(
            "applied the Exif orientation ({orientation:?}): the image is coded upright, as viewers show it"
        ));
    }
    let (width, height) = (img.width(), img.height());
    // The thumbnail (a second, JPEG copy of the picture, as stored: sideways after a
    // rotation) would cost as many bytes as a low-rate stream; the dimensions follow
    // the coded image.
    if let Some(e) = exif.as_mut() {
        super::exif::tidy(e, width, height);
    }
    let color = img.color();
    if color.bytes_per_pixel() / color.channel_count() > 1 {
        warnings.push(format!(
            "source is {color:?} (more than 8 bits per sample); converted to 8-bit"
        ));
    }
    let kind = if color.has_alpha() {
        SourceKind::Rgba
    } else if color.has_color() {
        SourceKind::Rgb
    } else {
        SourceKind::Gray
    };
    let (rgb, alpha, kind) = match kind {
        SourceKind::Rgba => {
            let rgba = img.to_rgba8().into_raw();
            let alpha: Vec<u8> = rgba.chunks_exact(4).map(|p| p[3]).collect();
            let rgb: Vec<u8> = rgba
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect();
            if alpha.iter().all(|&a| a == 255) {
                let base = if color.has_color() {
                    SourceKind::Rgb
                } else {
                    SourceKind::Gray
                };
                (rgb, None, base)
            } else {
                (rgb, Some(alpha), SourceKind::Rgba)
            }
        }
        other => (img.to_rgb8().into_raw(), None, other),
    };
    // The pixels are coded as RGB, and written as gray where the source was gray
    // without alpha: a profile for another colour space (an Adobe CMYK JPEG's, which
    // the decoder turns to RGB; a gray image's once it has alpha) would misdescribe
    // them, and PNG forbids it.
    let icc = icc.filter(|p| match icc_space(p) {
        Some(space) if space != b"RGB " && !(space == b"GRAY" && kind == SourceKind::Gray) => {
            warnings.push(format!(
                "the ICC colour profile is for {} data, not RGB: dropped",
                String::from_utf8_lossy(space).trim()
            ));
            false
        }
        _ => true,
    });
    Ok(SourceImage {
        width,
        height,
        rgb,
        alpha,
        icc,
        exif,
        kind,
        warnings,
    })
}

/// An image-library error as one message: its text already ends with its cause, which
/// a printed error chain would repeat.
fn image_error(e: image::ImageError) -> anyhow::Error {
    match &e {
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            anyhow::anyhow!("the data ends early: it is truncated")
        }
        _ => anyhow::anyhow!("{e}"),
    }
}

/// Read and decode an image file within `limits` (file size, pixels); `-` reads
/// standard input.
pub fn read_source(path: &Path, limits: &Limits) -> anyhow::Result<SourceImage> {
    let bytes = read_input(path, limits.max_input_bytes)?;
    decode_source(&bytes, limits.max_pixels).with_context(|| format!("{}", path.display()))
}

/// Read a whole file, or standard input for `-`, refusing more than `max_bytes`
/// (before reading a file; as soon as standard input passes it).
pub fn read_input(path: &Path, max_bytes: u64) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::io::stdin().lock(), max_bytes.saturating_add(1)),
            &mut buf,
        )
        .context("reading standard input")?;
        if buf.len() as u64 > max_bytes {
            bail!("standard input is over the limit of {max_bytes} bytes (--max-input-bytes)");
        }
        Ok(buf)
    } else {
        let reading = || format!("reading {}", path.display());
        let file = std::fs::File::open(path).with_context(reading)?;
        let size = file.metadata().with_context(reading)?.len();
        if size > max_bytes {
            bail!(
                "{} is {size} bytes, over the limit of {max_bytes} (--max-input-bytes)",
                path.display()
            );
        }
        // The size a FIFO, a device or a growing file reports is no bound: read at most
        // one byte past the limit whatever it said.
        let mut buf = Vec::with_capacity(size as usize);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, max_bytes.saturating_add(1)),
            &mut buf,
        )
        .with_context(reading)?;
        if buf.len() as u64 > max_bytes {
            bail!(
                "{} holds more than the limit of {max_bytes} bytes (--max-input-bytes)",
                path.display()
            );
        }
        Ok(buf)
    }
}

/// Output image formats neco writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// PNG (lossless, keeps alpha).
    Png,
    /// JPEG at quality 95 (drops alpha).
    Jpeg,
    /// Binary PPM.
    Ppm,
}

impl OutputFormat {
    /// The format named by a path's extension; `-` (stdout) gives PNG.
    pub fn from_path(path: &Path) -> anyhow::Result<Self> {
        if path.as_os_str() == "-" {
            return Ok(OutputFormat::Png);
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("png") => Ok(OutputFormat::Png),
            Some("jpg" | "jpeg") => Ok(OutputFormat::Jpeg),
            Some("ppm") => Ok(OutputFormat::Ppm),
            _ => bail!(
                "cannot tell the output format from {} (use .png, .jpg or .ppm)",
                path.display()
            ),
        }
    }
}

/// The colour space an ICC profile describes (its header's bytes 16..20: `RGB `,
/// `GRAY`, `CMYK`, …), if it is long enough to say.
fn icc_space(profile: &[u8]) -> Option<&[u8]> {
    profile.get(16..20)
}

/// Encode decoded pixels (RGB, plus alpha when present) into an image file's bytes.
/// With `gray` (the source was grayscale, so the channels are equal), PNG and JPEG are
/// written gray, as the source was, unless the profile is for RGB; PPM is RGB by
/// definition. A profile for another colour space than the file's is dropped with a
/// warning (only a damaged stream has one).
pub fn encode_output(
    width: u32,
    height: u32,
    (rgb, gray): (Vec<u8>, bool),
    alpha: Option<&[u8]>,
    metadata: &Metadata,
    format: OutputFormat,
) -> anyhow::Result<(Vec<u8>, Vec<String>)> {
    let mut warnings = Vec::new();
    let space = metadata.icc.and_then(icc_space);
    let gray = gray && format != OutputFormat::Ppm && space != Some(b"RGB ");
    let img = match alpha {
        Some(a) if format == OutputFormat::Png => {
            let rgba: Vec<u8> = rgb
                .chunks_exact(3)
                .zip(a)
                .flat_map(|(p, &a)| [p[0], p[1], p[2], a])
                .collect();
            DynamicImage::ImageRgba8(
                image::RgbaImage::from_raw(width, height, rgba).context("pixel buffer size")?,
            )
        }
        other => {
            if other.is_some() {
                warnings.push(format!(
                    "{format:?} has no alpha channel: alpha was dropped (write .png to keep it)"
                ));
            }
            if gray {
                let luma = rgb.chunks_exact(3).map(|p| p[0]).collect();
                DynamicImage::ImageLuma8(
                    image::GrayImage::from_raw(width, height, luma).context("pixel buffer size")?,
                )
            } else {
                DynamicImage::ImageRgb8(
                    image::RgbImage::from_raw(width, height, rgb).context("pixel buffer size")?,
                )
            }
        }
    };
    // (PPM drops profiles anyway, and says so below.)
    let (written, expected): (_, &[u8]) = match img {
        DynamicImage::ImageLuma8(_) => ("gray", b"GRAY"),
        _ => ("RGB", b"RGB "),
    };
    let metadata = &Metadata {
        icc: metadata.icc.filter(|_| match space {
            Some(space) if space != expected && format != OutputFormat::Ppm => {
                warnings.push(format!(
                    "the stream's ICC colour profile is for {} data, not the {written} written: dropped",
                    String::from_utf8_lossy(space).trim(),
                ));
                false
            }
            _ => true,
        }),
        exif: metadata.exif,
    };
    let mut out = Cursor::new(Vec::new());
    match format {
        OutputFormat::Png => {
            let mut enc = image::codecs::png::PngEncoder::new(&mut out);
            metadata.attach(&mut enc, (usize::MAX, usize::MAX), "PNG", &mut warnings)?;
            img.write_with_encoder(enc)?
        }
        OutputFormat::Ppm => {
            for (what, present) in [
                ("ICC colour profile", metadata.icc.is_some()),
                ("Exif block", metadata.exif.is_some()),
            ] {
                if present {
                    warnings.push(format!(
                        "PPM has no place for the {what}: it was dropped (write .png or .jpg to keep it)"
                    ));
                }
            }
            // P6, the binary PPM every reader knows (the encoder's default is PAM, P7).
            let enc = image::codecs::pnm::PnmEncoder::new(&mut out).with_subtype(
                image::codecs::pnm::PnmSubtype::Pixmap(image::codecs::pnm::SampleEncoding::Binary),
            );
            img.write_with_encoder(enc)?
        }
        OutputFormat::Jpeg => {
            let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
            metadata.attach(
                &mut enc,
                (JPEG_MAX_ICC, JPEG_MAX_EXIF),
                "JPEG",
                &mut warnings,
            )?;
            img.write_with_encoder(enc)?
        }
    }
    Ok((out.into_inner(), warnings))
}

/// What JPEG puts before an Exif block in its APP1 segment.
const EXIF_HEADER: &[u8] = b"Exif\0\0";

/// Largest Exif block a JPEG holds: one APP1 segment (65,533 payload bytes) less the
/// 6-byte `Exif\0\0` header.
const JPEG_MAX_EXIF: usize = 65_527;

/// Largest ICC profile a JPEG holds: 255 APP2 segments of 65,519 profile bytes.
const JPEG_MAX_ICC: usize = 255 * 65_519;

/// What a decoded image carries besides its pixels, to write into its file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Metadata<'a> {
    /// ICC colour profile.
    pub icc: Option<&'a [u8]>,
    /// Exif block (TIFF layout).
    pub exif: Option<&'a [u8]>,
}

impl Metadata<'_> {
    /// Gives `encoder` the profile and the Exif block; one larger than the format holds
    /// (`max`: bytes of profile, of Exif) is dropped with a warning naming `format`.
    fn attach(
        &self,
        encoder: &mut impl ImageEncoder,
        max: (usize, usize),
        format: &str,
        warnings: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        let fits = |what: &str, bytes: &[u8], max: usize, warnings: &mut Vec<String>| {
            let fits = bytes.len() <= max;
            if !fits {
                warnings.push(format!(
                    "the {what} ({} bytes) does not fit in a {format} (at most {max}): it was dropped",
                    bytes.len()
                ));
            }
            fits
        };
        if let Some(icc) = self.icc.filter(|p| fits("ICC profile", p, max.0, warnings)) {
            encoder
                .set_icc_profile(icc.to_vec())
                .with_context(|| format!("writing the ICC profile into the {format}"))?;
        }
        if let Some(exif) = self.exif.filter(|e| fits("Exif block", e, max.1, warnings)) {
            encoder
                .set_exif_metadata(exif.to_vec())
                .with_context(|| format!("writing the Exif block into the {format}"))?;
        }
        Ok(())
    }
}

/// PNG bytes of a grayscale plane (used to carry alpha losslessly).
pub fn png_gray(width: u32, height: u32, plane: &[u8]) -> anyhow::Result<Vec<u8>> {
    let img =
        image::GrayImage::from_raw(width, height, plane.to_vec()).context("alpha plane size")?;
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageLuma8(img).write_to(&mut out, ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// Decode a grayscale PNG of exactly `width`×`height` (the alpha chunk).
pub fn unpng_gray(bytes: &[u8], width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(image_error)
        .context("decoding the alpha plane")?;
    if img.width() != width || img.height() != height {
        bail!(
            "alpha plane is {}x{}, the image is {width}x{height}",
            img.width(),
            img.height()
        );
    }
    Ok(img.to_luma8().into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ColorType;

    #[test]
    fn truncated_jpegs_are_told_from_whole_ones() {
        let whole = jpeg(Some(1), None);
        assert!(crate::io::sniff::jpeg_is_complete(&whole));
        // Bytes after the end marker (some cameras append data) are no truncation.
        let mut tail = whole.clone();
        tail.extend_from_slice(b"appended");
        assert!(crate::io::sniff::jpeg_is_complete(&tail));
        // Cut anywhere before its end marker, it is.
        for cut in [3, 20, whole.len() / 2, whole.len() - 2] {
            assert!(
                !crate::io::sniff::jpeg_is_complete(&whole[..cut]),
                "cut at {cut}"
            );
        }
        // An end marker inside a segment (a thumbnail in the Exif block) does not count.
        let mut exif = b"II\x2a\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        exif.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xD9]);
        let with_thumb = jpeg(None, Some(exif));
        assert!(crate::io::sniff::jpeg_is_complete(&with_thumb));
        assert!(!crate::io::sniff::jpeg_is_complete(
            &with_thumb[..with_thumb.len() - 2]
        ));
        // The warning reaches the user; the picture still decodes.
        let src = decode_source(&whole[..whole.len() - 2], 1 << 20).unwrap();
        assert!(src
            .warnings
            .iter()
            .any(|w| w.contains("ends before its end marker")));
        assert!(decode_source(&whole, 1 << 20).unwrap().warnings.is_empty());
    }

    #[test]
    fn a_profile_matches_the_colours_written() {
        let (w, h) = (4, 2);
        let rgb = vec![90u8; 3 * w * h];
        let profile = |space: &[u8; 4]| {
            let mut p = vec![7u8; 200];
            p[16..20].copy_from_slice(space);
            p
        };
        let (gray, rgb_profile) = (profile(b"GRAY"), profile(b"RGB "));
        let written = |is_gray: bool, icc: &[u8]| {
            let metadata = Metadata {
                icc: Some(icc),
                exif: None,
            };
            let (bytes, warnings) = encode_output(
                w as u32,
                h as u32,
                (rgb.clone(), is_gray),
                None,
                &metadata,
                OutputFormat::Png,
            )
            .unwrap();
            let mut decoder = image::ImageReader::new(Cursor::new(&bytes))
                .with_guessed_format()
                .unwrap()
                .into_decoder()
                .unwrap();
            let icc = decoder.icc_profile().unwrap();
            (decoder.color_type(), icc, warnings)
        };
        // A gray source with its gray profile: gray, profile kept.
        let (color, icc, warnings) = written(true, &gray);
        assert_eq!((color, icc.as_deref()), (ColorType::L8, Some(&gray[..])));
        assert!(warnings.is_empty(), "{warnings:?}");
        // A gray source with an RGB profile: written RGB, so the profile still fits.
        let (color, icc, _) = written(true, &rgb_profile);
        assert_eq!(
            (color, icc.as_deref()),
            (ColorType::Rgb8, Some(&rgb_profile[..]))
        );
        // A (damaged) stream with a gray profile for RGB pixels: dropped, with a word.
        let (color, icc, warnings) = written(false, &gray);
        assert_eq!((color, icc), (ColorType::Rgb8, None));
        assert_eq!(
            warnings,
            ["the stream's ICC colour profile is for GRAY data, not the RGB written: dropped"]
        );
    }

    /// A 16×8 JPEG, left half black and right half white, with an Exif block holding
    /// `orientation` (none when `None`); `exif` replaces the block when given.
    fn jpeg(orientation: Option<u16>, exif: Option<Vec<u8>>) -> Vec<u8> {
        let (w, h) = (16u16, 8u16);
        let rgb: Vec<u8> = (0..h)
            .flat_map(|_| (0..w).flat_map(|x| [if x < 8 { 0 } else { 255 }; 3]))
            .collect();
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, 95);
        // A little-endian TIFF header and one IFD entry: tag 0x0112 (orientation),
        // type SHORT, count 1.
        let tiff = orientation.map(|o| {
            let mut t =
                b"II\x2a\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00".to_vec();
            t.extend_from_slice(&o.to_le_bytes());
            t.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            t
        });
        if let Some(block) = exif.or(tiff) {
            enc.add_exif_metadata(&block).unwrap();
        }
        enc.encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    /// Mean of the rows `rows` of an 8-bit RGB image `w` wide.
    fn mean_rows(img: &SourceImage, rows: std::ops::Range<usize>) -> f64 {
        let w = img.width as usize * 3;
        let px = &img.rgb[rows.start * w..rows.end * w];
        px.iter().map(|&v| f64::from(v)).sum::<f64>() / px.len() as f64
    }

    #[test]
    fn exif_orientation_is_applied() {
        // 6: the stored pixels are shown turned 90° clockwise, so the left half (black)
        // ends up on top.
        let img = decode_source(&jpeg(Some(6), None), 1 << 20).unwrap();
        assert_eq!((img.width, img.height), (8, 16));
        assert!(mean_rows(&img, 0..8) < 40.0 && mean_rows(&img, 8..16) > 215.0);
        assert!(img.warnings.iter().any(|w| w.contains("Exif orientation")));
        // The Exif block is kept, saying now that nothing is to be turned.
        let exif = img.exif.as_deref().expect("the Exif block is kept");
        assert_eq!(
            Orientation::from_exif_chunk(exif),
            Some(Orientation::NoTransforms)
        );
        // 3: turned 180°: white on the left, still 16×8.
        let img = decode_source(&jpeg(Some(3), None), 1 << 20).unwrap();
        assert_eq!((img.width, img.height), (16, 8));
        assert!(img.rgb[0] > 215 && img.rgb[15 * 3] < 40);
    }

    #[test]
    fn a_camera_block_loses_its_thumbnail_and_gets_the_upright_size() {
        // Orientation 6, pixel dimensions 640×480 and a 3000-byte thumbnail.
        let block = crate::io::exif::tests::block(false, 4, Some(3000));
        let img = decode_source(&jpeg(None, Some(block.clone())), 1 << 20).unwrap();
        assert_eq!((img.width, img.height), (8, 16));
        let exif = img.exif.as_deref().unwrap();
        assert_eq!(exif.len(), block.len() - 3030);
        let mut expected = crate::io::exif::tests::block(false, 4, None);
        crate::io::exif::tidy(&mut expected, 8, 16);
        let _ = Orientation::remove_from_exif_chunk(&mut expected);
        assert_eq!(exif, &expected[..]);
    }

    #[test]
    fn a_webp_exif_block_with_the_jpeg_header_is_read_too() {
        // Some WebP writers keep `Exif\0\0` in front of the TIFF layout.
        let jpeg_img = decode_source(&jpeg(None, None), 1 << 20).unwrap();
        let mut exif = b"Exif\0\0".to_vec();
        exif.extend_from_slice(
            b"II\x2a\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00",
        );
        exif.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
        let mut out = Vec::new();
        let mut enc = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
        enc.set_exif_metadata(exif.clone()).unwrap();
        enc.write_image(&jpeg_img.rgb, 16, 8, image::ExtendedColorType::Rgb8)
            .unwrap();
        let img = decode_source(&out, 1 << 20).unwrap();
        assert_eq!((img.width, img.height), (8, 16));
        let kept = img.exif.unwrap();
        assert_eq!(&kept[..4], b"II\x2a\x00");
        assert_eq!(kept.len(), exif.len() - 6);
    }

    #[test]
    fn no_or_broken_exif_leaves_the_pixels_as_stored() {
        for bytes in [
            jpeg(None, None),
            jpeg(Some(1), None),
            jpeg(None, Some(b"II\x2a\x00\xff\xff\xff\xff garbage".to_vec())),
        ] {
            let img = decode_source(&bytes, 1 << 20).unwrap();
            assert_eq!((img.width, img.height), (16, 8));
            assert!(img.rgb[0] < 40 && img.rgb[15 * 3] > 215);
            assert!(img.warnings.is_empty(), "{:?}", img.warnings);
        }
        assert_eq!(
            decode_source(&jpeg(None, None), 1 << 20).unwrap().exif,
            None
        );
    }
}
