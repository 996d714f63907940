//! AV1 video anchor through FFmpeg: libaom at a fixed CRF with its default GOP for
//! video (keyframe interval 250 as the HEVC anchor's x265, alternate reference frames,
//! lookahead), full-range BT.601 Y′CbCr 4:4:4 as the HEVC anchor; decoded with FFmpeg's
//! AV1 decoder (dav1d where present). The rate counted is the raw AV1 bitstream (the
//! temporal units' OBUs, no container), as for HEVC.

use anyhow::{ensure, Context};
use ffmpeg::codec;
use ffmpeg::format::Pixel;
use ffmpeg_next as ffmpeg;

use super::hevc::copy_planes_in;
use super::still::{check_available, libaom_encoder, yuv444_to_rgb, Format};
use super::ycbcr::{self, Chroma};

/// Encodes `frames` (interleaved RGB, `width`×`height`) at `crf` (0..=63) with libaom
/// `cpu-used` `speed`; returns the packets (temporal units) in coding order.
pub fn encode_sequence(
    frames: &[Vec<u8>],
    (width, height): (u32, u32),
    crf: u8,
    speed: u8,
) -> anyhow::Result<Vec<Vec<u8>>> {
    check_available(Format::Avif)?;
    let mut enc = libaom_encoder((width, height), (u32::from(crf), speed), &[], 250, false)?;
    let mut packets = Vec::new();
    let mut drain = |enc: &mut ffmpeg::encoder::Video| {
        let mut packet = ffmpeg::Packet::empty();
        while enc.receive_packet(&mut packet).is_ok() {
            packets.push(packet.data().unwrap_or_default().to_vec());
        }
    };
    for (i, rgb) in frames.iter().enumerate() {
        let planes = ycbcr::from_rgb(rgb, width as usize, height as usize, Chroma::Yuv444);
        let mut frame = ffmpeg::frame::Video::new(Pixel::YUV444P, width, height);
        copy_planes_in(&planes, &mut frame);
        frame.set_pts(Some(i as i64));
        enc.send_frame(&frame).context("libaom: sending a frame")?;
        drain(&mut enc);
    }
    enc.send_eof().context("libaom: flushing")?;
    drain(&mut enc);
    ensure!(
        packets.iter().any(|p| !p.is_empty()),
        "libaom produced no bitstream"
    );
    Ok(packets)
}

/// Decodes packets from [`encode_sequence`] to frames of interleaved RGB, in display
/// order.
pub fn decode_sequence(
    packets: &[Vec<u8>],
    (width, height): (u32, u32),
) -> anyhow::Result<Vec<Vec<u8>>> {
    check_available(Format::Avif)?;
    let av1 = ffmpeg::decoder::find(codec::Id::AV1).context("an AV1 decoder")?;
    let mut dec = codec::context::Context::new_with_codec(av1)
        .decoder()
        .video()
        .context("opening the AV1 decoder")?;
    let mut out = Vec::new();
    let mut receive = |dec: &mut ffmpeg::decoder::Video| -> anyhow::Result<()> {
        let mut frame = ffmpeg::frame::Video::empty();
        while dec.receive_frame(&mut frame).is_ok() {
            out.push(yuv444_to_rgb(&frame, width, height)?);
        }
        Ok(())
    };
    for p in packets {
        dec.send_packet(&ffmpeg::Packet::copy(p))
            .context("the AV1 decoder rejected the bitstream")?;
        receive(&mut dec)?;
    }
    dec.send_eof().context("flushing the AV1 decoder")?;
    receive(&mut dec)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::psnr_rgb8;

    #[test]
    fn sequences_round_trip_and_inter_coding_pays() {
        let (w, h) = (48usize, 32usize);
        let frames: Vec<Vec<u8>> = (0..10)
            .map(|t| {
                (0..w * h)
                    .flat_map(|i| {
                        let (x, y) = (i % w, i / w);
                        let bar = (t * 3 + y / 4) % w == x;
                        let v = ((x * 5 + y * 3) % 200) as u8;
                        if bar {
                            [255, 255, 255]
                        } else {
                            [v, 90, 255 - v]
                        }
                    })
                    .collect()
            })
            .collect();
        let size = (w as u32, h as u32);
        let packets = encode_sequence(&frames, size, 20, 8).unwrap();
        let back = decode_sequence(&packets, size).unwrap();
        assert_eq!(back.len(), 10);
        for (t, (a, b)) in frames.iter().zip(&back).enumerate() {
            assert!(psnr_rgb8(a, b) > 30.0, "frame {t}: {}", psnr_rgb8(a, b));
        }
        let inter: usize = packets.iter().map(Vec::len).sum();
        let intra: usize = frames
            .iter()
            .map(|f| {
                let one = encode_sequence(std::slice::from_ref(f), size, 20, 8).unwrap();
                one.iter().map(Vec::len).sum::<usize>()
            })
            .sum();
        assert!(inter * 2 < intra, "inter {inter} bytes, intra {intra}");
        assert!(encode_sequence(&frames, size, 64, 8).is_err());
    }
}
