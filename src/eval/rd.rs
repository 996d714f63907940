//! Rate–distortion runs: every codec at every setting on every image, averaged per
//! setting as CompressAI reports it (per-image bpp, PSNR and MS-SSIM, then the mean).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::bd::{self, RdSample};
use super::codecs::{RdCodec, RgbImage};
use super::metrics::psnr_rgb8;
use super::msssim::{ms_ssim_db, ms_ssim_u8};
use crate::io::image_io::read_source;
use neco_core::Limits;

/// Below this quality-overlap fraction (of the narrower curve's range) a BD number is
/// flagged as unreliable.
pub const LOW_OVERLAP: f64 = 0.25;

/// PSNR of a lossless reconstruction, so averages stay finite.
pub const PSNR_CAP_DB: f64 = 100.0;

/// One codec at one setting on one image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    /// Codec name.
    pub codec: String,
    /// Codec setting (q, or QP for HEVC).
    pub setting: u32,
    /// Image file name.
    pub image: String,
    /// Coded size in bytes.
    pub bytes: usize,
    /// Bits per pixel.
    pub bpp: f64,
    /// PSNR on RGB in dB (capped at [`PSNR_CAP_DB`]).
    pub psnr: f64,
    /// MS-SSIM on RGB, when the image is large enough.
    pub ms_ssim: Option<f64>,
    /// Encode wall time in ms.
    pub encode_ms: f64,
    /// Decode wall time in ms.
    pub decode_ms: f64,
}

/// A curve point: one setting averaged over the images.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Point {
    /// Codec setting (absent for published curves).
    pub setting: Option<u32>,
    /// Images averaged.
    pub images: usize,
    /// Mean bits per pixel.
    pub bpp: f64,
    /// Mean PSNR (dB).
    pub psnr: Option<f64>,
    /// Mean MS-SSIM.
    pub ms_ssim: Option<f64>,
    /// Mean MS-SSIM in dB, `-10·log10(1 − mean MS-SSIM)`.
    pub ms_ssim_db: Option<f64>,
    /// Mean encode time (ms).
    pub encode_ms: Option<f64>,
    /// Mean decode time (ms).
    pub decode_ms: Option<f64>,
}

/// A rate–distortion curve.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Curve {
    /// Short name (`neco`, `jpeg`, a reference's file stem, ...).
    pub name: String,
    /// Legend text.
    pub label: String,
    /// `measured` in this run, or `reference` (published numbers loaded from a file).
    pub kind: String,
    /// Points in setting order.
    pub points: Vec<Point>,
}

/// The quality axes curves are compared on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// PSNR in dB.
    Psnr,
    /// MS-SSIM in dB.
    MsSsimDb,
}

impl Metric {
    /// Key in JSON output.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Psnr => "psnr",
            Metric::MsSsimDb => "ms_ssim_db",
        }
    }

    /// Axis title.
    pub fn title(self) -> &'static str {
        match self {
            Metric::Psnr => "PSNR (dB, RGB)",
            Metric::MsSsimDb => "MS-SSIM (dB, RGB)",
        }
    }

    /// The point's value on this axis.
    pub fn of(self, p: &Point) -> Option<f64> {
        match self {
            Metric::Psnr => p.psnr,
            Metric::MsSsimDb => p.ms_ssim_db,
        }
    }
}

/// A BD-rate / BD-quality comparison of two curves.
#[derive(Debug, Clone, Serialize)]
pub struct BdComparison {
    /// Curve under test.
    pub test: String,
    /// Anchor curve.
    pub anchor: String,
    /// `psnr` or `ms_ssim_db`.
    pub metric: String,
    /// BD-rate in percent (negative: the test saves bits).
    pub bd_rate_percent: Option<f64>,
    /// BD-quality in dB (positive: the test is better).
    pub bd_quality_db: Option<f64>,
    /// Quality range (dB) both curves cover, over which BD-rate averages.
    pub overlap_db: Option<[f64; 2]>,
    /// Rate range (bpp) both curves cover, over which BD-quality averages.
    pub overlap_bpp: Option<[f64; 2]>,
    /// The quality overlap as a fraction of the narrower curve's quality range; BD
    /// numbers from a small overlap (under [`LOW_OVERLAP`]) describe only a sliver of
    /// the curves.
    pub overlap_fraction: Option<f64>,
    /// Why the numbers are missing.
    pub error: Option<String>,
}

