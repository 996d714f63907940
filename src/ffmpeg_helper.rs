//! FFmpeg behind a table of entry points, so that only the binary that needs it loads
//! it.
//!
//! Debian's FFmpeg libraries pull in about 130 shared libraries, whose loading took
//! 28 ms of every `neco` run (docs/performance.md) although only video files and the
//! HEVC anchor use them. The `neco` binary therefore never calls FFmpeg directly: it
//! reaches it through [`Hooks`], which only the `neco-ffmpeg` helper binary
//! [`install`]s. The linker drops FFmpeg's libraries from `neco` (nothing it can reach
//! refers to them), and a `neco` command that needs them calls [`require`] before it
//! reads or writes anything, which replaces the process with `neco-ffmpeg` and the
//! same arguments.

use std::path::Path;

use neco_core::Limits;

use crate::eval::codecs::{AnchorOptions, RdCodec};
use crate::eval::video_rd::{Clip, ClipPoint};
use crate::io::frames::{Fps, FrameSink, FrameSource};

/// Name of the helper binary, looked up next to the running `neco`.
pub const HELPER: &str = "neco-ffmpeg";

/// Set (to [`SOURCE_ID`]) for the helper by the `neco` that starts it: the helper
/// checks it was built from the same sources, and does not start itself again.
const EXPECT_ENV: &str = "NECO_FFMPEG_SOURCE_ID";

/// Hash of the sources this binary was built from (build.rs): `neco` and the helper
/// agree on it when one `cargo build` made both.
pub const SOURCE_ID: &str = env!("NECO_SOURCE_ID");

/// Settings of an HEVC encode of a video clip.
pub struct ClipHevc<'a> {
    /// `hevc` (4:4:4) or `hevc420`.
    pub anchor: &'a str,
    /// Fixed QP, 0..=51.
    pub qp: u8,
    /// x265 preset.
    pub preset: &'a str,
    /// x265 tune, if any.
    pub tune: Option<&'a str>,
}

/// A frame sink, or why it could not be made.
type SinkResult = anyhow::Result<Box<dyn FrameSink>>;

/// The FFmpeg-backed entry points.
pub struct Hooks {
    /// Opens a video file for reading.
    pub open_video_file: fn(&Path, &Limits) -> anyhow::Result<Box<dyn FrameSource>>,
    /// Creates a video file (codec by extension): path, width, height, rate, overwrite.
    pub create_video_file: fn(&Path, u32, u32, Fps, bool) -> SinkResult,
    /// The HEVC intra anchor of image RD runs (`true`: 4:2:0).
    pub hevc_anchor: fn(bool, &AnchorOptions) -> anyhow::Result<Box<dyn RdCodec>>,
    /// The AVIF, JPEG XL or WebP anchor of image RD runs (`avif`, `jxl`, `webp`).
    pub still_anchor: fn(&str, &AnchorOptions) -> anyhow::Result<Box<dyn RdCodec>>,
    /// One RD point of libx265 on a video clip.
    pub measure_hevc_clip: fn(&Clip, &ClipHevc) -> anyhow::Result<ClipPoint>,
    /// One RD point of libaom (AV1) on a video clip: CRF, `cpu-used`.
    pub measure_av1_clip: fn(&Clip, u8, u8) -> anyhow::Result<ClipPoint>,
}

static HOOKS: std::sync::OnceLock<Hooks> = std::sync::OnceLock::new();

/// Makes FFmpeg available to this process: called by the `neco-ffmpeg` binary's
/// `main` (and by tests), never by `neco`'s, whose image commands then load no
/// FFmpeg library.
#[cfg(feature = "ffmpeg")]
pub fn install() {
    HOOKS.get_or_init(|| Hooks {
        open_video_file: linked::open_video_file,
        create_video_file: linked::create_video_file,
        hevc_anchor: linked::hevc_anchor,
        still_anchor: linked::still_anchor,
        measure_hevc_clip: linked::measure_hevc_clip,
        measure_av1_clip: crate::eval::video_rd::measure_av1,
    });
}

/// FFmpeg's entry points. In a process without them (`neco`), starts the helper in
/// its place with the same arguments and environment — so call this before anything
/// is read from standard input or written — and fails only if that cannot be done.
pub fn require() -> anyhow::Result<&'static Hooks> {
    #[cfg(all(test, feature = "ffmpeg"))]
    install();
    if let Some(hooks) = HOOKS.get() {
        return Ok(hooks);
    }
    anyhow::ensure!(
        cfg!(feature = "ffmpeg"),
        "this neco was built without the `ffmpeg` feature: video files and the HEVC anchor need it (image sequences such as frames/%04d.png work without)"
    );
    anyhow::ensure!(
        std::env::var_os(EXPECT_ENV).is_none(),
        "{HELPER} was started without FFmpeg's entry points (an internal error)"
    );
    exec_helper()
}

