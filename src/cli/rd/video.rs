//! `neco rd` on a video data set: per-clip curves of neco's video pipeline and of
//! x265, BD-rate per clip.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::ProgressBar;

use super::RdCmd;
use crate::eval::video_rd::{clip_bd, measure_neco, Clip, ClipPoint};
use crate::ffmpeg_helper::{self, ClipHevc};

impl RdCmd {
    /// Measure every clip folder of `clips`; results go to `out_dir`.
    pub(super) fn run_video(&self, clips: &[PathBuf], out_dir: &Path) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.refine == 0,
            "--refine is for images, not video data sets"
        );
        anyhow::ensure!(
            !self.report.iter().any(|p| super::is_html(p)),
            "the HTML report (--report X.html) is for image data sets; a video data set's report is Markdown"
        );
        anyhow::ensure!(
            self.reference.is_empty(),
            "--reference (a published curve of images) is for image data sets, not video ones"
        );
        let start = std::time::Instant::now();
        let against: Vec<&str> = self
            .against
            .iter()
            .map(String::as_str)
            .flat_map(|a| match a {
                "all" => vec!["hevc", "hevc420", "av1"],
                _ => vec![a],
            })
            .filter(|a| *a != "none")
            .collect();
        for a in &against {
            anyhow::ensure!(
                crate::eval::codecs::is_hevc_anchor(a) || *a == "av1",
                "{a} is an image anchor; a video data set is compared with hevc, hevc420 or av1"
            );
        }
        let mut clips = clips.to_vec();
        if let Some(n) = self.limit {
            anyhow::ensure!(n > 0, "--limit must be at least 1");
            clips.truncate(n);
        }
        let limits = self.limits.limits();
        let loaded = clips
            .iter()
            .map(|c| Clip::load(c, self.max_frames, &limits))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let weights = self.model.weights_file()?;
        let codec = self.model.codec_with(&weights)?;
        let qualities = self
            .qualities
            .iter()
            .map(|&q| u8::try_from(q).ok().filter(|&q| q <= 100))
            .collect::<Option<Vec<u8>>>()
            .context("neco qualities must be 0..=100")?;

        // With a temporal prior, neco is measured with it and without (intra-only), to
        // show what it buys.
        let modes: &[bool] = if codec.entropy_model().temporal().is_some() {
            &[true, false]
        } else {
            &[false]
        };
        let settings_of = |a: &str| -> &[u32] {
            if a == "av1" {
                &self.av1_crfs
            } else {
                &self.hevc_qps
            }
        };
        let anchor_jobs: usize = against.iter().map(|a| settings_of(a).len()).sum();
        let jobs = loaded.len() * (modes.len() * qualities.len() + anchor_jobs);
        let bar = ProgressBar::new(jobs as u64);
        let mut points: Vec<ClipPoint> = Vec::new();
        for clip in &loaded {
            for &temporal in modes {
                for &q in &qualities {
                    let p = measure_neco(&codec, clip, q, self.gop(), temporal, &limits)?;
                    bar.set_message(format!("{} {} q={q}", clip.name, p.codec));
                    points.push(p);
                    bar.inc(1);
                }
            }
            for a in &against {
                for &setting in settings_of(a) {
                    if *a == "av1" {
                        bar.set_message(format!("{} av1 crf={setting}", clip.name));
                        points.push(self.measure_av1(clip, setting)?);
                    } else {
                        bar.set_message(format!("{} {a} qp={setting}", clip.name));
                        points.push(self.measure_hevc(clip, a, setting)?);
                    }
                    bar.inc(1);
                }
            }
        }
        bar.finish_and_clear();

        let mut table = String::from(
            "| clip | frames | codec | setting | bpp | PSNR (dB) | encode ms/frame | decode ms/frame |\n|---|---:|---|---:|---:|---:|---:|---:|\n",
        );
        for p in &points {
            let n = loaded
                .iter()
                .find(|c| c.name == p.clip)
                .map_or(1, |c| c.frames.len());
            writeln!(
                table,
                "| {} | {n} | {} | {} | {:.4} | {:.2} | {:.1} | {:.1} |",
                p.clip,
                p.codec,
                p.setting,
                p.bpp,
                p.psnr,
                p.encode_ms / n as f64,
                p.decode_ms / n as f64
            )?;
        }
        let mut bd = String::from(
            "| clip | codec | anchor | BD-rate (PSNR) | BD-PSNR | PSNR range both cover |\n|---|---|---|---:|---:|---|\n",
        );
        let mut bd_json = Vec::new();
        let neco = if modes.contains(&true) {
            "neco"
        } else {
            "neco-intra"
        };
        let mut pairs: Vec<(&str, &str)> = against.iter().map(|a| (neco, *a)).collect();
        if modes.len() == 2 {
            pairs.insert(0, ("neco", "neco-intra"));
            pairs.extend(against.iter().map(|a| ("neco-intra", *a)));
        }
        for (codec_name, a) in pairs {
            for clip in &loaded {
                match clip_bd(&points, &clip.name, a, codec_name) {
                    Ok((rate, psnr, [lo, hi])) => {
                        writeln!(
                            bd,
                            "| {} | {codec_name} | {a} | {rate:+.1} % | {psnr:+.2} dB | {lo:.2}–{hi:.2} dB |",
                            clip.name
                        )?;
                        bd_json.push(serde_json::json!({"clip": clip.name, "codec": codec_name, "anchor": a, "bd_rate_percent": rate, "bd_psnr_db": psnr, "psnr_range_db": [lo, hi]}));
                    }
                    Err(e) => writeln!(
                        bd,
                        "| {} | {codec_name} | {a} | — ({e}) | — | — |",
                        clip.name
                    )?,
                }
            }
        }
        print!("{table}\n{bd}");

        std::fs::create_dir_all(out_dir)
            .with_context(|| format!("creating {}", out_dir.display()))?;
        let mut csv = String::from("clip,codec,setting,bpp,psnr,encode_ms,decode_ms\n");
        for p in &points {
            writeln!(
                csv,
                "{},{},{},{:.6},{:.4},{:.1},{:.1}",
                p.clip, p.codec, p.setting, p.bpp, p.psnr, p.encode_ms, p.decode_ms
            )?;
        }
        let write = |name: &Path, bytes: &[u8]| -> anyhow::Result<()> {
            neco_core::container::write_atomic(name, bytes, true)
                .with_context(|| format!("writing {}", name.display()))
        };
        write(&out_dir.join("rd.csv"), csv.as_bytes())?;
        write(
            &out_dir.join("rd.json"),
            serde_json::to_string_pretty(&points)?.as_bytes(),
        )?;
        write(
            &out_dir.join("bd.json"),
            serde_json::to_string_pretty(&bd_json)?.as_bytes(),
        )?;
        for report in &self.report {
            let cmd = std::iter::once("neco".to_string())
                .chain(std::env::args().skip(1))
                .collect::<Vec<_>>()
                .join(" ");
            let text = format!(
                "# Video rate–distortion report\n\nRegenerated by:\n\n    {cmd}\n\n\
                 neco: the video pipeline, groups of {} frames, container included in the \
                 rate; `neco` codes every frame after a group's first with the temporal prior \
                 (entropy parameters that also see the previous frame's ŷ), `neco-intra` codes \
                 every frame intra. HEVC: libx265, preset {}, tune {}, fixed QP, x265's \
                 default GOP (random access: B-frames, keyframe interval 250), full-range \
                 BT.601 Y′CbCr ({}), raw bitstream.{} Rate: bits per pixel per frame. \
                 Quality: RGB PSNR per frame, averaged over the clip. Run time: {:.0} s.\n\n\
                 ## BD-rate per clip (negative = the codec needs fewer bits than the anchor at equal PSNR)\n\n{bd}\n\
                 ## All points\n\n{table}",
                self.gop(),
                self.hevc_preset,
                self.hevc_tune,
                against
                    .iter()
                    .filter(|a| **a != "av1")
                    .map(|a| if *a == "hevc" { "4:4:4" } else { "4:2:0" })
                    .collect::<Vec<_>>()
                    .join(", "),
                if against.contains(&"av1") {
                    format!(
                        " AV1: libaom, cpu-used {}, tune psnr, fixed CRF, libaom's default \
                         GOP for video (keyframe interval 250, alternate reference frames), \
                         full-range BT.601 Y′CbCr 4:4:4, raw bitstream.",
                        self.av1_speed
                    )
                } else {
                    String::new()
                },
                start.elapsed().as_secs_f64()
            );
            write(report, text.as_bytes())?;
        }
        eprintln!("results in {}", out_dir.display());
        Ok(())
    }

    fn measure_av1(&self, clip: &Clip, crf: u32) -> anyhow::Result<ClipPoint> {
        let crf = u8::try_from(crf)
            .ok()
            .filter(|&c| c <= 63)
            .context("AV1 CRFs must be 0..=63")?;
        (ffmpeg_helper::require()?.measure_av1_clip)(clip, crf, self.av1_speed)
    }

    fn measure_hevc(&self, clip: &Clip, anchor: &str, qp: u32) -> anyhow::Result<ClipPoint> {
        let qp = u8::try_from(qp)
            .ok()
            .filter(|&q| q <= 51)
            .context("HEVC QPs must be 0..=51")?;
        let settings = ClipHevc {
            anchor,
            qp,
            preset: &self.hevc_preset,
            tune: Some(self.hevc_tune.as_str()).filter(|t| *t != "none"),
        };
        (ffmpeg_helper::require()?.measure_hevc_clip)(clip, &settings)
    }
}
