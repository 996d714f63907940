//! `neco info` on a video stream of very many groups stays within a few hundred
//! bytes a group (a test binary of its own: it measures its child's peak memory).
#![cfg(unix)]

use neco_core::container::video::{FrameBits, FrameMode, VideoStreamWriter};
use neco_core::container::{Header, Kind, PixelFormat, VideoParams};

/// Peak resident memory of the largest child waited for so far, in KiB.
fn children_peak_kib() -> i64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage.ru_maxrss
    }
}

#[test]
fn info_on_a_hundred_thousand_groups_stays_small() {
    let groups = 100_000;
    let header = Header {
        kind: Kind::Video,
        width: 16,
        height: 16,
        pixel_format: PixelFormat::Rgb8,
        bit_depth: 8,
        quality: 50,
        model_id: "hp-n64m192-vr".into(),
        weights_sha256: [7; 32],
        y_channels: 192,
        z_channels: 64,
        substreams: 1,
        video: Some(VideoParams {
            fps_num: 30,
            fps_den: 1,
            gop: 1,
        }),
    };
    let frame = FrameBits {
        mode: FrameMode::Intra,
        z_bits: vec![],
        y_bits: vec![vec![]],
    };
    let mut w = VideoStreamWriter::new(Vec::new(), header).unwrap();
    for _ in 0..groups {
        w.write_group(std::slice::from_ref(&frame)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.neco");
    std::fs::write(&path, w.finish().unwrap()).unwrap();
    let size_kib = std::fs::metadata(&path).unwrap().len() as i64 / 1024;

    for args in [&[][..], &["--json"][..]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_neco"))
            .arg("info")
            .arg(&path)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("100000"), "{args:?}");
    }
    // The stream itself (read whole) and the process, plus about 200 bytes a group;
    // before, the JSON report built a tree of values: 1.9 KiB a group.
    let peak = children_peak_kib();
    assert!(
        peak < size_kib + 40 * 1024,
        "neco info peaked at {peak} KiB for a {size_kib} KiB stream"
    );
}
