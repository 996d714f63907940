//! `neco rd`: rate–distortion curves of neco and its anchors on a data set, BD-rates,
//! plots and a report.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

mod video;

use super::common::{LimitArgs, ModelArgs};
use crate::eval::codecs::{self, AnchorOptions, NecoCodec, RdCodec};
use crate::eval::plot;
use crate::eval::rd::{self, Metric};
use crate::eval::report::{self, RdReport};
use crate::io::datasets::{list_clips, list_frames, list_images, resolve_dataset};
use crate::model::weights::WeightsFile;
use neco_core::hex;

/// Files an RD run writes into its output folder.
const OUTPUTS: [&str; 8] = [
    "rd.csv",
    "neco.json",
    "rd.json",
    "bd.json",
    "psnr.png",
    "psnr.svg",
    "msssim.png",
    "msssim.svg",
];

/// A target rate from the command line: positive and finite.
fn positive_bpp(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("a rate in bpp must be positive, got {v}"))
    }
}

/// A JPEG XL distance from the command line (0.01..=15), in hundredths.
fn jxl_distance(s: &str) -> Result<u32, String> {
    let d: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if (0.01..=15.0).contains(&d) {
        Ok((d * 100.0).round() as u32)
    } else {
        Err(format!("a JPEG XL distance must be in 0.01..=15, got {d}"))
    }
}

/// Arguments of `neco rd`.
#[derive(Debug, Args)]
pub struct RdCmd {
    /// Data set: a name from datasets.toml (kodak, valid, samples, ...) or a folder of images.
    #[arg(long, default_value = "kodak")]
    dataset: String,
    /// Anchors measured beside neco, comma-separated: jpeg, hevc (x265 intra 4:4:4, BPG's
    /// configuration), hevc420, avif (libaom allintra, 4:4:4, tune psnr, in an AVIF
    /// file), jxl (libjxl VarDCT), webp (libwebp lossy); `all` for every one, `none`
    /// for neco alone. The rate of avif, jxl, webp and jpeg is the whole file; of hevc
    /// the raw bitstream (as BPG stores it). Video data sets: hevc, hevc420, av1 (all).
    #[arg(long, value_delimiter = ',', default_value = "jpeg,hevc")]
    against: Vec<String>,
    /// Output folder (default: results/<data set name>).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Overwrite results already in the output folder.
    #[arg(short = 'y', long)]
    force: bool,
    /// neco qualities (0..100).
    #[arg(long, value_delimiter = ',', default_value = "10,30,50,70,90")]
    qualities: Vec<u32>,
    /// JPEG qualities (1..100).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "5,10,20,30,40,50,60,70,80,90,95"
    )]
    jpeg_qualities: Vec<u32>,
    /// HEVC QPs (0..51).
    #[arg(long, value_delimiter = ',', default_value = "22,27,32,37,42,47,51")]
    hevc_qps: Vec<u32>,
    /// x265 preset of the HEVC anchor (slow + tune psnr lands on the published BPG
    /// curve of Kodak; see docs/rd-kodak.md).
    #[arg(long, default_value = "slow", value_parser = [
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
        "veryslow", "placebo",
    ])]
    hevc_preset: String,
    /// x265 tune of the HEVC anchor; `none` for x265's default psycho-visual tuning.
    #[arg(long, default_value = "psnr", value_parser = [
        "none", "psnr", "ssim", "grain", "zerolatency", "fastdecode", "animation",
    ])]
    hevc_tune: String,
    /// AVIF anchor: libaom CRFs (0..63).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10,16,22,28,34,40,46,52,58,63"
    )]
    avif_crfs: Vec<u32>,
    /// AVIF anchor: libaom cpu-used (0 slowest .. 8; avifenc's default is 6).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(0..=8))]
    avif_speed: u8,
    /// Video data sets, AV1 anchor (`--against av1`): libaom CRFs (0..63).
    #[arg(long, value_delimiter = ',', default_value = "24,32,40,48,56,63")]
    av1_crfs: Vec<u32>,
    /// Video data sets, AV1 anchor: libaom cpu-used (0 slowest .. 8).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(0..=8))]
    av1_speed: u8,
    /// JPEG XL anchor: Butteraugli distances (0.01..15; 1.0 is cjxl's default).
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.75,1,1.5,2.5,4,6.5,10,15", value_parser = jxl_distance)]
    jxl_distances: Vec<u32>,
    /// JPEG XL anchor: libjxl effort (1 fastest .. 9; cjxl's default is 7).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u8).range(1..=9))]
    jxl_effort: u8,
    /// WebP anchor: libwebp qualities (0..100).
    #[arg(long, value_delimiter = ',', default_value = "5,15,30,45,60,75,85,95")]
    webp_qualities: Vec<u32>,
    /// WebP anchor: libwebp method (0 fastest .. 6; cwebp's default is 4).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(0..=6))]
    webp_method: u8,
    /// Published curve to overlay and compare with (CompressAI results JSON); repeatable.
    #[arg(long)]
    reference: Vec<PathBuf>,
    /// Use only the first N images (or clips, for a video data set).
    #[arg(long)]
    limit: Option<usize>,
    /// Video data sets: use at most the first N frames of each clip.
    #[arg(long)]
    max_frames: Option<usize>,
    /// Video data sets: neco's frames per group [default: 16].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    gop: Option<u16>,
    /// Also write a report here: Markdown (plots linked relative to it), or with a
    /// `.html` name one self-contained page with the plots, tables and a gallery of
    /// decoded pictures (images only). Repeatable: one run, both reports.
    #[arg(long)]
    report: Vec<PathBuf>,
    /// HTML report: the images of the gallery, by file name, comma-separated [default:
    /// every image of a set of at most 6, else the first 4].
    #[arg(long, value_delimiter = ',')]
    gallery: Vec<String>,
    /// HTML report: each codec is shown at its setting whose rate on the image is
    /// closest to this.
    #[arg(long, default_value_t = 0.5, value_parser = positive_bpp)]
    gallery_bpp: f64,
    /// HTML report: side of the centred crop shown of each image; 0 for the whole image.
    #[arg(long, default_value_t = 256)]
    gallery_crop: u32,
    /// Print neco's time per pipeline stage.
    #[arg(long)]
    timings: bool,
    /// Images: refine neco's latents with this many gradient steps before coding (as
    /// `neco encode --refine`); 0: off.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=1000))]
    refine: u16,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

