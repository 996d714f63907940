//! Video files and image sequences: frames, frame rate and frame count survive the
//! round trip through FFV1 (exactly), H.264 (closely) and numbered PNGs (exactly).
#![cfg(feature = "ffmpeg")]

mod common;

use std::path::Path;

use common::psnr;
use neco::io::frames::Fps;
use neco::io::sequence::Sequence;
use neco::io::video::{VideoCodec, VideoReader, VideoWriter};
use neco_core::Limits;

/// A moving pattern: a gradient with a bright square sliding right and down.
fn pattern(w: usize, h: usize, frames: usize) -> Vec<Vec<u8>> {
    (0..frames)
        .map(|t| {
            let mut rgb = Vec::with_capacity(w * h * 3);
            for y in 0..h {
                for x in 0..w {
                    let inside = (x + w - 3 * t % w) % w < 12 && (y + h - 2 * t % h) % h < 10;
                    let base = [
                        (x * 255 / w) as u8,
                        (y * 255 / h) as u8,
                        ((x + y + 5 * t) % 256) as u8,
                    ];
                    rgb.extend(base.map(|v| if inside { 255 - v / 4 } else { v }));
                }
            }
            rgb
        })
        .collect()
}

fn write(path: &Path, frames: &[Vec<u8>], w: u32, h: u32, fps: Fps, codec: VideoCodec) {
    let mut out = VideoWriter::create(path, w, h, fps, codec, false).unwrap();
    for f in frames {
        out.write(f).unwrap();
    }
    out.finish().unwrap();
}

fn read_all(path: &Path) -> (neco::io::video::VideoInfo, Vec<Vec<u8>>) {
    let mut r = VideoReader::open(path, &Limits::default()).unwrap();
    let mut frames = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        frames.push(f);
    }
    (r.info().clone(), frames)
}

#[test]
fn ffv1_round_trip_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mkv");
    let (w, h) = (65, 47); // odd sizes are fine for FFV1
    let frames = pattern(w, h, 12);
    let fps = Fps::new(24, 1).unwrap();
    assert_eq!(VideoCodec::for_path(&path).unwrap(), VideoCodec::Ffv1);
    write(&path, &frames, w as u32, h as u32, fps, VideoCodec::Ffv1);
    let (info, back) = read_all(&path);
    assert_eq!(
        (info.width, info.height, info.fps),
        (w as u32, h as u32, fps)
    );
    assert_eq!(back.len(), frames.len(), "frame count");
    assert!(back == frames, "FFV1 frames differ");
    // Nothing but the output is left in the folder.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["clip.mkv"]);
}

#[test]
fn h264_round_trip_keeps_count_and_rate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let (w, h) = (64, 48);
    let frames = pattern(w, h, 10);
    let fps = Fps::new(30000, 1001).unwrap();
    write(
        &path,
        &frames,
        w as u32,
        h as u32,
        fps,
        VideoCodec::for_path(&path).unwrap(),
    );
    let (info, back) = read_all(&path);
    assert_eq!(
        (info.width, info.height, info.fps),
        (w as u32, h as u32, fps)
    );
    assert_eq!(
        back.len(),
        frames.len(),
        "frame count (MP4 must not drop the last frame)"
    );
    for (i, (a, b)) in frames.iter().zip(&back).enumerate() {
        let p = psnr(a, b);
        assert!(p > 30.0, "frame {i}: {p:.1} dB");
    }
    // The file says how its YUV was made (BT.601 matrix, limited range, sRGB), so
    // players do not guess BT.709 for HD sizes and shift the colours.
    ffmpeg_next::init().unwrap();
    let input = ffmpeg_next::format::input(&path).unwrap();
    let stream = input
        .streams()
        .best(ffmpeg_next::media::Type::Video)
        .unwrap();
    let ctx = ffmpeg_next::codec::context::Context::from_parameters(stream.parameters()).unwrap();
    let dec = ctx.decoder().video().unwrap();
    use ffmpeg_next::color;
    assert_eq!(dec.color_space(), color::Space::SMPTE170M);
    assert_eq!(dec.color_range(), color::Range::MPEG);
    assert_eq!(dec.color_primaries(), color::Primaries::BT709);
    assert_eq!(
        dec.color_transfer_characteristic(),
        color::TransferCharacteristic::IEC61966_2_1
    );
}

