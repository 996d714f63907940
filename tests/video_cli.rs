//! `neco encode` / `decode` / `info` on video: image sequences and video files in,
//! frame groups in the stream, video files and sequences out; random access and
//! damaged groups.
#![cfg(feature = "ffmpeg")]

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::psnr;
use neco::io::video::VideoReader;
use neco_core::container::video::VideoStreamReader;
use neco_core::Limits;
use predicates::prelude::*;
use predicates::str::contains;

fn neco() -> Command {
    Command::cargo_bin("neco").expect("the neco binary")
}

/// Writes `n` frames of a moving pattern (64×48) as `dir/f_%03d.png` from 1.
fn pattern_sequence(dir: &Path, n: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|t| {
            let img = image::RgbImage::from_fn(64, 48, |x, y| {
                let inside = (x + 64 - 3 * t % 64) % 64 < 16 && (y + 48 - 2 * t % 48) % 48 < 12;
                let v = [(x * 4) as u8, (y * 5) as u8, 90];
                image::Rgb(if inside { [230, 200, 40] } else { v })
            });
            img.save(dir.join(format!("f_{:03}.png", t + 1))).unwrap();
            img.into_raw()
        })
        .collect()
}

fn read_video(path: &Path) -> (neco::io::video::VideoInfo, Vec<Vec<u8>>) {
    let mut r = VideoReader::open(path, &Limits::default()).unwrap();
    let mut frames = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        frames.push(f);
    }
    (r.info().clone(), frames)
}

/// Runs `neco CMD INPUT -o OUT ARGS…`, which must succeed; returns its stderr.
fn run_ok(cmd: &str, input: &Path, out: &Path, args: &[&str]) -> String {
    let o = neco()
        .arg(cmd)
        .arg(input)
        .arg("-o")
        .arg(out)
        .args(args)
        .assert()
        .success();
    String::from_utf8_lossy(&o.get_output().stderr).into_owned()
}

fn encode(input: &Path, out: &Path, args: &[&str]) {
    run_ok("encode", input, out, args);
}

fn decode(input: &Path, out: &Path, args: &[&str]) -> String {
    run_ok("decode", input, out, args)
}

#[test]
fn sequence_round_trip_with_groups_and_random_access() {
    let dir = tempfile::tempdir().unwrap();
    let frames = pattern_sequence(dir.path(), 20);
    let stream = dir.path().join("clip.neco");
    encode(
        &dir.path().join("f_%03d.png"),
        &stream,
        &["--gop", "8", "--fps", "24"],
    );

    let info = neco()
        .arg("info")
        .arg(&stream)
        .arg("--json")
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&info.get_output().stdout).unwrap();
    assert_eq!(
        (v["kind"].as_str(), v["frames"].as_u64(), v["fps"].as_str()),
        (Some("video"), Some(20), Some("24/1"))
    );
    assert_eq!(v["groups"].as_array().unwrap().len(), 3);
    // Per-frame modes: every group starts intra; the counts cover every frame.
    let modes: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["modes"].as_str().unwrap())
        .collect();
    assert_eq!(modes.iter().map(|m| m.len()).collect::<Vec<_>>(), [8, 8, 4]);
    assert!(modes.iter().all(|m| m.starts_with('I')), "{modes:?}");
    let (intra, temporal) = (
        v["intra_frames"].as_u64().unwrap(),
        v["temporal_frames"].as_u64().unwrap(),
    );
    assert_eq!(intra + temporal, 20);
    assert_eq!(
        intra as usize,
        modes.iter().map(|m| m.matches('I').count()).sum::<usize>()
    );

    // Whole clip to FFV1: count, size and rate preserved, quality floor met.
    let mkv = dir.path().join("clip.mkv");
    decode(&stream, &mkv, &[]);
    let (vi, back) = read_video(&mkv);
    assert_eq!(
        (vi.width, vi.height, vi.fps.num, vi.fps.den, back.len()),
        (64, 48, 24, 1, 20)
    );
    let mean = frames
        .iter()
        .zip(&back)
        .map(|(a, b)| psnr(a, b))
        .sum::<f64>()
        / 20.0;
    assert!(mean > common::PSNR_FLOOR_DB, "mean PSNR {mean:.2} dB");

    // Frames 6..13 (they span groups 0 and 1) to PNGs: the same pictures.
    let part = dir.path().join("part");
    std::fs::create_dir(&part).unwrap();
    decode(&stream, &part.join("p_%02d.png"), &["--frames", "6..13"]);
    for k in 0..7 {
        let p = image::open(part.join(format!("p_{:02}.png", k + 1)))
            .unwrap()
            .to_rgb8();
        assert!(p.into_raw() == back[6 + k], "frame {}", 6 + k);
    }
    assert!(!part.join("p_08.png").exists());
    // Out-of-range and wrong-kind requests are clear errors.
    neco()
        .arg("decode")
        .arg(&stream)
        .arg("-o")
        .arg(dir.path().join("x.mkv"))
        .args(["--frames", "15..25"])
        .assert()
        .failure()
        .stderr(contains("outside the stream's 0..20"));
    neco()
        .arg("decode")
        .arg(&stream)
        .arg("-o")
        .arg(dir.path().join("x.png"))
        .assert()
        .failure()
        .stderr(contains("holds a video"));
}

