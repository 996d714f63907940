//! The RD report as one self-contained HTML page: the plots (inline SVG), the BD-rate
//! tables, the averages, and a gallery of decoded pictures — every codec at the
//! setting whose rate on that image is closest to a target — shown side by side on
//! the same crop, switchable, with zoom and panning. Nothing is fetched: pictures are
//! PNG data URIs, the viewer a few lines of script.

use std::fmt::Write as _;

use base64::Engine as _;

use super::rd::Curve;
use super::report::RdReport;

/// One decoded picture of the gallery.
pub struct GalleryEntry {
    /// Codec name (`neco`, `jpeg`, …; `source` for the original).
    pub codec: String,
    /// Legend text.
    pub label: String,
    /// Setting used (`None` for the original).
    pub setting: Option<u32>,
    /// Rate of the whole image at that setting.
    pub bpp: f64,
    /// PSNR of the whole image at that setting (dB).
    pub psnr: f64,
    /// The crop, as PNG.
    pub png: Vec<u8>,
}

/// One image of the gallery: the same crop of the original and of every codec's
/// decoding.
pub struct GalleryImage {
    /// File name.
    pub name: String,
    /// Crop shown: x, y, width, height in the image.
    pub crop: (u32, u32, u32, u32),
    /// The original first, then one entry per codec.
    pub entries: Vec<GalleryEntry>,
}

/// Text safe inside HTML elements and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A table of `rows` (already formatted cells) under `head`.
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut h = String::from("<table><thead><tr>");
    for c in head {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h += "</tr></thead><tbody>";
    for r in rows {
        h += "<tr>";
        for c in r {
            let _ = write!(h, "<td>{}</td>", esc(c));
        }
        h += "</tr>";
    }
    h + "</tbody></table>\n"
}

fn bd_rows<'a>(cmp: impl Iterator<Item = &'a super::rd::BdComparison>) -> Vec<Vec<String>> {
    let pct = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:+.2} %"));
    let db = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:+.3} dB"));
    cmp.map(|c| {
        vec![
            c.test.clone(),
            c.anchor.clone(),
            c.metric.clone(),
            pct(c.bd_rate_percent),
            db(c.bd_quality_db),
        ]
    })
    .collect()
}

fn averages(curves: &[Curve]) -> Vec<Vec<String>> {
    curves
        .iter()
        .filter(|c| c.kind == "measured")
        .flat_map(|c| {
            c.points.iter().map(|p| {
                std::iter::once(c.label.clone())
                    .chain(super::report::cells(p))
                    .collect()
            })
        })
        .collect()
}

