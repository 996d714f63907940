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

/// Writes an FFV1 `.mkv` of `w`×`h` frames in `format`, one per timestamp of `pts`
/// (in 1/25 s), each filled by `fill`, its stream tagged with `space` and `range`.
fn write_ffv1_raw(
    path: &Path,
    (w, h): (u32, u32),
    format: ffmpeg_next::format::Pixel,
    (space, range): (ffmpeg_next::color::Space, ffmpeg_next::color::Range),
    pts: &[i64],
    fill: impl Fn(&mut ffmpeg_next::frame::Video),
) {
    use ffmpeg_next::{codec, encoder, format, Packet, Rational};
    ffmpeg_next::init().unwrap();
    let mut out = format::output_as(&path, "matroska").unwrap();
    let found = encoder::find(codec::Id::FFV1).unwrap();
    let mut enc = codec::context::Context::new_with_codec(found)
        .encoder()
        .video()
        .unwrap();
    let tb = Rational::new(1, 25);
    enc.set_width(w);
    enc.set_height(h);
    enc.set_format(format);
    enc.set_time_base(tb);
    enc.set_frame_rate(Some(Rational::new(25, 1)));
    enc.set_colorspace(space);
    enc.set_color_range(range);
    let mut enc = enc.open_as(found).unwrap();
    let mut st = out.add_stream(found).unwrap();
    st.set_parameters(&enc);
    st.set_time_base(tb);
    st.set_avg_frame_rate(Rational::new(25, 1));
    out.write_header().unwrap();
    let ost_tb = out.stream(0).unwrap().time_base();
    let drain = |enc: &mut encoder::Video, out: &mut format::context::Output| {
        let mut p = Packet::empty();
        while enc.receive_packet(&mut p).is_ok() {
            p.set_stream(0);
            p.set_duration(1);
            p.rescale_ts(tb, ost_tb);
            p.write_interleaved(out).unwrap();
        }
    };
    for &t in pts {
        let mut f = ffmpeg_next::frame::Video::new(format, w, h);
        fill(&mut f);
        f.set_pts(Some(t));
        enc.send_frame(&f).unwrap();
        drain(&mut enc, &mut out);
    }
    enc.send_eof().unwrap();
    drain(&mut enc, &mut out);
    out.write_trailer().unwrap();
}

/// `rgb` in Y'CbCr with the matrix of luma weights `(kr, kb)`, limited or full range.
fn ycbcr(rgb: [f64; 3], (kr, kb): (f64, f64), full: bool) -> [u8; 3] {
    let y = kr * rgb[0] + (1.0 - kr - kb) * rgb[1] + kb * rgb[2];
    let (cb, cr) = (
        (rgb[2] - y) / (2.0 - 2.0 * kb),
        (rgb[0] - y) / (2.0 - 2.0 * kr),
    );
    let (ys, cs, y0) = if full {
        (1.0, 1.0, 0.0)
    } else {
        (219.0 / 255.0, 224.0 / 255.0, 16.0)
    };
    [y0 + ys * y, 128.0 + cs * cb, 128.0 + cs * cr].map(|v| v.round() as u8)
}