/// Read every image once before any coding, so a bad file fails the run at once.
pub fn check_images(paths: &[PathBuf], limits: &Limits) -> anyhow::Result<()> {
    for path in paths {
        load_image(path, limits)?;
    }
    Ok(())
}

/// Load an image as 8-bit RGB (alpha, if any, is not measured).
pub fn load_image(path: &Path, limits: &Limits) -> anyhow::Result<RgbImage> {
    let src = read_source(path, limits).with_context(|| format!("reading {}", path.display()))?;
    Ok(RgbImage {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        width: src.width,
        height: src.height,
        rgb: src.rgb,
    })
}

/// Code `img` with `codec` at `setting` and measure the result.
pub fn measure(codec: &dyn RdCodec, img: &RgbImage, setting: u32) -> anyhow::Result<Sample> {
    let start = Instant::now();
    let bytes = codec.encode(img, setting)?;
    let encode_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = Instant::now();
    let rgb = codec.decode(&bytes, img, setting)?;
    let decode_ms = start.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(
        rgb.len() == img.rgb.len(),
        "{} at {setting} decoded {} to the wrong size",
        codec.name(),
        img.name
    );
    let pixels = img.width as f64 * img.height as f64;
    Ok(Sample {
        codec: codec.name().to_string(),
        setting,
        image: img.name.clone(),
        bytes: bytes.len(),
        bpp: bytes.len() as f64 * 8.0 / pixels,
        psnr: psnr_rgb8(&img.rgb, &rgb).min(PSNR_CAP_DB),
        ms_ssim: ms_ssim_u8(&img.rgb, &rgb, img.width as usize, img.height as usize, 3),
        encode_ms,
        decode_ms,
    })
}

/// Average the samples of `codec` per setting, in the codec's setting order.
pub fn curve(codec: &dyn RdCodec, samples: &[Sample]) -> Curve {
    let points = codec
        .settings()
        .iter()
        .filter_map(|&setting| {
            let s: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.codec == codec.name() && s.setting == setting)
                .collect();
            if s.is_empty() {
                return None;
            }
            let n = s.len() as f64;
            let mean = |f: &dyn Fn(&Sample) -> f64| s.iter().map(|x| f(x)).sum::<f64>() / n;
            let ms_ssim = s
                .iter()
                .map(|x| x.ms_ssim)
                .sum::<Option<f64>>()
                .map(|total| total / n);
            Some(Point {
                setting: Some(setting),
                images: s.len(),
                bpp: mean(&|x| x.bpp),
                psnr: Some(mean(&|x| x.psnr)),
                ms_ssim,
                ms_ssim_db: ms_ssim.map(ms_ssim_db),
                encode_ms: Some(mean(&|x| x.encode_ms)),
                decode_ms: Some(mean(&|x| x.decode_ms)),
            })
        })
        .collect();
    Curve {
        name: codec.name().to_string(),
        label: codec.label(),
        kind: "measured".into(),
        points,
    }
}

/// `curve` in CompressAI's JSON layout (what [`load_reference`] reads), so that a
/// measured curve — say, of other weights — can be the `--reference` of a later run.
pub fn reference_json(curve: &Curve, description: &str) -> serde_json::Value {
    let values =
        |f: fn(&Point) -> Option<f64>| -> Option<Vec<f64>> { curve.points.iter().map(f).collect() };
    serde_json::json!({
        "name": curve.label,
        "description": description,
        "results": {
            "bpp": curve.points.iter().map(|p| p.bpp).collect::<Vec<_>>(),
            "psnr-rgb": values(|p| p.psnr),
            "ms-ssim-rgb": values(|p| p.ms_ssim),
        }
    })
}

