//! `neco` loads no FFmpeg library; the commands that need FFmpeg run in the
//! `neco-ffmpeg` helper, which refuses to run for a `neco` built from other sources.
//! (That `neco` hands them over is covered by the video and HEVC tests, tests/video_cli.rs
//! and tests/rd_cli.rs, which run `neco`.)
#![cfg(feature = "ffmpeg")]

use std::path::Path;
use std::process::Command;

use assert_cmd::Command as AssertCommand;
use predicates::str::contains;

/// The shared libraries the dynamic loader maps for `binary` (glibc's loader lists
/// them and exits when `LD_TRACE_LOADED_OBJECTS` is set, as `ldd` does), or `None`
/// where that is not available.
fn loaded_libraries(binary: &str) -> Option<String> {
    let out = Command::new(binary)
        .env("LD_TRACE_LOADED_OBJECTS", "1")
        .output()
        .ok()?;
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    listing.contains("libc.so").then_some(listing)
}

#[test]
fn only_the_helper_loads_ffmpeg() {
    let (Some(neco), Some(helper)) = (
        loaded_libraries(env!("CARGO_BIN_EXE_neco")),
        loaded_libraries(env!("CARGO_BIN_EXE_neco-ffmpeg")),
    ) else {
        eprintln!("skipped: this system's dynamic loader cannot list a binary's libraries");
        return;
    };
    assert!(!neco.contains("libavcodec"), "neco loads FFmpeg:\n{neco}");
    assert!(
        helper.contains("libavcodec"),
        "the helper lacks FFmpeg:\n{helper}"
    );
}

#[test]
fn the_helper_refuses_a_neco_built_from_other_sources() {
    AssertCommand::new(env!("CARGO_BIN_EXE_neco-ffmpeg"))
        .env("NECO_FFMPEG_SOURCE_ID", "0000000000000000")
        .args(["info", "x.neco"])
        .assert()
        .failure()
        .stderr(contains("built from other sources"))
        .stderr(contains("cargo build --release"));
}

#[test]
fn a_missing_helper_is_a_clear_error() {
    // A copy of neco alone in a folder: video files need the helper beside it.
    let dir = tempfile::tempdir().unwrap();
    let neco = dir.path().join("neco");
    std::fs::copy(env!("CARGO_BIN_EXE_neco"), &neco).unwrap();
    let out = dir.path().join("clip.neco");
    AssertCommand::new(&neco)
        .args(["encode", "clip.mp4", "-o"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(contains("neco-ffmpeg"))
        .stderr(contains("does not exist"));
    assert!(!Path::new(&out).exists());
}