/// Video is read with the YUV matrix and range it is tagged with, and untagged video
/// as players read it (BT.709 for HD, BT.601 below); swscale alone assumes BT.601 in
/// limited range, which read a BT.709 clip's red 200 as 188.
#[test]
fn video_is_read_with_its_own_yuv_matrix_and_range() {
    use ffmpeg_next::color::{Range, Space};
    use ffmpeg_next::format::Pixel;
    const BT709: (f64, f64) = (0.2126, 0.0722);
    const BT601: (f64, f64) = (0.299, 0.114);
    let colour = [200.0, 60.0, 30.0];
    let dir = tempfile::tempdir().unwrap();
    for (i, (size, tags, matrix, full)) in [
        ((64, 48), (Space::BT709, Range::MPEG), BT709, false),
        ((64, 48), (Space::BT709, Range::JPEG), BT709, true),
        ((64, 48), (Space::SMPTE170M, Range::MPEG), BT601, false),
        (
            (64, 48),
            (Space::Unspecified, Range::Unspecified),
            BT601,
            false,
        ),
        (
            (1280, 720),
            (Space::Unspecified, Range::Unspecified),
            BT709,
            false,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.path().join(format!("{i}.mkv"));
        let yuv = ycbcr(colour, matrix, full);
        write_ffv1_raw(&path, size, Pixel::YUV444P, tags, &[0], |f| {
            for (p, v) in yuv.iter().enumerate() {
                f.data_mut(p).fill(*v);
            }
        });
        let (_, frames) = read_all(&path);
        let px = &frames[0][..3];
        for (c, (&got, want)) in px.iter().zip(colour).enumerate() {
            assert!(
                (f64::from(got) - want).abs() <= 2.0,
                "case {i} ({tags:?}, {size:?}): channel {c} is {got}, want {want}"
            );
        }
    }
}

/// Gray video (H.264 and HEVC monochrome decode to it) is read in its tagged range;
/// untagged, as swscale and FFmpeg's tools read it, full range.
#[test]
fn gray_video_is_read_in_its_own_range() {
    use ffmpeg_next::color::{Range, Space};
    use ffmpeg_next::format::Pixel;
    let dir = tempfile::tempdir().unwrap();
    let value = 200u8;
    let limited = (16.0 + 219.0 * f64::from(value) / 255.0).round() as u8;
    for (i, (range, stored)) in [
        (Range::MPEG, limited),
        (Range::JPEG, value),
        (Range::Unspecified, value),
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.path().join(format!("gray{i}.mkv"));
        let tags = (Space::Unspecified, range);
        write_ffv1_raw(&path, (32, 32), Pixel::GRAY8, tags, &[0], |f| {
            f.data_mut(0).fill(stored)
        });
        let (_, frames) = read_all(&path);
        for &got in &frames[0][..3] {
            assert!(got.abs_diff(value) <= 1, "{range:?}: {got}, want {value}");
        }
    }
}

/// Frames with uneven timestamps and frames with alpha are coded (at a constant rate,
/// without alpha), and the reader says so, once; an even, opaque clip gets no note.
#[test]
fn uneven_timing_and_alpha_are_reported() {
    use ffmpeg_next::color::{Range, Space};
    use ffmpeg_next::format::Pixel;
    use neco::io::frames::FrameSource;
    let dir = tempfile::tempdir().unwrap();
    let notes = |path: &Path| {
        let mut r = VideoReader::open(path, &Limits::default()).unwrap();
        let mut notes = r.take_warnings();
        let mut n = 0;
        while r.next_frame().unwrap().is_some() {
            n += 1;
            notes.extend(r.take_warnings());
        }
        (n, notes)
    };
    let tags = (Space::Unspecified, Range::Unspecified);
    let gray = |f: &mut ffmpeg_next::frame::Video| f.data_mut(0).fill(128);
    let even = dir.path().join("even.mkv");
    write_ffv1_raw(&even, (16, 16), Pixel::BGRZ, tags, &[0, 1, 2, 3, 4], gray);
    assert_eq!(notes(&even), (5, vec![]));
    let uneven = dir.path().join("uneven.mkv");
    write_ffv1_raw(
        &uneven,
        (16, 16),
        Pixel::BGRZ,
        tags,
        &[0, 1, 2, 3, 9, 10, 20],
        gray,
    );
    let (n, said) = notes(&uneven);
    assert_eq!(n, 7);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("not evenly spaced"), "{said:?}");
    let alpha = dir.path().join("alpha.mkv");
    write_ffv1_raw(&alpha, (16, 16), Pixel::BGRA, tags, &[0, 1], gray);
    let (n, said) = notes(&alpha);
    assert_eq!(n, 2);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("alpha channel"), "{said:?}");
}

