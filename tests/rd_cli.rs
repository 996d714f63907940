//! `neco rd` end to end on small data.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::*;
use predicates::prelude::*;
use predicates::str::contains;

fn neco() -> Command {
    Command::cargo_bin("neco").expect("the neco binary")
}

/// A data set of two images big enough for MS-SSIM: the sample and a crop of it.
fn dataset(dir: &Path) {
    std::fs::copy(asset("sample-768x512.png"), dir.join("a.png")).unwrap();
    let img = image::open(asset("sample-768x512.png")).unwrap();
    img.crop_imm(100, 50, 256, 192)
        .save(dir.join("b.png"))
        .unwrap();
}

#[test]
fn rd_writes_tables_bd_and_plots() {
    let data = tempfile::tempdir().unwrap();
    dataset(data.path());
    let out = tempfile::tempdir().unwrap();
    let results = out.path().join("res");
    let report = out.path().join("report.md");
    let mut args = vec![
        "rd",
        "--dataset",
        data.path().to_str().unwrap(),
        "--qualities",
        "20,50,80",
        "--jpeg-qualities",
        "10,30,50,70,90",
        "-o",
        results.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    let against = if cfg!(feature = "ffmpeg") {
        "jpeg,hevc"
    } else {
        "jpeg"
    };
    args.extend([
        "--against",
        against,
        "--hevc-qps",
        "32,37,42,47",
        "--hevc-preset",
        "ultrafast",
    ]);
    let run = neco().args(&args).assert().success();
    let stdout = String::from_utf8(run.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("neco vs jpeg (PSNR): BD-rate"), "{stdout}");

    // rd.csv: header + one row per measured setting.
    let csv = std::fs::read_to_string(results.join("rd.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    let hevc_rows = if cfg!(feature = "ffmpeg") { 4 } else { 0 };
    assert_eq!(rows.len(), 3 + 5 + hevc_rows, "{csv}");
    assert!(
        rows.iter().all(|r| r.split(',').nth(3) == Some("2")),
        "{csv}"
    );

    // rd.json: per-image samples whose means are the curve points.
    let rd: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("rd.json")).unwrap()).unwrap();
    let samples = rd["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 2 * (3 + 5 + hevc_rows));
    let neco_q50: Vec<f64> = samples
        .iter()
        .filter(|s| s["codec"] == "neco" && s["setting"] == 50)
        .map(|s| s["bpp"].as_f64().unwrap())
        .collect();
    let point = &rd["curves"][0]["points"][1];
    assert_eq!(point["setting"], 50);
    let mean = neco_q50.iter().sum::<f64>() / 2.0;
    assert!((point["bpp"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!(point["ms_ssim"].as_f64().unwrap() > 0.8);
    // The default's widths, which benches/peer builds its peer with.
    let w = default_config();
    assert_eq!(rd["analysis_width"], w.analysis_width());
    assert_eq!(rd["synthesis_width"], w.synthesis_width());
    assert_eq!(rd["hyper_width"], w.hyper_width());

    // bd.json: neco vs each anchor on both metrics, with numbers where curves overlap.
    let bd: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("bd.json")).unwrap()).unwrap();
    let comps = bd["comparisons"].as_array().unwrap();
    assert_eq!(comps.len(), if cfg!(feature = "ffmpeg") { 4 } else { 2 });
    let jpeg_psnr = comps
        .iter()
        .find(|c| c["anchor"] == "jpeg" && c["metric"] == "psnr")
        .unwrap();
    assert!(
        jpeg_psnr["bd_rate_percent"].as_f64().unwrap().is_finite(),
        "{jpeg_psnr}"
    );

    for plot in ["psnr.png", "msssim.png"] {
        let bytes = std::fs::read(results.join(plot)).unwrap();
        assert_eq!(
            image::guess_format(&bytes).unwrap(),
            image::ImageFormat::Png
        );
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (960, 640));
    }
    let svg = std::fs::read_to_string(results.join("psnr.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("bits per pixel"));
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("![res/psnr.png](res/psnr.png)"), "{md}");

    // neco.json is neco's curve as a reference: measuring the same weights again
    // against it gives a BD-rate of zero.
    let again = out.path().join("again");
    let run = neco()
        .args(["rd", "--dataset", data.path().to_str().unwrap()])
        .args([
            "--qualities",
            "20,50,80",
            "--against",
            "none",
            "--reference",
        ])
        .arg(results.join("neco.json"))
        .arg("-o")
        .arg(&again)
        .assert()
        .success();
    let stdout = String::from_utf8(run.get_output().stdout.clone()).unwrap();
    let bd: serde_json::Value =
        serde_json::from_slice(&std::fs::read(again.join("bd.json")).unwrap()).unwrap();
    let same = bd["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["anchor"] == "ref-neco" && c["metric"] == "psnr")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        same["bd_rate_percent"].as_f64().unwrap().abs() < 1e-6,
        "{same}"
    );

    // A second run refuses to overwrite without -y.
    neco()
        .args(&args)
        .assert()
        .failure()
        .stderr(contains("already exists").and(contains("-y")));
}

/// `neco rd EXTRA --dataset DATA -o OUT` must fail with `expected` in its message.
/// The formats people choose today, each at the rate of the file a user would get,
/// and `--against all` measuring every anchor.
#[cfg(feature = "ffmpeg")]
#[test]
fn rd_measures_avif_jxl_and_webp() {
    let data = tempfile::tempdir().unwrap();
    dataset(data.path());
    let out = tempfile::tempdir().unwrap();
    let results = out.path().join("res");
    let run = neco()
        .arg("rd")
        .arg("--dataset")
        .arg(data.path())
        .arg("-o")
        .arg(&results)
        .args([
            "--against",
            "all",
            "--qualities",
            "20,60",
            "--jpeg-qualities",
            "30,70",
            "--hevc-qps",
            "32,42",
            "--hevc-preset",
            "ultrafast",
            "--avif-crfs",
            "20,45",
            "--avif-speed",
            "8",
            "--jxl-distances",
            "1,4",
            "--jxl-effort",
            "3",
            "--webp-qualities",
            "30,80",
            "--webp-method",
            "2",
        ])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&run.get_output().stdout).into_owned();
    let rd: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("rd.json")).unwrap()).unwrap();
    let curves = rd["curves"].as_array().unwrap();
    let names: Vec<&str> = curves.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["neco", "jpeg", "hevc", "hevc420", "avif", "jxl", "webp"],
        "{stdout}"
    );
    for c in &curves[4..] {
        let p = c["points"].as_array().unwrap();
        // The finer setting costs more and looks better (CRF and distance fall, quality rises).
        let (a, b) = (&p[0], &p[1]);
        let (fine, coarse) = if c["name"] == "webp" { (b, a) } else { (a, b) };
        assert!(
            fine["bpp"].as_f64() > coarse["bpp"].as_f64()
                && fine["psnr"].as_f64() > coarse["psnr"].as_f64(),
            "{c}"
        );
        assert!(coarse["psnr"].as_f64().unwrap() > 24.0, "{c}");
    }
    assert!(stdout.contains("neco vs avif (PSNR)"), "{stdout}");
    assert_eq!(curves[6]["label"], "WebP (libwebp lossy, method 2)");
}

