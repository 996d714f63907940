//! `neco bd`: BD-rate between rate–quality curves in CSV files, such as the
//! validation through the codec (`valid_coded.csv`) that `neco train` writes at every
//! validation step, so runs are compared with each other and with a baseline by the
//! same BD computation `neco rd` reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;

use crate::eval::bd::{bd_quality, bd_rate, RdSample};

/// Arguments of `neco bd`.
#[derive(Debug, Args)]
pub struct BdCmd {
    /// The anchor curve: a CSV with `bpp` and `psnr` columns and, optionally, a `step`
    /// column (e.g. a run's `valid_coded.csv`).
    anchor: PathBuf,
    /// The curves to compare: a CSV of the same form; one result per step.
    test: PathBuf,
    /// The anchor's step (default: its last).
    #[arg(long)]
    anchor_step: Option<u64>,
    /// Only these steps of the test file (default: all).
    #[arg(long, value_delimiter = ',')]
    steps: Vec<u64>,
}

/// A CSV's curves by step (a file without a `step` column is one curve, step 0).
type Curves = BTreeMap<u64, Vec<RdSample>>;

/// Reads the rate–quality points of `path`, grouped by step.
fn read_curves(path: &Path) -> anyhow::Result<Curves> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_curves(&text).with_context(|| format!("{}", path.display()))
}

