//! RD plots (plotters): bits per pixel on x, PSNR or MS-SSIM dB on y, one line per
//! codec; published curves dashed. PNG and SVG, with an embedded font (DejaVu Sans) so
//! no system font library is needed.

use std::sync::OnceLock;

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::rd::{Curve, Metric};

const SIZE: (u32, u32) = (960, 640);
const FONT: &str = "sans-serif";
const COLORS: [RGBColor; 10] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn register_font() -> anyhow::Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../../assets/fonts/DejaVuSans.ttf"),
        )
        .is_ok()
    });
    ok.then_some(())
        .ok_or_else(|| anyhow!("the embedded plot font failed to load"))
}

/// Render `curves` on `metric` as (PNG bytes, SVG text). `title` heads the chart.
/// Returns `None` when no curve has a point on this metric.
pub fn render(
    curves: &[Curve],
    metric: Metric,
    title: &str,
) -> anyhow::Result<Option<(Vec<u8>, String)>> {
    register_font()?;
    let Some(frame) = Frame::fit(curves, metric) else {
        return Ok(None);
    };
    let (w, h) = SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        draw(&root, curves, metric, title, &frame)?;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, curves, metric, title, &frame)?;
    }
    let img = image::RgbImage::from_raw(w, h, rgb).ok_or_else(|| anyhow!("plot buffer size"))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(Some((png, svg)))
}

/// Axis ranges: x up to the largest measured rate, y over what is visible.
struct Frame {
    x_max: f64,
    y: (f64, f64),
}

impl Frame {
    fn fit(curves: &[Curve], metric: Metric) -> Option<Frame> {
        let measured_max = curves
            .iter()
            .filter(|c| c.kind == "measured")
            .flat_map(|c| {
                c.points
                    .iter()
                    .filter(|p| metric.of(p).is_some())
                    .map(|p| p.bpp)
            })
            .fold(f64::NAN, f64::max);
        let all_max = curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.bpp))
            .fold(f64::NAN, f64::max);
        let x_max = if measured_max.is_finite() {
            measured_max
        } else {
            all_max
        } * 1.05;
        let ys: Vec<f64> = curves
            .iter()
            .flat_map(|c| visible(c, metric, x_max))
            .map(|(_, y)| y)
            .collect();
        let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo.is_finite() && hi.is_finite() && x_max > 0.0).then(|| Frame {
            x_max,
            y: (lo.floor() - 0.5, hi.ceil() + 0.5),
        })
    }
}

fn visible(c: &Curve, metric: Metric, x_max: f64) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = c
        .points
        .iter()
        .filter_map(|p| metric.of(p).map(|y| (p.bpp, y)))
        .filter(|&(x, y)| x <= x_max && y.is_finite())
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    curves: &[Curve],
    metric: Metric,
    title: &str,
    frame: &Frame,
) -> anyhow::Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("plotting: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..frame.x_max, frame.y.0..frame.y.1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("bits per pixel")
        .y_desc(metric.title())
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    for (i, c) in curves.iter().enumerate() {
        let pts = visible(c, metric, frame.x_max);
        if pts.is_empty() {
            continue;
        }
        let color = COLORS[i % COLORS.len()];
        let line = ShapeStyle {
            color: color.to_rgba(),
            filled: false,
            stroke_width: if c.kind == "measured" { 3 } else { 2 },
        };
        let series = if c.kind == "measured" {
            chart.draw_series(LineSeries::new(pts.clone(), line))
        } else {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 8, 5, line))
        }
        .map_err(err)?;
        series
            .label(c.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], line));
        if c.kind == "measured" {
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 15))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
