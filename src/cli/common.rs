//! Options shared by the coding commands.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use neco_core::Limits;

use crate::backend::BackendChoice;
use crate::codec::tiling::TILE;
use crate::codec::Codec;
use crate::io::sequence::Sequence;
use crate::model::cpu::Precision;
use crate::model::released::{find_in_dir, released};
use crate::model::weights::WeightsFile;

/// Model and backend selection.
#[derive(Debug, Args, Clone)]
pub struct ModelArgs {
    /// Weights file (default: the weights built into neco). To decode, a folder
    /// also works: the .nwt file in it that made the stream is used.
    #[arg(long, global = true)]
    pub weights: Option<PathBuf>,
    /// Backend for the neural transforms (coding is identical on all of them).
    #[arg(long, value_enum, default_value_t, global = true)]
    pub backend: BackendChoice,
    /// Side of the tiles the transforms run in, in latents of 16 pixels (1024 pixels
    /// by default). Larger tiles use more memory and make fewer passes: on a GPU, a
    /// tile as large as the picture spares per-tile transfers. Output differs only by
    /// float rounding.
    #[arg(long, value_name = "LATENTS", default_value_t = TILE as u16, global = true,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub tile: u16,
    /// Arithmetic of the wide layers of g_s when decoding on the CPU: f32, or bf16
    /// (bf16 operands, f32 sums; on CPUs with AVX-512 BF16, f32 elsewhere). The
    /// latents, and so the streams, are the same either way; only the decoded pixels'
    /// rounding differs.
    #[arg(long, default_value_t = Precision::F32, global = true)]
    pub precision: Precision,
}

impl ModelArgs {
    /// Parse the chosen weights.
    pub fn weights_file(&self) -> anyhow::Result<WeightsFile> {
        match &self.weights {
            Some(path) => WeightsFile::read(path),
            None => WeightsFile::built_in(),
        }
    }

    /// The codec for `weights` on the chosen backend, with the chosen tiles.
    pub fn codec_with(&self, weights: &WeightsFile) -> anyhow::Result<Codec> {
        Ok(self
            .backend
            .codec(weights)?
            .with_tile(self.tile.into())
            .with_precision(self.precision))
    }

    /// Load the codec.
    pub fn codec(&self) -> anyhow::Result<Codec> {
        if let Some(dir) = self.weights.as_ref().filter(|p| p.is_dir()) {
            anyhow::bail!(
                "--weights {} is a folder: a folder of weights is searched when decoding; \
                 here give a weights file",
                dir.display()
            );
        }
        self.codec_with(&self.weights_file()?)
    }

    /// Load the codec for decoding a stream made with weights of hash `sha256`:
    /// `--weights FILE`, the .nwt file with that hash in `--weights FOLDER`, or the
    /// built-in weights. Without `--weights`, a stream made with an earlier default
    /// is refused with where to get that file.
    pub fn codec_for(&self, name: &str, sha256: &[u8; 32]) -> anyhow::Result<Codec> {
        let hint = || {
            released(sha256).map_or(String::new(), |r| {
                format!("; it was made with {}", r.how_to_get())
            })
        };
        let file = match &self.weights {
            Some(dir) if dir.is_dir() => match find_in_dir(dir, sha256)? {
                Some((path, bytes)) => WeightsFile::parse(&bytes)
                    .with_context(|| format!("loading weights {}", path.display()))?,
                None => anyhow::bail!(
                    "{name}: no .nwt file in {} has the stream's weights (sha256 {}){}",
                    dir.display(),
                    neco_core::hex(sha256),
                    hint()
                ),
            },
            Some(path) => WeightsFile::read(path)?,
            None => {
                let built_in = WeightsFile::built_in()?;
                if built_in.sha256 != *sha256 {
                    if let Some(r) = released(sha256) {
                        anyhow::bail!(
                            "{name} was made with {}; pass that file (or a folder holding it) \
                             with --weights",
                            r.how_to_get()
                        );
                    }
                }
                built_in
            }
        };
        self.codec_with(&file)
    }
}

/// Limits on untrusted input.
#[derive(Debug, Args, Clone)]
pub struct LimitArgs {
    /// Largest image (width × height) accepted, in pixels.
    #[arg(long, default_value_t = Limits::default().max_pixels)]
    pub max_pixels: u64,
    /// Largest input file read (a .neco stream or a source image), in bytes.
    #[arg(long, default_value_t = Limits::default().max_input_bytes)]
    pub max_input_bytes: u64,
}