#[test]
fn a_damaged_group_costs_only_its_frames() {
    let dir = tempfile::tempdir().unwrap();
    pattern_sequence(dir.path(), 12);
    let stream = dir.path().join("clip.neco");
    encode(&dir.path().join("f_%03d.png"), &stream, &["--gop", "4"]);
    let good = dir.path().join("good.mkv");
    decode(&stream, &good, &[]);
    let (_, good_frames) = read_video(&good);

    let mut bytes = std::fs::read(&stream).unwrap();
    let r = VideoStreamReader::open(std::io::Cursor::new(&bytes), &Limits::default()).unwrap();
    let g1 = r.groups()[1].offset as usize;
    bytes[g1 + 40] ^= 0x55; // inside the group's first frame
    let bad = dir.path().join("bad.neco");
    std::fs::write(&bad, &bytes).unwrap();
    let out = dir.path().join("bad.mkv");
    let stderr = decode(&bad, &out, &[]);
    assert!(stderr.contains("frames 4..8 lost (group 1"), "{stderr}");
    let (_, frames) = read_video(&out);
    assert_eq!(frames.len(), 12, "the timing holds");
    assert!(frames[..4] == good_frames[..4] && frames[8..] == good_frames[8..]);
    assert!(
        frames[4..8].iter().all(|f| *f == good_frames[3]),
        "last good frame stands in"
    );

    // When no requested frame survives, decoding fails and writes nothing.
    let only_g1 = dir.path().join("only.mkv");
    neco()
        .arg("decode")
        .arg(&bad)
        .arg("-o")
        .arg(&only_g1)
        .args(["--frames", "5..7"])
        .assert()
        .failure()
        .stderr(contains("no frame could be decoded"));
    assert!(!only_g1.exists());

    // Cut inside IEND: the index is lost, a scan finds the groups (group 1 still
    // damaged), and the warning says so.
    let cut = dir.path().join("cut.neco");
    std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
    let stderr = decode(&cut, &dir.path().join("cut.mkv"), &[]);
    assert!(stderr.contains("the index is unusable"), "{stderr}");
    assert!(stderr.contains("frames 4..8 lost (group 1"), "{stderr}");
    let (_, frames) = read_video(&dir.path().join("cut.mkv"));
    assert!(frames.len() == 12 && frames[8..] == good_frames[8..]);
}