impl RdCmd {
    /// Run the command.
    pub fn run(&self) -> anyhow::Result<()> {
        let start = std::time::Instant::now();
        let dir = resolve_dataset(&self.dataset)?;
        let out_dir = self.output.clone().unwrap_or_else(|| {
            let name = Path::new(&self.dataset)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "rd".into());
            PathBuf::from("results").join(name)
        });
        self.check_outputs(&out_dir)?;
        for report in &self.report {
            // `-y` overwrites earlier results, never what the run reads: the data
            // set's pictures (or clips' frames), the weights, the reference curves.
            let mut inputs: Vec<PathBuf> = match list_images(&dir) {
                Ok(images) => images,
                Err(_) => list_clips(&dir)?
                    .iter()
                    .filter_map(|c| list_frames(c).ok())
                    .flatten()
                    .collect(),
            };
            inputs.extend(self.model.weights.iter().cloned());
            inputs.extend(self.reference.iter().cloned());
            let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
            super::common::check_output(report, &inputs, true)?;
        }
        // Plots in the data set's folder would be measured as pictures by the next run,
        // and so would a folder of them among a video data set's clip folders.
        if let (Ok(data), Some(out)) = (dir.canonicalize(), absolute_existing_prefix(&out_dir)) {
            let clips = list_images(&dir).is_err();
            anyhow::ensure!(
                out != data && !(clips && out.starts_with(&data)),
                "the output folder {}{} is inside the data set {}: its results would join the data; write them elsewhere (-o)",
                out_dir.display(),
                if self.output.is_none() { " (the default)" } else { "" },
                dir.display()
            );
        }
        let ffmpeg = |a: &String| {
            let a = a.trim().to_ascii_lowercase();
            a == "all" || codecs::needs_ffmpeg(&a)
        };
        if self.against.iter().any(ffmpeg) {
            // Before any work: in `neco` this restarts the run in the FFmpeg helper.
            crate::ffmpeg_helper::require()?;
        }
        if list_images(&dir).is_err() {
            let clips = list_clips(&dir)?;
            if !clips.is_empty() {
                return self.run_video(&clips, &out_dir);
            }
        } else if let Some(clip) = list_clips(&dir)?.first() {
            eprintln!(
                "neco: warning: {} holds images, which are measured, and clip folders such as {}, which are not (a video data set is a folder of clip folders alone)",
                dir.display(),
                clip.display()
            );
        }