/// A published curve (named `ref-<file stem>`) in CompressAI's JSON layout: `{"name", "results": {"bpp": [...],
/// "psnr-rgb": [...], "ms-ssim-rgb": [...]}}` (or `"ms-ssim-db-rgb"`).
pub fn load_reference(path: &Path) -> anyhow::Result<Curve> {
    #[derive(Deserialize)]
    struct File {
        name: Option<String>,
        results: Results,
    }
    #[derive(Deserialize)]
    struct Results {
        bpp: Vec<f64>,
        #[serde(rename = "psnr-rgb")]
        psnr: Option<Vec<f64>>,
        #[serde(rename = "ms-ssim-rgb")]
        ms_ssim: Option<Vec<f64>>,
        #[serde(rename = "ms-ssim-db-rgb")]
        ms_ssim_db: Option<Vec<f64>>,
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading reference curve {}", path.display()))?;
    let file: File = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a CompressAI-style results file ({{\"results\": {{\"bpp\": [...], \"psnr-rgb\": [...]}}}})",
            path.display()
        )
    })?;
    let r = file.results;
    let n = r.bpp.len();
    for (what, v) in [
        ("psnr-rgb", &r.psnr),
        ("ms-ssim-rgb", &r.ms_ssim),
        ("ms-ssim-db-rgb", &r.ms_ssim_db),
    ] {
        if let Some(v) = v {
            anyhow::ensure!(
                v.len() == n,
                "{}: {what} has {} values for {n} rates",
                path.display(),
                v.len()
            );
        }
    }
    let points = (0..n)
        .map(|i| {
            let ms_ssim = r.ms_ssim.as_ref().map(|v| v[i]);
            let ms_db = r
                .ms_ssim_db
                .as_ref()
                .map(|v| v[i])
                .or(ms_ssim.map(ms_ssim_db));
            Point {
                setting: None,
                images: 0,
                bpp: r.bpp[i],
                psnr: r.psnr.as_ref().map(|v| v[i]),
                ms_ssim,
                ms_ssim_db: ms_db,
                encode_ms: None,
                decode_ms: None,
            }
        })
        .collect();
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "reference".into());
    Ok(Curve {
        label: format!("{} (reference)", file.name.as_deref().unwrap_or(&stem)),
        name: format!("ref-{stem}"),
        kind: "reference".into(),
        points,
    })
}