/// The page: `plots` are (title, SVG text); `gallery` the pictures at about
/// `target_bpp`.
pub fn page(
    report: &RdReport,
    plots: &[(String, String)],
    gallery: &[GalleryImage],
    target_bpp: f64,
) -> String {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>neco rate–distortion report</title>\n<style>",
    );
    h += STYLE;
    h += "</style></head><body>\n<h1>Rate–distortion report</h1>\n";
    let _ = write!(
        h,
        "<p>Data: {} ({} images). Model: {} (weights sha256 {}…). Run time: {:.0} s on {} \
         threads. Metrics are per image, then averaged.</p>\n<p>Regenerate with:</p>\
         <pre>{}</pre>\n",
        esc(&report.dataset),
        report.images.len(),
        esc(&report.model),
        esc(&report.weights_sha256[..16.min(report.weights_sha256.len())]),
        report.wall_seconds,
        report.threads,
        esc(&report.command)
    );
    for (title, svg) in plots {
        let _ = write!(
            h,
            "<h2>{}</h2>\n<div class=\"plot\">{svg}</div>\n",
            esc(title)
        );
    }
    let head = ["test", "anchor", "metric", "BD-rate", "BD-quality"];
    h += "<h2>BD-rate of neco (negative = fewer bits at equal quality)</h2>\n";
    h += &table(
        &head,
        &bd_rows(report.comparisons.iter().filter(|c| c.test == "neco")),
    );
    let calibration = bd_rows(report.comparisons.iter().filter(|c| c.test != "neco"));
    if !calibration.is_empty() {
        h += "<h2>Anchors against published curves</h2>\n";
        h += &table(&head, &calibration);
    }
    if !gallery.is_empty() {
        let _ = write!(
            h,
            "<h2>Pictures at about {target_bpp} bpp</h2>\n<p>Each codec at the setting whose \
             rate on the image is closest to {target_bpp} bpp (rate and PSNR of the whole \
             image). Choose a codec for each side (keys 1–9 set the left one), zoom, and \
             drag to move the crop; both sides show the same pixels.</p>\n"
        );
        for (i, img) in gallery.iter().enumerate() {
            let (x, y, w, ht) = img.crop;
            let _ = write!(
                h,
                "<section class=\"viewer\" id=\"v{i}\"><h3>{} <small>(crop {w}×{ht} at \
                 {x},{y})</small></h3>\n<div class=\"controls\">left <select class=\"left\">",
                esc(&img.name)
            );
            let options: String = img
                .entries
                .iter()
                .enumerate()
                .map(|(k, e)| {
                    let what = match e.setting {
                        None => e.label.clone(),
                        Some(s) => format!("{} @{s}: {:.3} bpp, {:.2} dB", e.label, e.bpp, e.psnr),
                    };
                    format!("<option value=\"{k}\">{}</option>", esc(&what))
                })
                .collect();
            h += &options;
            h += "</select> right <select class=\"right\">";
            h += &options;
            h += "</select> zoom <select class=\"zoom\"><option>1</option><option selected>2</option>\
                  <option>4</option><option>8</option></select></div>\n<div class=\"panes\">";
            for _ in 0..2 {
                let _ = write!(
                    h,
                    "<div class=\"pane\" style=\"width:{}px;height:{}px\"><img alt=\"\"></div>",
                    (2 * w).min(512),
                    (2 * ht).min(512)
                );
            }
            h += "</div>\n<script type=\"application/json\" class=\"pictures\">[";
            for (k, e) in img.entries.iter().enumerate() {
                if k > 0 {
                    h += ",";
                }
                let b64 = base64::engine::general_purpose::STANDARD.encode(&e.png);
                let _ = write!(h, "\"data:image/png;base64,{b64}\"");
            }
            h += "]</script></section>\n";
        }
    }
    h += "<h2>Averages</h2>\n";
    h += &table(
        &[
            "codec",
            "setting",
            "bpp",
            "PSNR (dB)",
            "MS-SSIM",
            "MS-SSIM (dB)",
            "encode ms",
            "decode ms",
        ],
        &averages(&report.curves),
    );
    h += "<script>";
    h += SCRIPT;
    h += "</script>\n</body></html>\n";
    h
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;\
text-align:right}td:first-child,th:first-child{text-align:left}pre{white-space:pre-wrap;\
background:#f4f4f4;padding:.5em}.plot svg{max-width:100%;height:auto}.panes{display:flex;\
gap:8px;flex-wrap:wrap}.pane{overflow:hidden;position:relative;border:1px solid #888;\
cursor:grab;background:#222}.pane img{position:absolute;left:0;top:0;transform-origin:0 0;\
image-rendering:pixelated;user-select:none;-webkit-user-drag:none}.controls{margin:.3em 0}";