/// A stream cut short (an interrupted copy or recording) keeps the groups before the
/// cut, from a file or from standard input, and `info` says what a scan found.
#[test]
fn a_truncated_stream_keeps_its_intact_groups() {
    let dir = tempfile::tempdir().unwrap();
    pattern_sequence(dir.path(), 12);
    let stream = dir.path().join("clip.neco");
    encode(&dir.path().join("f_%03d.png"), &stream, &["--gop", "4"]);
    let good = dir.path().join("good.mkv");
    decode(&stream, &good, &[]);
    let (_, good_frames) = read_video(&good);
    let bytes = std::fs::read(&stream).unwrap();
    let r = VideoStreamReader::open(std::io::Cursor::new(&bytes), &Limits::default()).unwrap();
    let g2 = r.groups()[2].offset as usize;

    // Cut just before the third group: frames 0..8 decode as before.
    let cut = dir.path().join("cut.neco");
    std::fs::write(&cut, &bytes[..g2 + 3]).unwrap();
    let out = dir.path().join("cut.mkv");
    let stderr = decode(&cut, &out, &[]);
    assert!(
        stderr.contains("a scan found 2 groups holding frames 0..8"),
        "{stderr}"
    );
    let (_, frames) = read_video(&out);
    assert!(frames.len() == 8 && frames[..] == good_frames[..8]);
    neco()
        .arg("info")
        .arg(&cut)
        .assert()
        .success()
        .stdout(contains("video, 64x48, 8 frames"))
        .stdout(contains("index:     the index is unusable"));

    // Cut inside the third group's frames: it is listed, lost, and stood in for.
    let inside = &bytes[..g2 + 60];
    let out = dir.path().join("inside.mkv");
    let o = neco()
        .args(["decode", "-", "-o"])
        .arg(&out)
        .write_stdin(inside.to_vec())
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&o.get_output().stderr).into_owned();
    assert!(stderr.contains("frames 8..12 lost (group 2"), "{stderr}");
    let (_, frames) = read_video(&out);
    assert!(frames.len() == 12 && frames[..8] == good_frames[..8]);
    let o = neco()
        .args(["info", "--json", "-"])
        .write_stdin(inside.to_vec())
        .assert()
        .success();
    let info: serde_json::Value = serde_json::from_slice(&o.get_output().stdout).unwrap();
    assert_eq!(info["recovery"]["found_groups"], 3);
    assert_eq!(info["damaged_groups"], 1);

    // Cut inside the third group's third frame: its first two frames decode as
    // before (they depend on no later frame), the rest of the group is lost.
    let mut frme = Vec::new();
    let mut at = 10;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if &bytes[at..at + 4] == b"FRME" {
            frme.push(at);
        }
        at += 12 + len;
    }
    assert_eq!(frme.len(), 12);
    let out = dir.path().join("part.mkv");
    let part = dir.path().join("part.neco");
    std::fs::write(&part, &bytes[..frme[10] + 20]).unwrap();
    let stderr = decode(&part, &out, &[]);
    assert!(stderr.contains("frames 10..12 lost (group 2"), "{stderr}");
    let (_, frames) = read_video(&out);
    assert!(frames.len() == 12 && frames[..10] == good_frames[..10]);

    // Nothing intact left: a clear error.
    neco()
        .arg("decode")
        .arg("-")
        .arg("-o")
        .arg(dir.path().join("none.mkv"))
        .write_stdin(bytes[..r.groups()[0].offset as usize + 8].to_vec())
        .assert()
        .code(1)
        .stderr(contains("a scan for its groups found none intact"));
}