/// BD-rate and BD-quality of `test` against `anchor` on `metric`.
pub fn compare(test: &Curve, anchor: &Curve, metric: Metric) -> BdComparison {
    let samples = |c: &Curve| -> Vec<RdSample> {
        c.points
            .iter()
            .filter_map(|p| {
                metric.of(p).map(|q| RdSample {
                    bpp: p.bpp,
                    quality: q,
                })
            })
            .filter(|s| s.quality.is_finite())
            .collect()
    };
    let (a, t) = (samples(anchor), samples(test));
    let mut out = BdComparison {
        test: test.name.clone(),
        anchor: anchor.name.clone(),
        metric: metric.key().into(),
        bd_rate_percent: None,
        bd_quality_db: None,
        overlap_db: None,
        overlap_bpp: None,
        overlap_fraction: None,
        error: None,
    };
    for (c, pts) in [(anchor, &a), (test, &t)] {
        if pts.len() < 2 {
            out.error = Some(format!(
                "{} has {} {} point(s); BD needs two or more",
                c.name,
                pts.len(),
                metric.key()
            ));
            return out;
        }
    }
    let mut errors = Vec::new();
    match bd::bd_rate(&a, &t) {
        Ok((rate, range)) => {
            out.bd_rate_percent = Some(rate);
            out.overlap_db = Some(range);
            let span = |c: &[RdSample]| {
                let q = c.iter().map(|s| s.quality);
                q.clone().fold(f64::NEG_INFINITY, f64::max) - q.fold(f64::INFINITY, f64::min)
            };
            out.overlap_fraction = Some((range[1] - range[0]) / span(&a).min(span(&t)));
        }
        Err(e) => errors.push(format!("BD-rate: {e}")),
    }
    match bd::bd_quality(&a, &t) {
        Ok((quality, range)) => {
            out.bd_quality_db = Some(quality);
            out.overlap_bpp = Some(range);
        }
        Err(e) => errors.push(format!("BD-quality: {e}")),
    }
    if !errors.is_empty() {
        out.error = Some(errors.join("; "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(name: &str, pts: &[(f64, f64)]) -> Curve {
        Curve {
            name: name.into(),
            label: name.into(),
            kind: "measured".into(),
            points: pts
                .iter()
                .map(|&(bpp, psnr)| Point {
                    setting: None,
                    images: 1,
                    bpp,
                    psnr: Some(psnr),
                    ms_ssim: None,
                    ms_ssim_db: None,
                    encode_ms: None,
                    decode_ms: None,
                })
                .collect(),
        }
    }

    #[test]
    fn compare_reports_overlap_and_missing_data() {
        let anchor = curve("a", &[(0.1, 26.0), (0.5, 32.0), (1.0, 36.0)]);
        let test = curve("t", &[(0.2, 31.0), (0.4, 35.0)]);
        let c = compare(&test, &anchor, Metric::Psnr);
        assert!(c.bd_rate_percent.unwrap() < 0.0 && c.bd_quality_db.unwrap() > 0.0);
        assert_eq!(c.overlap_db, Some([31.0, 35.0]));
        // The test curve (4 dB wide) lies inside the anchor: full overlap.
        assert_eq!(c.overlap_fraction, Some(1.0));

        let sliver = curve("s", &[(0.9, 35.5), (2.0, 40.0)]);
        let c = compare(&sliver, &anchor, Metric::Psnr);
        assert!((c.overlap_fraction.unwrap() - 0.5 / 4.5).abs() < 1e-12);
        assert!(c.overlap_fraction.unwrap() < LOW_OVERLAP);

        let c = compare(&test, &anchor, Metric::MsSsimDb);
        assert_eq!(c.bd_rate_percent, None);
        assert_eq!(
            c.error.as_deref(),
            Some("a has 0 ms_ssim_db point(s); BD needs two or more")
        );
    }

    #[test]
    fn published_curves_load_from_compressai_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("codec-x.json");
        std::fs::write(
            &path,
            r#"{"name": "X", "results": {"bpp": [0.1, 0.5], "psnr-rgb": [28.0, 33.0],
                "ms-ssim-rgb": [0.9, 0.99]}}"#,
        )
        .unwrap();
        let c = load_reference(&path).unwrap();
        assert_eq!(
            (c.name.as_str(), c.kind.as_str()),
            ("ref-codec-x", "reference")
        );
        assert_eq!(c.points[1].psnr, Some(33.0));
        assert!((c.points[1].ms_ssim_db.unwrap() - 20.0).abs() < 1e-9);

        std::fs::write(
            &path,
            r#"{"results": {"bpp": [0.1, 0.5], "psnr-rgb": [28.0]}}"#,
        )
        .unwrap();
        let err = load_reference(&path).unwrap_err().to_string();
        assert!(err.contains("psnr-rgb has 1 values for 2 rates"), "{err}");
        std::fs::write(&path, "[1, 2]").unwrap();
        let err = format!("{:#}", load_reference(&path).unwrap_err());
        assert!(err.contains("CompressAI-style"), "{err}");
    }

    #[test]
    fn measured_curves_write_as_references() {
        let point = |bpp, psnr, ms_ssim| Point {
            setting: Some(50),
            images: 3,
            bpp,
            psnr: Some(psnr),
            ms_ssim: Some(ms_ssim),
            ms_ssim_db: Some(ms_ssim_db(ms_ssim)),
            encode_ms: Some(1.0),
            decode_ms: Some(1.0),
        };
        let curve = Curve {
            name: "neco".into(),
            label: "neco m".into(),
            kind: "measured".into(),
            points: vec![point(0.2, 27.0, 0.9), point(0.6, 30.0, 0.95)],
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("neco.json");
        let json = reference_json(&curve, "test run");
        std::fs::write(&path, serde_json::to_string(&json).unwrap()).unwrap();
        let back = load_reference(&path).unwrap();
        assert_eq!(back.label, "neco m (reference)");
        for (a, b) in curve.points.iter().zip(&back.points) {
            assert_eq!((a.bpp, a.psnr, a.ms_ssim), (b.bpp, b.psnr, b.ms_ssim));
            assert!((a.ms_ssim_db.unwrap() - b.ms_ssim_db.unwrap()).abs() < 1e-12);
        }
    }
}