impl LimitArgs {
    /// The limits to parse streams with.
    pub fn limits(&self) -> Limits {
        Limits {
            max_pixels: self.max_pixels,
            max_input_bytes: self.max_input_bytes,
            ..Limits::default()
        }
    }
}

/// A reader that can also seek (what a video stream is read through).
pub trait ReadSeek: std::io::Read + std::io::Seek {}
impl<T: std::io::Read + std::io::Seek> ReadSeek for T {}

/// A `.neco` input, told apart before it is read whole.
pub enum StreamInput {
    /// A video stream, read group by group, and its size in bytes.
    Video(Box<dyn ReadSeek>, u64),
    /// The bytes of any other input (an image stream, or not a stream at all).
    Bytes(Vec<u8>),
}

/// Opens `path` (`-`: standard input, read whole first, since a video stream needs to
/// seek) as a video stream or reads it whole, at most `max_bytes`.
pub fn open_stream(path: &std::path::Path, max_bytes: u64) -> anyhow::Result<StreamInput> {
    use crate::io::image_io::read_input;
    use neco_core::container::video::is_video;
    if path.as_os_str() == "-" {
        let data = read_input(path, max_bytes)?;
        if is_video(&mut std::io::Cursor::new(&data)) {
            let size = data.len() as u64;
            return Ok(StreamInput::Video(
                Box::new(std::io::Cursor::new(data)),
                size,
            ));
        }
        return Ok(StreamInput::Bytes(data));
    }
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    if is_video(&mut file) {
        let size = file.metadata()?.len();
        return Ok(StreamInput::Video(Box::new(file), size));
    }
    Ok(StreamInput::Bytes(read_input(path, max_bytes)?))
}

/// Write `bytes` to `path` atomically (`-` = standard output).
pub fn write_output(path: &std::path::Path, bytes: &[u8], overwrite: bool) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        out.flush()?;
        return Ok(());
    }
    neco_core::container::write_atomic(path, bytes, overwrite).map_err(|e| match e {
        neco_core::NecoError::Io(io) if io.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow::anyhow!("{} already exists (pass -y to overwrite)", path.display())
        }
        e => anyhow::Error::new(e).context(format!("writing {}", path.display())),
    })
}

/// Refuse early (before doing any work) when the output exists and may not be
/// overwritten, is a folder, or is one of the command's `inputs` (which `-y` does not
/// allow: the input would be gone).
pub fn check_output(
    path: &std::path::Path,
    inputs: &[&std::path::Path],
    overwrite: bool,
) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        use std::io::IsTerminal;
        // Binary on a terminal is noise at best, and can leave the terminal garbled.
        anyhow::ensure!(
            !std::io::stdout().is_terminal(),
            "-o - writes binary data to standard output, which is a terminal: redirect it (> FILE, | COMMAND) or name a file"
        );
        return Ok(());
    }
    let same_file = |a: &std::path::Path, b: &std::path::Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    // A frame of a numbered sequence (frames/%04d.png), on either side.
    let a_frame = |a: &std::path::Path, b: &std::path::Path| {
        Sequence::parse(a).is_some_and(|s| s.matches(b))
            || Sequence::parse(b).is_some_and(|s| s.matches(a))
    };
    // Where the output really goes: through a symbolic link, which writes follow.
    let resolved = path.canonicalize().ok();
    for input in inputs.iter().filter(|i| i.as_os_str() != "-") {
        if same_file(input, path) {
            anyhow::bail!(
                "{} is the input: writing the output there would destroy it (choose another -o)",
                path.display()
            );
        }
        if a_frame(input, path) || resolved.as_deref().is_some_and(|r| a_frame(input, r)) {
            anyhow::bail!(
                "{} and the input {} name the same files: writing the output there would destroy the input (choose another -o)",
                path.display(),
                input.display()
            );
        }
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            anyhow::bail!("{} is a folder: name a file to write", path.display())
        }
        // A device or FIFO (`-o /dev/null`) is written into: nothing there to keep.
        Ok(m) if !m.is_file() => {}
        _ if !overwrite && std::fs::symlink_metadata(path).is_ok() => {
            anyhow::bail!("{} already exists (pass -y to overwrite)", path.display())
        }
        _ => {}
    }
    Ok(())
}

/// Print a JSON summary on standard output, or on standard error when `output` is
/// `-` (standard output then carries the file itself).
pub fn print_json(summary: &serde_json::Value, output: &std::path::Path) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(summary)?;
    if output.as_os_str() == "-" {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
    Ok(())
}