/// A real clip from ../shared (skipped when absent): 64 frames of 176×144.
#[test]
fn dataset_clip_round_trip() {
    let clip: PathBuf = common::root().join("../shared/datasets/video/carphone_qcif");
    if !clip.is_dir() {
        eprintln!("skipped: {} is absent", clip.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("carphone.neco");
    encode(
        &clip.join("frame_%04d.png"),
        &stream,
        &["--fps", "30000/1001"],
    );
    let mkv = dir.path().join("carphone.mkv");
    decode(&stream, &mkv, &[]);
    let (vi, back) = read_video(&mkv);
    assert_eq!(
        (vi.width, vi.height, vi.fps.num, vi.fps.den, back.len()),
        (176, 144, 30000, 1001, 64)
    );
    let first = image::open(clip.join("frame_0001.png"))
        .unwrap()
        .to_rgb8()
        .into_raw();
    let p = psnr(&first, &back[0]);
    assert!(p > 25.0, "frame 0: {p:.2} dB");
}

#[test]
fn sequences_never_overwrite_their_input_nor_leave_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    pattern_sequence(dir.path(), 6);
    let frames = dir.path().join("f_%03d.png");
    let third = dir.path().join("f_003.png");
    let before = std::fs::read(&third).unwrap();
    // The stream named as one of its own input frames, -y or not.
    neco()
        .arg("encode")
        .arg(&frames)
        .arg("-o")
        .arg(&third)
        .arg("-y")
        .assert()
        .code(1)
        .stderr(contains("name the same files"));
    assert_eq!(std::fs::read(&third).unwrap(), before);
    // Nor through a link to one (writes follow links).
    #[cfg(unix)]
    {
        let link = dir.path().join("link.neco");
        std::os::unix::fs::symlink(&third, &link).unwrap();
        neco()
            .arg("encode")
            .arg(&frames)
            .arg("-o")
            .arg(&link)
            .arg("-y")
            .assert()
            .code(1)
            .stderr(contains("name the same files"));
        assert_eq!(std::fs::read(&third).unwrap(), before);
        std::fs::remove_file(&link).unwrap();
    }
    let stream = dir.path().join("clip.neco");
    encode(&frames, &stream, &["--gop", "3"]);
    // A sequence output whose frames exist is refused before anything is written.
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("0005.png"), b"old").unwrap();
    neco()
        .arg("decode")
        .arg(&stream)
        .arg("-o")
        .arg(out.join("%04d.png"))
        .assert()
        .code(1)
        .stderr(contains("0005.png already exists (pass -y to overwrite)"));
    assert!(
        !out.join("0001.png").exists(),
        "a frame written before the refusal"
    );
    // A decode that fails (its only group damaged) leaves no frames behind.
    let mut bytes = std::fs::read(&stream).unwrap();
    let r = VideoStreamReader::open(std::io::Cursor::new(&bytes), &Limits::default()).unwrap();
    let g0 = r.groups()[0].offset as usize;
    bytes[g0 + 40] ^= 0x55;
    let bad = dir.path().join("bad.neco");
    std::fs::write(&bad, &bytes).unwrap();
    let out2 = dir.path().join("out2");
    std::fs::create_dir(&out2).unwrap();
    neco()
        .arg("decode")
        .arg(&bad)
        .arg("-o")
        .arg(out2.join("%04d.png"))
        .args(["--frames", "0..3"])
        .assert()
        .code(1)
        .stderr(contains("no frame could be decoded"));
    assert_eq!(
        std::fs::read_dir(&out2).unwrap().count(),
        0,
        "frames left behind"
    );
    // With -y too: the frames it would have replaced are left as they were (it
    // used to replace them one by one, then remove them all on failure).
    std::fs::write(out2.join("0001.png"), b"old").unwrap();
    neco()
        .arg("decode")
        .arg(&bad)
        .arg("-o")
        .arg(out2.join("%04d.png"))
        .args(["--frames", "0..3", "-y"])
        .assert()
        .code(1)
        .stderr(contains("no frame could be decoded"));
    assert_eq!(std::fs::read(out2.join("0001.png")).unwrap(), b"old");
    assert_eq!(std::fs::read_dir(&out2).unwrap().count(), 1);
    // A gap in the numbering ends the sequence, as in FFmpeg: said, not silent.
    std::fs::remove_file(dir.path().join("f_004.png")).unwrap();
    let o = neco()
        .arg("encode")
        .arg(&frames)
        .arg("-o")
        .arg(dir.path().join("gap.neco"))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&o.get_output().stderr).into_owned();
    assert!(
        stderr.contains("f_004.png is missing, so the sequence ends there: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("f_005.png and the frames after it are not read"),
        "{stderr}"
    );
    assert!(stderr.contains("3 frames"), "{stderr}");
}

