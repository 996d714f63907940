//! `neco decode`: .neco → image.

use std::path::PathBuf;

use clap::Args;
use neco_core::container::ImageStream;

use super::common::{check_output, print_json, write_output, LimitArgs, ModelArgs};
use crate::codec::Timings;
use crate::eval::metrics::psnr_rgb8;
use crate::io::image_io::{encode_output, read_input, read_source, OutputFormat};

/// Arguments of `neco decode`.
#[derive(Debug, Args)]
pub struct DecodeCmd {
    /// Input .neco file; `-` reads standard input.
    input: PathBuf,
    /// Output image (.png, .jpg, .ppm by extension); `-` writes PNG to standard output.
    #[arg(short, long)]
    output: PathBuf,
    /// Overwrite the output if it exists.
    #[arg(short = 'y', long)]
    force: bool,
    /// Original image to compare with: prints PSNR.
    #[arg(long)]
    compare: Option<PathBuf>,
    /// Print the time spent in each stage.
    #[arg(long)]
    timings: bool,
    /// Print a JSON summary (on stderr when the image goes to stdout).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

impl DecodeCmd {
    /// Run the command.
    pub fn run(&self) -> anyhow::Result<()> {
        check_output(&self.output, self.force)?;
        let format = OutputFormat::from_path(&self.output)?;
        let data = read_input(&self.input, self.limits.max_input_bytes)?;
        let stream = ImageStream::from_bytes(&data, &self.limits.limits())
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.input.display()))?;
        let codec = self.model.codec()?;
        let mut t = Timings::default();
        let img = codec
            .decode(&stream, &mut t)
            .map_err(|e| anyhow::anyhow!("{}: {e:#}", self.input.display()))?;
        let psnr = match &self.compare {
            Some(path) => {
                let orig = read_source(path, &self.limits.limits())?;
                anyhow::ensure!(
                    (orig.width, orig.height) == (img.width, img.height),
                    "{} is {}x{}, the decoded image is {}x{}",
                    path.display(),
                    orig.width,
                    orig.height,
                    img.width,
                    img.height
                );
                Some(psnr_rgb8(&orig.rgb, &img.rgb))
            }
            None => None,
        };
        let (width, height) = (img.width, img.height);
        let (bytes, warnings) =
            encode_output(width, height, img.rgb, img.alpha.as_deref(), format)?;
        for w in warnings {
            eprintln!("neco: warning: {w}");
        }
        write_output(&self.output, &bytes, self.force)?;
        let bpp = data.len() as f64 * 8.0 / (width as f64 * height as f64);
        if self.json {
            let summary = serde_json::json!({
                "input": self.input, "output": self.output, "width": width, "height": height,
                "bytes": data.len(), "bpp": bpp, "psnr": psnr, "timings": t,
            });
            return print_json(&summary, &self.output);
        }
        let mut line = format!(
            "{} -> {} {}x{}, {:.4} bpp",
            self.input.display(),
            self.output.display(),
            width,
            height,
            bpp
        );
        if let Some(p) = psnr {
            line += &format!(", PSNR {p:.2} dB");
        }
        eprintln!("{line}");
        if self.timings {
            eprintln!(
                "timings: entropy decoding {:.1} ms, parameter path {:.1} ms, synthesis (g_s) {:.1} ms",
                t.entropy_ms, t.params_ms, t.synthesis_ms
            );
        }
        Ok(())
    }
}