fn parse_curves(text: &str) -> anyhow::Result<Curves> {
    // Spreadsheets save UTF-8 with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Numbered before blank lines are skipped, so errors name the file's own lines.
    let mut lines = (1..)
        .zip(text.lines())
        .filter(|(_, l)| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .context("empty file")?
        .1
        .split(',')
        .map(str::trim)
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (Some(bpp), Some(psnr)) = (column("bpp"), column("psnr")) else {
        bail!("the header needs `bpp` and `psnr` columns, found {header:?}");
    };
    let step = column("step");
    let mut curves = Curves::new();
    for (n, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let field = |c: usize| -> anyhow::Result<f64> {
            let v = fields
                .get(c)
                .with_context(|| format!("line {n}: too few fields"))?;
            v.parse()
                .with_context(|| format!("line {n}: {v:?} is not a number"))
        };
        let key = match step {
            Some(c) => {
                let v = field(c)?;
                anyhow::ensure!(
                    v >= 0.0 && v.fract() == 0.0,
                    "line {n}: step {v} is not a whole number"
                );
                v as u64
            }
            None => 0,
        };
        curves.entry(key).or_default().push(RdSample {
            bpp: field(bpp)?,
            quality: field(psnr)?,
        });
    }
    anyhow::ensure!(!curves.is_empty(), "no data rows");
    Ok(curves)
}

/// One line of the report: BD-rate, BD-PSNR and the test curve's top point; and
/// whether any BD number could be computed.
fn report_line(anchor: &[RdSample], test: &[RdSample]) -> (String, bool) {
    let top = test
        .iter()
        .max_by(|a, b| a.bpp.total_cmp(&b.bpp))
        .copied()
        .unwrap_or(RdSample {
            bpp: f64::NAN,
            quality: f64::NAN,
        });
    let computed = bd_rate(anchor, test).is_ok() || bd_quality(anchor, test).is_ok();
    let rate = match bd_rate(anchor, test) {
        Ok((pct, [lo, hi])) => format!("BD-rate {pct:+.2} % ({lo:.2}-{hi:.2} dB)"),
        Err(e) => format!("BD-rate: {e}"),
    };
    let quality = match bd_quality(anchor, test) {
        Ok((db, _)) => format!("BD-PSNR {db:+.3} dB"),
        Err(e) => format!("BD-PSNR: {e}"),
    };
    let line = format!(
        "{rate}, {quality}, top {:.4} bpp {:.2} dB",
        top.bpp, top.quality
    );
    (line, computed)
}

impl BdCmd {
    /// Run the command.
    pub fn run(&self) -> anyhow::Result<()> {
        let anchors = read_curves(&self.anchor)?;
        let (anchor_step, anchor) = match self.anchor_step {
            Some(s) => (
                s,
                anchors
                    .get(&s)
                    .with_context(|| format!("{} has no step {s}", self.anchor.display()))?,
            ),
            None => anchors
                .last_key_value()
                .map(|(s, c)| (*s, c))
                .context("no anchor curve")?,
        };
        let tests = read_curves(&self.test)?;
        let steps: Vec<u64> = if self.steps.is_empty() {
            tests.keys().copied().collect()
        } else {
            self.steps.clone()
        };
        println!(
            "against {} (step {anchor_step}, {} points):",
            self.anchor.display(),
            anchor.len()
        );
        let mut any = false;
        for step in steps {
            let test = tests
                .get(&step)
                .with_context(|| format!("{} has no step {step}", self.test.display()))?;
            let (line, computed) = report_line(anchor, test);
            println!("{step}: {line}");
            any |= computed;
        }
        anyhow::ensure!(any, "no BD number could be computed (see above)");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_points_by_step_and_reads_files_without_one() {
        let c = parse_curves("step,elapsed_s,rung,quality,bpp,psnr\n5,1.0,0,0,0.1,20\n5,1.0,1,9,0.2,23\n10,2.0,0,0,0.09,20\n").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[&5].len(), 2);
        assert_eq!(
            c[&10][0],
            RdSample {
                bpp: 0.09,
                quality: 20.0
            }
        );
        let one = parse_curves("psnr,bpp\n30,0.5\n32,0.8\n").unwrap();
        assert_eq!(
            one[&0][1],
            RdSample {
                bpp: 0.8,
                quality: 32.0
            }
        );
    }

    #[test]
    fn bad_files_are_errors_naming_the_problem() {
        let err = |t: &str| format!("{:#}", parse_curves(t).unwrap_err());
        assert!(err("").contains("empty"));
        assert!(err("a,b\n1,2\n").contains("`bpp` and `psnr`"));
        assert!(err("bpp,psnr\n0.1,x\n").contains("line 2: \"x\" is not a number"));
        assert!(err("bpp,psnr\n0.1\n").contains("line 2: too few fields"));
        assert!(err("bpp,psnr\n\n0.1,20\n0.2\n").contains("line 4: too few fields"));
        assert!(err("step,bpp,psnr\n1.5,0.1,20\n").contains("not a whole number"));
        assert!(err("bpp,psnr\n").contains("no data rows"));
    }

    #[test]
    fn a_curve_with_half_the_rate_reports_minus_50_percent() {
        let anchor: Vec<RdSample> = [(0.1, 25.0), (0.2, 28.0), (0.4, 31.0), (0.8, 34.0)]
            .iter()
            .map(|&(bpp, quality)| RdSample { bpp, quality })
            .collect();
        let half: Vec<RdSample> = anchor
            .iter()
            .map(|s| RdSample {
                bpp: s.bpp / 2.0,
                ..*s
            })
            .collect();
        let (line, computed) = report_line(&anchor, &half);
        assert!(computed);
        assert!(
            line.starts_with("BD-rate -50.00 % (25.00-34.00 dB)"),
            "{line}"
        );
        assert!(line.contains("top 0.4000 bpp 34.00 dB"), "{line}");
        // A curve whose quality falls with its rate has no BD numbers: said, and
        // counted as none computed (the command then fails).
        let falls: Vec<RdSample> = [(0.1, 25.0), (0.2, 24.0), (0.4, 31.0)]
            .iter()
            .map(|&(bpp, quality)| RdSample { bpp, quality })
            .collect();
        let (line, computed) = report_line(&anchor, &falls);
        assert!(!computed);
        assert!(line.contains("does not rise with its rate"), "{line}");
        // A byte-order mark before the header is no part of it.
        let curves = parse_curves("\u{feff}bpp,psnr\n0.1,25\n0.2,28\n").unwrap();
        assert_eq!(curves[&0].len(), 2);
    }
}