#[test]
fn frames_too_small_for_mkv_are_refused_not_garbled() {
    // 4×2 frames came out of .mkv wrong with exit 0; now refused, and a sequence works.
    let dir = tempfile::tempdir().unwrap();
    for n in 1..=3 {
        image::RgbImage::from_pixel(4, 2, image::Rgb([250, 250, 250]))
            .save(dir.path().join(format!("t_{n}.png")))
            .unwrap();
    }
    let stream = dir.path().join("tiny.neco");
    encode(&dir.path().join("t_%d.png"), &stream, &[]);
    let mkv = dir.path().join("tiny.mkv");
    neco()
        .arg("decode")
        .arg(&stream)
        .arg("-o")
        .arg(&mkv)
        .assert()
        .code(1)
        .stderr(contains("4x2 frames are too small for .mkv"));
    assert!(!mkv.exists());
    decode(&stream, &dir.path().join("back_%d.png"), &[]);
    let back = image::open(dir.path().join("back_1.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(back.dimensions(), (4, 2));
    // Options that mean nothing for this stream are refused, not ignored.
    for (args, expected) in [
        (["--compare", "t_1.png"], "--compare is for images"),
        (["--frames", "2..2"], "--frames 2..2 is empty"),
    ] {
        neco()
            .arg("decode")
            .arg(&stream)
            .arg("-o")
            .arg(dir.path().join("again_%d.png"))
            .args(args)
            .assert()
            .code(1)
            .stderr(contains(expected));
    }
}

#[test]
fn video_streams_read_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    pattern_sequence(dir.path(), 4);
    let stream = dir.path().join("clip.neco");
    encode(&dir.path().join("f_%03d.png"), &stream, &[]);
    let bytes = std::fs::read(&stream).unwrap();
    neco()
        .args(["info", "-"])
        .write_stdin(bytes.clone())
        .assert()
        .success()
        .stdout(contains("video, 64x48, 4 frames"));
    // To a video file (which runs in the FFmpeg helper) and to a sequence.
    for out in ["back.mkv", "back_%d.png"] {
        neco()
            .args(["decode", "-", "-o"])
            .arg(dir.path().join(out))
            .write_stdin(bytes.clone())
            .assert()
            .success();
    }
    let (_, frames) = read_video(&dir.path().join("back.mkv"));
    assert_eq!(frames.len(), 4);
    assert!(dir.path().join("back_4.png").exists());
    // An image stream asked for a video file says what it holds.
    let img = dir.path().join("still.neco");
    encode(&dir.path().join("f_001.png"), &img, &[]);
    neco()
        .args(["decode", "-", "-o"])
        .arg(dir.path().join("still.mkv"))
        .write_stdin(std::fs::read(&img).unwrap())
        .assert()
        .code(1)
        .stderr(contains("- holds an image, not a video"));
}

/// Options that cannot apply are refused (they were silently ignored), and what a
/// video stream cannot keep of a sequence's pictures is said once.
#[test]
fn misapplied_options_are_refused_and_losses_are_said() {
    let dir = tempfile::tempdir().unwrap();
    pattern_sequence(dir.path(), 3);
    let clip = dir.path().join("clip.mkv");
    let stream = dir.path().join("clip.neco");
    encode(&dir.path().join("f_%03d.png"), &stream, &[]);
    decode(&stream, &clip, &[]);
    // A video file has its own rate.
    neco()
        .arg("encode")
        .arg(&clip)
        .arg("-o")
        .arg(dir.path().join("x.neco"))
        .args(["--fps", "30"])
        .assert()
        .code(1)
        .stderr(contains("--fps 30 is for image sequences").and(contains("(25 fps)")));
    // Video options on a picture.
    for flag in [["--fps", "30"], ["--gop", "4"], ["--temporal", "off"]] {
        neco()
            .arg("encode")
            .arg(dir.path().join("f_001.png"))
            .arg("-o")
            .arg(dir.path().join("x.neco"))
            .args(flag)
            .assert()
            .code(1)
            .stderr(contains(format!("{} is for video", flag[0])));
    }
    assert!(!dir.path().join("x.neco").exists());
    // Frames with alpha: coded without it, and said for the first frame only.
    for n in 1..=3 {
        image::RgbaImage::from_pixel(16, 16, image::Rgba([200, 100, 50, 128]))
            .save(dir.path().join(format!("a_{n}.png")))
            .unwrap();
    }
    let stderr = run_ok(
        "encode",
        &dir.path().join("a_%d.png"),
        &dir.path().join("a.neco"),
        &[],
    );
    assert_eq!(stderr.matches("alpha channel").count(), 1, "{stderr}");
    assert!(stderr.contains("a_1.png: has an alpha channel"), "{stderr}");
}
