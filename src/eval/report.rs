//! What an RD run writes: the console table, rd.csv, rd.json, bd.json and a Markdown
//! report.

use std::fmt::Write as _;

use serde::Serialize;

use super::rd::{BdComparison, Curve, Point, Sample, LOW_OVERLAP};

/// Everything an RD run produced.
#[derive(Debug, Serialize)]
pub struct RdReport {
    /// The command line that produced it.
    pub command: String,
    /// Data set folder.
    pub dataset: String,
    /// Image file names, in order.
    pub images: Vec<String>,
    /// Rayon worker threads (neco and the metrics run on them).
    pub threads: usize,
    /// Wall time of the whole run in seconds (loading, coding, metrics).
    pub wall_seconds: f64,
    /// Model name and weights hash of the neco curve.
    pub model: String,
    /// Weights sha256 (hex).
    pub weights_sha256: String,
    /// Channels of the hidden layers of the model's g_a, of its g_s, and of its h_s's
    /// first hidden layer (benches/peer builds its peer alike).
    pub analysis_width: usize,
    /// See `analysis_width`.
    pub synthesis_width: usize,
    /// See `analysis_width`.
    pub hyper_width: usize,
    /// Measured and published curves.
    pub curves: Vec<Curve>,
    /// Every measurement.
    pub samples: Vec<Sample>,
    /// BD numbers of neco against every other curve.
    pub comparisons: Vec<BdComparison>,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// A point's cells: setting, bpp, PSNR, MS-SSIM, MS-SSIM dB, encode ms, decode ms.
/// A point's cells of the averages table: setting, bpp, PSNR, MS-SSIM, MS-SSIM dB,
/// encode and decode ms.
pub(super) fn cells(p: &Point) -> [String; 7] {
    [
        p.setting.map_or("-".into(), |s| s.to_string()),
        format!("{:.4}", p.bpp),
        opt(p.psnr, 2),
        opt(p.ms_ssim, 4),
        opt(p.ms_ssim_db, 2),
        opt(p.encode_ms, 1),
        opt(p.decode_ms, 1),
    ]
}

/// The averaged table, one row per measured codec setting.
pub fn table(curves: &[Curve]) -> String {
    let mut out = format!(
        "{:<8} {:>7} {:>7} {:>8} {:>8} {:>9} {:>9} {:>9}\n",
        "codec", "setting", "bpp", "PSNR", "MS-SSIM", "MS-SSIM", "enc ms", "dec ms"
    );
    let _ = writeln!(
        out,
        "{:<8} {:>7} {:>7} {:>8} {:>8} {:>9} {:>9} {:>9}",
        "", "", "", "dB", "", "dB", "", ""
    );
    for c in curves.iter().filter(|c| c.kind == "measured") {
        for p in &c.points {
            let [setting, bpp, psnr, ms, ms_db, enc, dec] = cells(p);
            let _ = writeln!(
                out,
                "{:<8} {setting:>7} {bpp:>7} {psnr:>8} {ms:>8} {ms_db:>9} {enc:>9} {dec:>9}",
                c.name,
            );
        }
    }
    out
}

/// One line per BD comparison.
pub fn bd_lines(comparisons: &[BdComparison]) -> String {
    let mut out = String::new();
    for c in comparisons {
        let metric = if c.metric == "psnr" {
            "PSNR"
        } else {
            "MS-SSIM dB"
        };
        match (c.bd_rate_percent, c.bd_quality_db) {
            (Some(r), Some(q)) => {
                let flag = match c.overlap_fraction {
                    Some(f) if f < LOW_OVERLAP => format!(
                        " (the curves overlap on {:.0} % of the narrower one: unreliable)",
                        f * 100.0
                    ),
                    _ => String::new(),
                };
                let quality = if c.metric == "psnr" {
                    "PSNR"
                } else {
                    "MS-SSIM"
                };
                let _ = writeln!(
                    out,
                    "{} vs {} ({metric}): BD-rate {r:+.2} %, BD-{quality} {q:+.3} dB{flag}",
                    c.test, c.anchor
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{} vs {} ({metric}): {}",
                    c.test,
                    c.anchor,
                    c.error.as_deref().unwrap_or("not computed")
                );
            }
        }
    }
    out
}

/// rd.csv: the averaged points of every curve.
pub fn csv(curves: &[Curve]) -> String {
    let mut out = String::from(
        "codec,kind,setting,images,bpp,psnr_db,ms_ssim,ms_ssim_db,encode_ms,decode_ms\n",
    );
    let f = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
    for c in curves {
        for p in &c.points {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{}",
                c.name,
                c.kind,
                p.setting.map_or(String::new(), |s| s.to_string()),
                p.images,
                p.bpp,
                f(p.psnr),
                f(p.ms_ssim),
                f(p.ms_ssim_db),
                f(p.encode_ms),
                f(p.decode_ms)
            );
        }
    }
    out
}