/// Replaces the last identity matrix of an MP4 (the track header's, after the movie
/// header's) with `matrix`, as phones write for clips filmed upright.
fn set_track_matrix(path: &Path, matrix: [i32; 9]) {
    let identity: Vec<u8> = [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x4000_0000]
        .iter()
        .flat_map(|v: &i32| v.to_be_bytes())
        .collect();
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(identity.len())
        .rposition(|w| w == identity)
        .expect("a track header matrix");
    let new: Vec<u8> = matrix.iter().flat_map(|v| v.to_be_bytes()).collect();
    bytes[at..at + new.len()].copy_from_slice(&new);
    std::fs::write(path, bytes).unwrap();
}

/// A clip whose display matrix turns it (a phone held upright) is read turned, as
/// players show it; a mirrored one is read as stored, with a note.
#[test]
fn display_matrix_rotation_is_applied() {
    use neco::io::frames::FrameSource;
    let dir = tempfile::tempdir().unwrap();
    // Stored 64×32: the left half dark, the right half light.
    let (w, h) = (64usize, 32usize);
    let frame: Vec<u8> = (0..w * h)
        .flat_map(|i| if i % w < w / 2 { [30u8; 3] } else { [220; 3] })
        .collect();
    let fps = Fps::new(25, 1).unwrap();
    let mean = |f: &[u8]| f.iter().map(|&v| f64::from(v)).sum::<f64>() / f.len() as f64;
    // The frame as an MP4 whose track header carries `matrix`, opened.
    let turned = |name: &str, matrix: [i32; 9]| {
        let path = dir.path().join(name);
        let _ = std::fs::remove_file(&path);
        let frames = std::slice::from_ref(&frame);
        write(&path, frames, w as u32, h as u32, fps, VideoCodec::H264);
        set_track_matrix(&path, matrix);
        VideoReader::open(&path, &Limits::default()).unwrap()
    };
    // (a, b, c, d) of the matrix; the stored picture's left half becomes the shown one's …
    for (abcd, shown, dark_first) in [
        ((0x10000, 0, 0, 0x10000), (64, 32), true), // … left: no turn
        ((0, 0x10000, -0x10000, 0), (32, 64), true), // … top: 90° clockwise
        ((-0x10000, 0, 0, -0x10000), (64, 32), false), // … right: 180°
        ((0, -0x10000, 0x10000, 0), (32, 64), false), // … bottom: 90° anticlockwise
    ] {
        let (a, b, c, d) = abcd;
        let mut r = turned("turned.mp4", [a, b, 0, c, d, 0, 0, 0, 0x4000_0000]);
        assert!(r.take_warnings().is_empty());
        assert_eq!((r.info().width, r.info().height), shown, "{abcd:?}");
        let f = r.next_frame().unwrap().unwrap();
        let half = f.len() / 2;
        // Both halves are contiguous in memory when the turn puts them top and bottom;
        // otherwise compare the first row's halves.
        let (first, second) = if shown.1 == 64 {
            (mean(&f[..half]), mean(&f[half..]))
        } else {
            let row = &f[..shown.0 as usize * 3];
            (mean(&row[..row.len() / 2]), mean(&row[row.len() / 2..]))
        };
        assert_eq!(
            first < second,
            dark_first,
            "{abcd:?}: {first:.0} / {second:.0}"
        );
        assert!(
            (first - second).abs() > 100.0,
            "{abcd:?}: {first:.0} / {second:.0}"
        );
    }
    // A mirror image is not applied, and said.
    let mut r = turned(
        "mirrored.mp4",
        [-0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x4000_0000],
    );
    let said = r.take_warnings();
    assert!(said.len() == 1 && said[0].contains("mirrored"), "{said:?}");
    assert_eq!((r.info().width, r.info().height), (64, 32));
}