/// `--report X.html`: one self-contained page with the plots, the tables and every
/// codec's picture of each gallery image; opened in headless Chromium where there is one.
#[test]
fn rd_writes_a_self_contained_html_report() {
    let data = tempfile::tempdir().unwrap();
    dataset(data.path());
    let out = tempfile::tempdir().unwrap();
    let page = out.path().join("report.html");
    neco()
        .arg("rd")
        .arg("--dataset")
        .arg(data.path())
        .arg("-o")
        .arg(out.path().join("res"))
        .arg("--report")
        .arg(&page)
        .args([
            "--against",
            "jpeg",
            "--qualities",
            "20,50,80",
            "--jpeg-qualities",
            "20,50,80",
            "--gallery-bpp",
            "0.4",
            "--gallery-crop",
            "64",
        ])
        .assert()
        .success();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
    assert!(html.contains("BD-rate of neco"));
    // Two images (the set has two), each the original, neco and JPEG.
    assert_eq!(html.matches("data:image/png;base64,").count(), 6);
    assert!(
        html.contains("a.png <small>(crop 64×64 at 352,224)"),
        "{}",
        &html[..400]
    );
    // Each codec at one of its settings, with that setting's rate and PSNR.
    let neco_label = format!("neco ({}) @", default_model_id());
    for label in [neco_label.as_str(), "JPEG (4:2:0, jpeg-encoder) @"] {
        assert_eq!(html.matches(label).count(), 4, "{label}");
    }
    // Nothing is fetched.
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));

    let shot = out.path().join("shot.png");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/report_screenshot.sh");
    let run = std::process::Command::new("bash")
        .arg(script)
        .arg(&page)
        .arg(&shot)
        .output()
        .unwrap();
    if run.status.code() == Some(2) {
        eprintln!("skipped the browser check: no Chromium here (apt-get install chromium)");
        return;
    }
    assert!(run.status.success(), "{run:?}");
    assert!(String::from_utf8_lossy(&run.stdout).contains("6 of 6 pictures decoded"));
    assert_eq!(
        image::open(&shot).unwrap().width(),
        1200,
        "the screenshot is of the page"
    );

    // An image the data set does not hold is refused.
    neco()
        .arg("rd")
        .arg("--dataset")
        .arg(data.path())
        .arg("-o")
        .arg(out.path().join("res2"))
        .arg("--report")
        .arg(out.path().join("r2.html"))
        .args([
            "--against",
            "none",
            "--qualities",
            "50",
            "--gallery",
            "c.png",
        ])
        .assert()
        .failure()
        .stderr(contains("--gallery c.png: no such image in the data set"));
}