/// bd.json: the comparisons alone.
pub fn bd_json(report: &RdReport) -> serde_json::Value {
    serde_json::json!({
        "method": "Bjøntegaard, PCHIP interpolation, exact integration over the overlap",
        "comparisons": report.comparisons,
    })
}

/// BD comparisons as a Markdown table.
fn bd_table<'a>(rows: impl Iterator<Item = &'a BdComparison>) -> String {
    let mut md = String::from(
        "| test | anchor | metric | BD-rate | BD-quality | quality overlap (dB) |\n|---|---|---|---:|---:|---|\n",
    );
    for c in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            c.test,
            c.anchor,
            c.metric,
            c.bd_rate_percent
                .map_or("n/a".into(), |v| format!("{v:+.2} %")),
            c.bd_quality_db
                .map_or("n/a".into(), |v| format!("{v:+.3} dB")),
            overlap_note(c)
        );
    }
    md
}

/// The overlap range, flagged when it is too small to mean much, or why there is none.
fn overlap_note(c: &BdComparison) -> String {
    match (c.overlap_db, &c.error) {
        (Some([lo, hi]), _) => {
            let frac = c.overlap_fraction.unwrap_or(1.0);
            if frac < LOW_OVERLAP {
                format!(
                    "{lo:.2}–{hi:.2} (only {:.0} % of the range: unreliable)",
                    frac * 100.0
                )
            } else {
                format!("{lo:.2}–{hi:.2}")
            }
        }
        (None, Some(e)) => e.clone(),
        (None, None) => "-".into(),
    }
}

/// A Markdown report: how it was made, the BD table, the averaged table and the plots
/// (`plots` are paths relative to the report).
pub fn markdown(report: &RdReport, plots: &[String]) -> String {
    let mut md = String::from("# Rate–distortion report\n\n");
    let _ = writeln!(
        md,
        "Regenerate with (in a checkout, `neco` is `cargo run --release --`):\n\n    {}\n",
        report.command
    );
    let _ = writeln!(
        md,
        "Data: {} ({} images). Model: {} (weights sha256 {}…). Run time: {:.0} s on {} \
         threads. Metrics are per image, then averaged; MS-SSIM dB is \
         −10·log10(1 − mean MS-SSIM); encode/decode ms are per image, in process.\n",
        report.dataset,
        report.images.len(),
        report.model,
        &report.weights_sha256[..16.min(report.weights_sha256.len())],
        report.wall_seconds,
        report.threads
    );
    md += "## BD-rate of neco (negative = fewer bits at equal quality)\n\n";
    md += &bd_table(report.comparisons.iter().filter(|c| c.test == "neco"));
    let calibration: Vec<_> = report
        .comparisons
        .iter()
        .filter(|c| c.test != "neco")
        .collect();
    if !calibration.is_empty() {
        md += "\n## Anchors against published curves\n\n";
        md += &bd_table(calibration.into_iter());
    }
    md += "\n## Averages\n\n";
    md +=
        "| codec | setting | bpp | PSNR (dB) | MS-SSIM | MS-SSIM (dB) | encode ms | decode ms |\n";
    md += "|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for c in report.curves.iter().filter(|c| c.kind == "measured") {
        for p in &c.points {
            let _ = writeln!(md, "| {} | {} |", c.label, cells(p).join(" | "));
        }
    }
    md += "\n";
    for p in plots {
        let _ = writeln!(md, "![{p}]({p})\n");
    }
    md
}