#[test]
fn bad_video_outputs_and_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let fps = Fps::new(25, 1).unwrap();
    let mp4 = dir.path().join("odd.mp4");
    let e = VideoWriter::create(&mp4, 65, 47, fps, VideoCodec::H264, false)
        .err()
        .unwrap();
    assert!(e.to_string().contains("both sides must be even"), "{e}");
    assert!(!mp4.exists());
    let e = VideoCodec::for_path(Path::new("clip.avi")).unwrap_err();
    assert!(e.to_string().contains("use .mkv"), "{e}");
    assert!(Fps::new(0, 1).is_err());
    // An existing output is refused without overwrite, and left as it was.
    let mkv = dir.path().join("taken.mkv");
    std::fs::write(&mkv, b"mine").unwrap();
    assert!(VideoWriter::create(&mkv, 8, 8, fps, VideoCodec::Ffv1, false).is_err());
    assert_eq!(std::fs::read(&mkv).unwrap(), b"mine");
    // Not a video.
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, b"hello, world\n").unwrap();
    let e = VideoReader::open(&text, &Limits::default()).err().unwrap();
    assert!(
        format!("{e:#}").contains("cannot read it as a video"),
        "{e:#}"
    );
    // Over the pixel and frame limits.
    let clip = dir.path().join("clip.mkv");
    write(&clip, &pattern(16, 16, 3), 16, 16, fps, VideoCodec::Ffv1);
    let small = Limits {
        max_pixels: 100,
        ..Limits::default()
    };
    let e = VideoReader::open(&clip, &small).err().unwrap();
    assert!(e.to_string().contains("over the limit of 100"), "{e}");
    let few = Limits {
        max_frames: 2,
        ..Limits::default()
    };
    let mut r = VideoReader::open(&clip, &few).unwrap();
    assert!(r.next_frame().unwrap().is_some() && r.next_frame().unwrap().is_some());
    let e = r.next_frame().unwrap_err();
    assert!(e.to_string().contains("more than 2 frames"), "{e}");
}

#[test]
fn png_sequence_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let seq = Sequence::parse(&dir.path().join("f_%03d.png")).unwrap();
    let (w, h) = (33, 20);
    let frames = pattern(w, h, 5);
    for (i, f) in frames.iter().enumerate() {
        seq.write(i as u64 + 1, w as u32, h as u32, f.clone(), false)
            .unwrap();
    }
    assert!(dir.path().join("f_001.png").is_file());
    let limits = Limits::default();
    let numbers = seq.numbers(&limits).unwrap();
    assert_eq!(numbers, 1..6);
    let back: Vec<Vec<u8>> = numbers
        .map(|n| {
            seq.read(n, &limits, Some((w as u32, h as u32)))
                .unwrap()
                .rgb
        })
        .collect();
    assert!(back == frames);
    let e = seq
        .numbers(&Limits {
            max_frames: 3,
            ..limits
        })
        .unwrap_err();
    assert!(e.to_string().contains("more than 3 frames"), "{e}");
    let none = Sequence::parse(&dir.path().join("g_%d.png")).unwrap();
    assert!(none
        .numbers(&limits)
        .unwrap_err()
        .to_string()
        .contains("no frames"));
}

/// A real clip from ../shared (skipped when absent): 64 frames of 176×144.
#[test]
fn dataset_clip_reads_as_a_sequence() {
    let dir = common::root().join("../shared/datasets/video/carphone_qcif");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let seq = Sequence::parse(&dir.join("frame_%04d.png")).unwrap();
    let limits = Limits::default();
    let numbers = seq.numbers(&limits).unwrap();
    assert_eq!(numbers, 1..65);
    let first = seq.read(1, &limits, None).unwrap();
    assert_eq!((first.width, first.height), (176, 144));
    // Through FFV1 and back, exactly.
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("carphone.mkv");
    let frames: Vec<Vec<u8>> = numbers
        .take(8)
        .map(|n| seq.read(n, &limits, Some((176, 144))).unwrap().rgb)
        .collect();
    write(
        &path,
        &frames,
        176,
        144,
        Fps::new(30000, 1001).unwrap(),
        VideoCodec::Ffv1,
    );
    assert!(read_all(&path).1 == frames);
}