fn rd_fails(extra: &[&str], data: &Path, out: &Path, expected: &str) {
    neco()
        .arg("rd")
        .args(extra)
        .arg("--dataset")
        .arg(data)
        .arg("-o")
        .arg(out)
        .assert()
        .failure()
        .stderr(contains(expected));
}

#[test]
fn rd_errors_are_clear() {
    neco()
        .args(["rd", "--dataset", "no-such-set-or-folder"])
        .assert()
        .failure()
        .stderr(contains("no-such-set-or-folder"));

    let out = tempfile::tempdir().unwrap();
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(
        broken.path().join("broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    rd_fails(&[], broken.path(), out.path(), "broken.png");

    let data = tempfile::tempdir().unwrap();
    dataset(data.path());
    rd_fails(
        &["--against", "heic"],
        data.path(),
        out.path(),
        "unknown anchor \"heic\" (known: jpeg, hevc, hevc420, avif, jxl, webp, or all)",
    );
    rd_fails(
        &["--jxl-distances", "1,0"],
        data.path(),
        out.path(),
        "a JPEG XL distance must be in 0.01..=15, got 0",
    );
    rd_fails(
        &["--reference", "/no/such/curve.json"],
        data.path(),
        out.path(),
        "/no/such/curve.json",
    );
    rd_fails(
        &["--qualities", "101"],
        data.path(),
        out.path(),
        "out of range 0..=100",
    );
    rd_fails(
        &["--hevc-qps", "52"],
        data.path(),
        out.path(),
        "out of range 0..=51",
    );
    // A typo in an x265 option is named as such (it used to surface as a preset error).
    rd_fails(
        &["--hevc-tune", "psnrr"],
        data.path(),
        out.path(),
        "invalid value 'psnrr' for '--hevc-tune",
    );
    // Video options on images are refused, not ignored.
    rd_fails(
        &["--gop", "4"],
        data.path(),
        out.path(),
        "--gop is for video data sets",
    );
    rd_fails(
        &["--max-frames", "4"],
        data.path(),
        out.path(),
        "--max-frames is for video data sets",
    );
    // The report never replaces what the run reads, `-y` or not.
    let image = data.path().join("a.png");
    let before_bytes = std::fs::read(&image).unwrap();
    rd_fails(
        &["--report", image.to_str().unwrap(), "-y"],
        data.path(),
        out.path(),
        "is the input",
    );
    assert_eq!(std::fs::read(&image).unwrap(), before_bytes);
    let reference = out.path().join("ref.json");
    std::fs::copy(root().join("docs/rd-kodak/neco.json"), &reference).unwrap();
    rd_fails(
        &[
            "--reference",
            reference.to_str().unwrap(),
            "--report",
            reference.to_str().unwrap(),
            "-y",
        ],
        data.path(),
        out.path(),
        "is the input",
    );
    std::fs::remove_file(&reference).unwrap();
    // Results inside the data set would be measured as pictures by the next run.
    let before = std::fs::read_dir(data.path()).unwrap().count();
    rd_fails(&[], data.path(), data.path(), "is inside the data set");
    assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), before);
    // Nothing was written by the failed runs.
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

/// A video data set (a folder of clip folders): per-clip curves of neco and x265,
/// BD-rate per clip.
#[cfg(feature = "ffmpeg")]
#[test]
fn rd_on_a_video_data_set() {
    let data = tempfile::tempdir().unwrap();
    let clip = data.path().join("pan");
    std::fs::create_dir(&clip).unwrap();
    let img = image::open(asset("sample-768x512.png")).unwrap();
    for t in 0..6u32 {
        // A slow pan over the sample photo.
        img.crop_imm(200 + 4 * t, 150, 96, 64)
            .save(clip.join(format!("frame_{:04}.png", t + 1)))
            .unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let results = out.path().join("res");
    let report = out.path().join("video.md");
    let o = neco()
        .args(["rd", "--against", "hevc,av1", "--qualities", "20,50,80"])
        .args([
            "--hevc-qps",
            "30,36,42,48,51",
            "--hevc-preset",
            "ultrafast",
            "--av1-crfs",
            "30,45,60",
            "--av1-speed",
            "8",
            "--gop",
            "4",
        ])
        .arg("--dataset")
        .arg(data.path())
        .arg("-o")
        .arg(&results)
        .arg("--report")
        .arg(&report)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&o.get_output().stdout).into_owned();
    assert!(stdout.contains("| pan | 6 | neco | 50 |"), "{stdout}");
    let csv = std::fs::read_to_string(results.join("rd.csv")).unwrap();
    // neco with the temporal prior and intra-only, 3 qualities each; x265 at 5 QPs,
    // libaom at 3 CRFs.
    assert_eq!(csv.lines().count(), 1 + 2 * 3 + 5 + 3, "{csv}");
    let points: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("rd.json")).unwrap()).unwrap();
    for p in points.as_array().unwrap() {
        let (bpp, psnr) = (p["bpp"].as_f64().unwrap(), p["psnr"].as_f64().unwrap());
        assert!(bpp > 0.0 && (15.0..60.0).contains(&psnr), "{p}");
    }
    // Rate falls with the setting in the expected direction for both codecs.
    let rate = |codec: &str, s: u64| {
        points
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["codec"] == codec && p["setting"] == s)
            .unwrap()["bpp"]
            .as_f64()
            .unwrap()
    };
    assert!(rate("neco", 80) > rate("neco", 20));
    assert!(rate("hevc", 30) > rate("hevc", 51));
    // (This flat crop costs libaom a few hundred bytes at any CRF: its quality, not
    // its rate, shows the CRF.)
    let psnr = |codec: &str, s: u64| {
        points
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["codec"] == codec && p["setting"] == s)
            .unwrap()["psnr"]
            .as_f64()
            .unwrap()
    };
    assert!(psnr("av1", 30) > psnr("av1", 60));
    assert!(stdout.contains("| pan | neco | av1 |"), "{stdout}");
    // Each frame is coded with the temporal prior or intra, whichever is smaller, so
    // never more bits than intra; on a pan the prior saves bits at the middle and high
    // qualities (at q20 these 96×64 frames' few bits may leave intra the smaller
    // every time, as with the default weights of 2026-12-03).
    for q in [20, 50, 80] {
        let (temporal, intra) = (rate("neco", q), rate("neco-intra", q));
        assert!(temporal <= intra, "q={q}: {temporal} vs {intra} bpp");
        if q >= 50 {
            assert!(temporal < 0.98 * intra, "q={q}: {temporal} vs {intra} bpp");
        }
    }
    let report = std::fs::read_to_string(&report).unwrap();
    assert!(report.contains("## BD-rate per clip"), "{report}");
    assert!(report.contains("| pan | neco | neco-intra | -"), "{report}");
    // Image anchors do not apply to video.
    rd_fails(
        &["--against", "jpeg"],
        data.path(),
        &out.path().join("x"),
        "jpeg is an image anchor",
    );
}