        for (set, option) in [
            (self.max_frames.is_some(), "--max-frames"),
            (self.gop.is_some(), "--gop"),
        ] {
            anyhow::ensure!(
                !set,
                "{option} is for video data sets; {} holds images",
                dir.display()
            );
        }
        let mut paths = list_images(&dir)?;
        if let Some(n) = self.limit {
            anyhow::ensure!(n > 0, "--limit must be at least 1");
            paths.truncate(n);
        }
        rd::check_images(&paths, &self.limits.limits())?;
        for name in &self.gallery {
            anyhow::ensure!(
                paths
                    .iter()
                    .any(|p| p.file_name().is_some_and(|f| f.to_string_lossy() == *name)),
                "--gallery {name}: no such image in the data set"
            );
        }
        anyhow::ensure!(
            self.gallery.is_empty() || self.html_report(),
            "--gallery is for an HTML report (--report X.html)"
        );
        let references = self
            .reference
            .iter()
            .map(|p| rd::load_reference(p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let weights = self.model.weights_file()?;
        let codecs = self.codecs(&weights)?;

        let jobs: usize = paths.len() * codecs.iter().map(|c| c.settings().len()).sum::<usize>();
        let bar = ProgressBar::new(jobs as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {pos}/{len} {msg} [{elapsed_precise}, eta {eta}]",
            )
            .expect("static template"),
        );
        // One untimed pass per codec first, so first-use costs (allocator growth,
        // lazy initialisation in Burn and FFmpeg) do not land on the first image.
        let first = rd::load_image(&paths[0], &self.limits.limits())?;
        for codec in &codecs {
            if let Some(&setting) = codec.settings().first() {
                rd::measure(codec.as_ref(), &first, setting)?;
            }
        }
        drop(first);
        let warmup = codecs[0].stage_timings().unwrap_or_default();
        let mut samples = Vec::new();
        // Codec by codec, so one codec's threads and caches do not slow the next
        // one's first image (images are re-read from disk, which costs little).
        for codec in &codecs {
            for path in &paths {
                let img = rd::load_image(path, &self.limits.limits())?;
                for &setting in codec.settings() {
                    bar.set_message(format!("{} {} {setting}", codec.name(), img.name));
                    samples.push(rd::measure(codec.as_ref(), &img, setting)?);
                    bar.inc(1);
                }
            }
        }
        bar.finish_and_clear();

        let mut curves: Vec<_> = codecs
            .iter()
            .map(|c| rd::curve(c.as_ref(), &samples))
            .collect();
        curves.extend(references);
        // neco against everything else, then each measured anchor against each
        // published curve (which shows whether the anchors are configured right).
        let metrics = [Metric::Psnr, Metric::MsSsimDb];
        let mut pairs: Vec<(usize, usize)> = (1..curves.len()).map(|a| (0, a)).collect();
        for t in 1..codecs.len() {
            pairs.extend((codecs.len()..curves.len()).map(|a| (t, a)));
        }
        let comparisons = pairs
            .into_iter()
            .flat_map(|(t, a)| metrics.map(|m| rd::compare(&curves[t], &curves[a], m)))
            .collect();
        let report = RdReport {
            command: std::iter::once("neco".to_string())
                .chain(std::env::args().skip(1))
                .collect::<Vec<_>>()
                .join(" "),
            dataset: dir.display().to_string(),
            images: paths
                .iter()
                .map(|p| {
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect(),
            threads: rayon::current_num_threads(),
            wall_seconds: start.elapsed().as_secs_f64(),
            model: weights.config.name.clone(),
            weights_sha256: hex(&weights.sha256),
            analysis_width: weights.config.analysis_width(),
            synthesis_width: weights.config.synthesis_width(),
            hyper_width: weights.config.hyper_width(),
            curves,
            samples,
            comparisons,
        };

        print!("{}", report::table(&report.curves));
        println!();
        print!("{}", report::bd_lines(&report.comparisons));
        if self.timings {
            if let Some(t) = codecs[0].stage_timings() {
                let n = (paths.len() * codecs[0].settings().len()).max(1) as f64;
                if self.refine > 0 {
                    println!(
                        "neco per image: refinement {:.1} ms (encode)",
                        (t.refine_ms - warmup.refine_ms) / n
                    );
                }
                println!(
                    "neco per image: analysis {:.1} ms, parameters {:.1} ms, entropy coding {:.1} ms, synthesis {:.1} ms (encode + decode)",
                    (t.analysis_ms - warmup.analysis_ms) / n,
                    (t.params_ms - warmup.params_ms) / n,
                    (t.entropy_ms - warmup.entropy_ms) / n,
                    (t.synthesis_ms - warmup.synthesis_ms) / n
                );
            }
        }
        let gallery = if self.html_report() {
            let names: Vec<&String> = if self.gallery.is_empty() {
                let n = if report.images.len() <= 6 { 6 } else { 4 };
                report.images.iter().take(n).collect()
            } else {
                self.gallery.iter().collect()
            };
            let mut out = Vec::new();
            for name in names {
                let path = paths
                    .iter()
                    .find(|p| p.file_name().is_some_and(|f| f.to_string_lossy() == **name))
                    .with_context(|| format!("--gallery {name}: no such image in the data set"))?;
                let img = rd::load_image(path, &self.limits.limits())?;
                out.push(crate::eval::html::gallery_image(
                    &codecs,
                    &report.samples,
                    &img,
                    self.gallery_bpp,
                    self.gallery_crop,
                )?);
            }
            out
        } else {
            Vec::new()
        };
        self.write_outputs(&out_dir, &report, &gallery)
    }

    /// Whether `--report` asks for an HTML page.
    fn html_report(&self) -> bool {
        self.report.iter().any(|p| is_html(p))
    }

    fn codecs(&self, weights: &WeightsFile) -> anyhow::Result<Vec<Box<dyn RdCodec>>> {
        let neco = NecoCodec::new(
            self.model
                .codec_with(weights)?
                .with_refine(self.refine.into())?,
            self.qualities.clone(),
            self.limits.limits(),
        )?;
        let mut list: Vec<Box<dyn RdCodec>> = vec![Box::new(neco)];
        let opts = AnchorOptions {
            jpeg_qualities: self.jpeg_qualities.clone(),
            hevc_qps: self.hevc_qps.clone(),
            hevc_preset: self.hevc_preset.clone(),
            hevc_tune: Some(self.hevc_tune.clone()).filter(|t| t != "none"),
            avif_crfs: self.avif_crfs.clone(),
            avif_speed: self.avif_speed,
            jxl_distances: self.jxl_distances.clone(),
            jxl_effort: self.jxl_effort,
            webp_qualities: self.webp_qualities.clone(),
            webp_method: self.webp_method,
        };
        let names: Vec<String> = self
            .against
            .iter()
            .map(|a| a.trim().to_ascii_lowercase())
            .flat_map(|a| match a.as_str() {
                "all" => codecs::ANCHORS.iter().map(|s| s.to_string()).collect(),
                _ => vec![a],
            })
            .collect();
        for name in names {
            if name == "none" || name.is_empty() {
                continue;
            }
            anyhow::ensure!(
                !list.iter().any(|c| c.name() == name),
                "{name} is listed twice in --against"
            );
            list.push(codecs::anchor(&name, &opts)?);
        }
        Ok(list)
    }

    /// neco's frames per group on video data sets.
    fn gop(&self) -> u16 {
        self.gop.unwrap_or(16)
    }

    /// Refuse to start when earlier results would be overwritten without `-y`.
    fn check_outputs(&self, out_dir: &Path) -> anyhow::Result<()> {
        if self.force {
            return Ok(());
        }
        let mut existing: Vec<PathBuf> = OUTPUTS
            .iter()
            .map(|f| out_dir.join(f))
            .filter(|p| p.exists())
            .collect();
        existing.extend(self.report.iter().filter(|p| p.exists()).cloned());
        if let Some(p) = existing.first() {
            anyhow::bail!(
                "{} already exists (and {} more result files); use -y to overwrite",
                p.display(),
                existing.len() - 1
            );
        }
        Ok(())
    }

    fn write_outputs(
        &self,
        out_dir: &Path,
        report: &RdReport,
        gallery: &[crate::eval::html::GalleryImage],
    ) -> anyhow::Result<()> {
        std::fs::create_dir_all(out_dir)
            .with_context(|| format!("creating {}", out_dir.display()))?;
        let write = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
            let path = out_dir.join(name);
            neco_core::container::write_atomic(&path, bytes, true)
                .with_context(|| format!("writing {}", path.display()))
        };
        write("rd.csv", report::csv(&report.curves).as_bytes())?;
        write("rd.json", serde_json::to_string_pretty(report)?.as_bytes())?;
        // neco's curve as a reference file, to compare other weights against later.
        let neco = rd::reference_json(
            &report.curves[0],
            &format!(
                "neco, model {} (weights sha256 {}), measured by: {}",
                report.model, report.weights_sha256, report.command
            ),
        );
        write("neco.json", serde_json::to_string_pretty(&neco)?.as_bytes())?;
        write(
            "bd.json",
            serde_json::to_string_pretty(&report::bd_json(report))?.as_bytes(),
        )?;
        let mut plots = Vec::new();
        let mut svgs = Vec::new();
        for (metric, stem, title) in [
            (Metric::Psnr, "psnr", "Rate–distortion (PSNR)"),
            (Metric::MsSsimDb, "msssim", "Rate–distortion (MS-SSIM)"),
        ] {
            if let Some((png, svg)) = plot::render(&report.curves, metric, title)? {
                write(&format!("{stem}.png"), &png)?;
                write(&format!("{stem}.svg"), svg.as_bytes())?;
                plots.push(format!("{stem}.png"));
                svgs.push((title.to_string(), svg));
            } else {
                // An earlier run's plot (`-y`) would show other data beside these results.
                for ext in ["png", "svg"] {
                    let _ = std::fs::remove_file(out_dir.join(format!("{stem}.{ext}")));
                }
            }
        }
        for path in &self.report {
            let base = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            std::fs::create_dir_all(base)
                .with_context(|| format!("creating {}", base.display()))?;
            let links: Vec<String> = plots
                .iter()
                .map(|p| relative(&out_dir.join(p), base))
                .collect();
            let text = if is_html(path) {
                crate::eval::html::page(report, &svgs, gallery, self.gallery_bpp)
            } else {
                report::markdown(report, &links)
            };
            neco_core::container::write_atomic(path, text.as_bytes(), true)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        eprintln!("results in {}", out_dir.display());
        Ok(())
    }
}

/// Whether a report path names an HTML page.
fn is_html(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"))
}

/// `target` as a link from a file in folder `base` (both existing): relative, with
/// `..` where needed, or absolute when they share no root.
fn relative(target: &Path, base: &Path) -> String {
    let (Ok(t), Ok(b)) = (target.canonicalize(), base.canonicalize()) else {
        return target.to_string_lossy().into_owned();
    };
    let (tc, bc): (Vec<_>, Vec<_>) = (t.components().collect(), b.components().collect());
    let common = tc.iter().zip(&bc).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return t.to_string_lossy().into_owned();
    }
    let mut rel = PathBuf::new();
    for _ in common..bc.len() {
        rel.push("..");
    }
    for c in &tc[common..] {
        rel.push(c);
    }
    rel.to_string_lossy().into_owned()
}

/// `path` made absolute through its deepest existing ancestor (canonicalized), with
/// the parts that do not exist yet appended: where a folder `create_dir_all` makes
/// would be.
fn absolute_existing_prefix(path: &Path) -> Option<PathBuf> {
    let mut rest = Vec::new();
    let mut p = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    loop {
        if let Ok(c) = p.canonicalize() {
            return Some(rest.into_iter().rev().fold(c, |acc, part| acc.join(part)));
        }
        rest.push(p.file_name()?.to_owned());
        p = p.parent()?.to_path_buf();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_links_are_relative_to_the_report() {
        let root = tempfile::tempdir().unwrap();
        let results = root.path().join("results/kodak");
        let docs = root.path().join("docs");
        std::fs::create_dir_all(&results).unwrap();
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(results.join("psnr.png"), b"").unwrap();
        let plot = results.join("psnr.png");
        assert_eq!(relative(&plot, &docs), "../results/kodak/psnr.png");
        assert_eq!(relative(&plot, root.path()), "results/kodak/psnr.png");
        assert_eq!(relative(&plot, &results), "psnr.png");
    }
}