#[cfg(unix)]
fn exec_helper() -> anyhow::Result<&'static Hooks> {
    use std::os::unix::process::CommandExt;
    let neco = std::env::current_exe().map_err(|e| anyhow::anyhow!("locating neco: {e}"))?;
    let helper = neco.with_file_name(HELPER);
    anyhow::ensure!(
        helper.is_file(),
        "video files and the HEVC anchor go through FFmpeg, which neco loads only in its helper binary {HELPER}, and {} does not exist: `cargo build --release` (or `cargo build`, for target/debug) builds it beside neco, `cargo install --path .` installs both",
        helper.display()
    );
    let err = std::process::Command::new(&helper)
        .args(std::env::args_os().skip(1))
        .env(EXPECT_ENV, SOURCE_ID)
        .exec();
    anyhow::bail!("starting {}: {err}", helper.display())
}

#[cfg(not(unix))]
fn exec_helper() -> anyhow::Result<&'static Hooks> {
    // Without exec, run the helper as a child and exit with its status.
    let neco = std::env::current_exe().map_err(|e| anyhow::anyhow!("locating neco: {e}"))?;
    let helper = neco.with_file_name(format!("{HELPER}.exe"));
    let status = std::process::Command::new(&helper)
        .args(std::env::args_os().skip(1))
        .env(EXPECT_ENV, SOURCE_ID)
        .status()
        .map_err(|e| anyhow::anyhow!("starting {}: {e}", helper.display()))?;
    std::process::exit(status.code().unwrap_or(1))
}

/// In the helper: refuses to run when the `neco` that started it was built from other
/// sources (a `cargo run` that rebuilt `neco` alone), rather than run stale code.
pub fn check_started_by_matching_neco() -> anyhow::Result<()> {
    match std::env::var(EXPECT_ENV) {
        Ok(id) if id != SOURCE_ID => anyhow::bail!(
            "{HELPER} was built from other sources or features than the neco that started it (source id {SOURCE_ID}, neco's {id}): rebuild both with the same `cargo build` command (e.g. `cargo build --release`)"
        ),
        _ => Ok(()),
    }
}

/// The implementations, linked into the binaries that [`install`] them.
#[cfg(feature = "ffmpeg")]
mod linked {
    use super::*;
    use crate::eval::anchors::hevc::HevcSettings;
    use crate::eval::anchors::ycbcr::Chroma;
    use crate::eval::codecs::HevcCodec;
    use crate::io::video::{VideoCodec, VideoReader, VideoWriter};
    use anyhow::Context;

    pub(super) fn open_video_file(
        path: &Path,
        limits: &Limits,
    ) -> anyhow::Result<Box<dyn FrameSource>> {
        Ok(Box::new(VideoReader::open(path, limits)?))
    }

    pub(super) fn create_video_file(
        path: &Path,
        width: u32,
        height: u32,
        fps: Fps,
        overwrite: bool,
    ) -> SinkResult {
        let codec = VideoCodec::for_path(path)?;
        Ok(Box::new(
            VideoWriter::create(path, width, height, fps, codec, overwrite)
                .with_context(|| format!("writing {}", path.display()))?,
        ))
    }

    pub(super) fn hevc_anchor(
        yuv420: bool,
        opts: &AnchorOptions,
    ) -> anyhow::Result<Box<dyn RdCodec>> {
        let chroma = if yuv420 {
            Chroma::Yuv420
        } else {
            Chroma::Yuv444
        };
        Ok(Box::new(HevcCodec::new(
            chroma,
            &opts.hevc_preset,
            opts.hevc_tune.as_deref(),
            opts.hevc_qps.clone(),
        )?))
    }

    pub(super) fn still_anchor(
        name: &str,
        opts: &AnchorOptions,
    ) -> anyhow::Result<Box<dyn RdCodec>> {
        use crate::eval::anchors::still::{Format, StillSettings};
        let settings = StillSettings {
            avif_speed: opts.avif_speed,
            jxl_effort: opts.jxl_effort,
            webp_method: opts.webp_method,
        };
        let (format, ladder) = match name {
            "avif" => (Format::Avif, &opts.avif_crfs),
            "jxl" => (Format::Jxl, &opts.jxl_distances),
            "webp" => (Format::Webp, &opts.webp_qualities),
            other => anyhow::bail!("{other:?} is not a still-image anchor"),
        };
        Ok(Box::new(crate::eval::codecs::StillCodec::new(
            format,
            settings,
            ladder.clone(),
        )?))
    }

    pub(super) fn measure_hevc_clip(clip: &Clip, s: &ClipHevc) -> anyhow::Result<ClipPoint> {
        let settings = HevcSettings {
            chroma: if s.anchor == "hevc" {
                Chroma::Yuv444
            } else {
                Chroma::Yuv420
            },
            preset: s.preset.to_string(),
            tune: s.tune.map(str::to_string),
        };
        let mut p = crate::eval::video_rd::measure_hevc(clip, s.qp, &settings)?;
        p.codec = s.anchor.to_string();
        Ok(p)
    }
}