/// The viewer: both panes of a section show the same crop (one offset and zoom per
/// section); dragging either pane moves both. For a headless browser to check the
/// page, `<body>` counts in `data-loaded` the pictures decoded, in `data-failed` those
/// that could not be, and in `data-errors` script errors.
const SCRIPT: &str = r#"
(function () {
  var body = document.body, loaded = 0, failed = 0, errors = 0;
  body.dataset.loaded = "0";
  window.addEventListener("error", function () { errors += 1; body.dataset.errors = String(errors); });
  document.querySelectorAll("section.viewer").forEach(function (v) {
    var pics = JSON.parse(v.querySelector("script.pictures").textContent);
    pics.forEach(function (src) {
      var im = new Image();
      im.onload = function () {
        if (im.naturalWidth > 0) { loaded += 1; body.dataset.loaded = String(loaded); }
      };
      im.onerror = function () { failed += 1; body.dataset.failed = String(failed); };
      im.src = src;
    });
    var imgs = v.querySelectorAll(".pane img");
    var left = v.querySelector("select.left"), right = v.querySelector("select.right");
    var zoom = v.querySelector("select.zoom");
    var st = { x: 0, y: 0 };
    right.value = pics.length > 1 ? "1" : "0";
    function show() {
      var z = Number(zoom.value);
      imgs[0].src = pics[Number(left.value)];
      imgs[1].src = pics[Number(right.value)];
      imgs.forEach(function (im) {
        im.style.transform = "translate(" + (-st.x * z) + "px," + (-st.y * z) + "px) scale(" + z + ")";
      });
    }
    [left, right, zoom].forEach(function (s) { s.addEventListener("change", show); });
    v.querySelectorAll(".pane").forEach(function (p) {
      var drag = null;
      p.addEventListener("mousedown", function (e) { drag = { x: e.clientX, y: e.clientY, sx: st.x, sy: st.y }; e.preventDefault(); });
      window.addEventListener("mouseup", function () { drag = null; });
      window.addEventListener("mousemove", function (e) {
        if (!drag) return;
        var z = Number(zoom.value);
        st.x = Math.max(0, drag.sx - (e.clientX - drag.x) / z);
        st.y = Math.max(0, drag.sy - (e.clientY - drag.y) / z);
        show();
      });
    });
    v.addEventListener("keydown", function (e) {
      var k = Number(e.key);
      if (k >= 1 && k <= pics.length) { left.value = String(k - 1); show(); }
    });
    v.tabIndex = 0;
    show();
  });
})();
"#;

/// The gallery entry of `img`: its crop (`crop_side` a side, centred; 0 for the whole
/// picture), then for each codec the crop decoded at the setting whose rate on this
/// image (from `samples`) is closest to `target_bpp`.
pub fn gallery_image(
    codecs: &[Box<dyn super::codecs::RdCodec>],
    samples: &[super::rd::Sample],
    img: &super::codecs::RgbImage,
    target_bpp: f64,
    crop_side: u32,
) -> anyhow::Result<GalleryImage> {
    let side = |n: u32| if crop_side == 0 { n } else { crop_side.min(n) };
    let (w, h) = (side(img.width), side(img.height));
    let crop = ((img.width - w) / 2, (img.height - h) / 2, w, h);
    let png = |rgb: &[u8]| -> anyhow::Result<Vec<u8>> {
        let (x0, y0, w, h) = crop;
        let mut out = Vec::with_capacity((w * h * 3) as usize);
        for y in y0..y0 + h {
            let row = (y * img.width + x0) as usize * 3;
            out.extend_from_slice(&rgb[row..row + w as usize * 3]);
        }
        let mut bytes = Vec::new();
        image::codecs::png::PngEncoder::new(&mut bytes)
            .write_image(&out, w, h, image::ExtendedColorType::Rgb8)
            .map_err(|e| anyhow::anyhow!("encoding a gallery picture: {e}"))?;
        Ok(bytes)
    };
    use image::ImageEncoder as _;
    let mut entries = vec![GalleryEntry {
        codec: "source".into(),
        label: "original".into(),
        setting: None,
        bpp: 24.0,
        psnr: f64::INFINITY,
        png: png(&img.rgb)?,
    }];
    for codec in codecs {
        let Some(best) = samples
            .iter()
            .filter(|s| s.codec == codec.name() && s.image == img.name)
            .min_by(|a, b| {
                (a.bpp - target_bpp)
                    .abs()
                    .total_cmp(&(b.bpp - target_bpp).abs())
            })
        else {
            continue;
        };
        let bytes = codec.encode(img, best.setting)?;
        let rgb = codec.decode(&bytes, img, best.setting)?;
        entries.push(GalleryEntry {
            codec: codec.name().to_string(),
            label: codec.label(),
            setting: Some(best.setting),
            bpp: best.bpp,
            psnr: best.psnr,
            png: png(&rgb)?,
        });
    }
    Ok(GalleryImage {
        name: img.name.clone(),
        crop,
        entries,
    })
}
