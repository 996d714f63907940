//! `neco encode`: image → .neco.

use std::path::PathBuf;

use clap::Args;

use super::common::{check_output, print_json, write_output, LimitArgs, ModelArgs};
use crate::codec::Timings;
use crate::io::image_io::read_source;

/// Arguments of `neco encode`.
#[derive(Debug, Args)]
pub struct EncodeCmd {
    /// Input image (PNG, JPEG, PPM); `-` reads standard input.
    input: PathBuf,
    /// Output .neco file; `-` writes standard output.
    #[arg(short, long)]
    output: PathBuf,
    /// Quality 0..=100 (50 is the rate the weights were trained for).
    #[arg(short, long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    quality: u8,
    /// Instead of a quality: the largest size wanted, in bits per pixel; neco picks
    /// the highest quality whose file is at most this.
    #[arg(long, conflicts_with = "quality")]
    bpp: Option<f64>,
    /// Overwrite the output if it exists.
    #[arg(short = 'y', long)]
    force: bool,
    /// Print the time spent in each stage.
    #[arg(long)]
    timings: bool,
    /// Print a JSON summary on standard output (stderr when the stream goes to stdout).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

impl EncodeCmd {
    /// Run the command.
    pub fn run(&self) -> anyhow::Result<()> {
        check_output(&self.output, self.force)?;
        let src = read_source(&self.input, &self.limits.limits())?;
        for w in &src.warnings {
            eprintln!("neco: warning: {w}");
        }
        let codec = self.model.codec()?;
        let mut t = Timings::default();
        let (stream, quality) = match self.bpp {
            Some(target) => codec.encode_to_bpp(&src, target, &mut t)?,
            None => (codec.encode(&src, self.quality, &mut t)?, self.quality),
        };
        let bytes = stream.to_bytes()?;
        write_output(&self.output, &bytes, self.force)?;
        let pixels = src.width as f64 * src.height as f64;
        let bpp = bytes.len() as f64 * 8.0 / pixels;
        let summary = serde_json::json!({
            "input": self.input, "output": self.output, "width": src.width, "height": src.height,
            "quality": quality, "target_bpp": self.bpp, "bytes": bytes.len(), "bpp": bpp, "timings": t,
        });
        if self.json {
            print_json(&summary, &self.output)?;
        } else {
            eprintln!(
                "{} {}x{} -> {} {} bytes, {:.4} bpp (q={})",
                self.input.display(),
                src.width,
                src.height,
                self.output.display(),
                bytes.len(),
                bpp,
                quality
            );
            if self.timings {
                eprintln!(
                    "timings: analysis (g_a+h_a) {:.1} ms, parameter path {:.1} ms, entropy coding {:.1} ms",
                    t.analysis_ms, t.params_ms, t.entropy_ms
                );
            }
        }
        Ok(())
    }
}
