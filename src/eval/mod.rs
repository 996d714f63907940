//! Evaluation: quality metrics, the anchors (JPEG, HEVC, AVIF, JPEG XL, WebP),
//! rate–distortion runs, Bjøntegaard deltas, plots and reports (Markdown, HTML).

pub mod anchors;
pub mod bd;
pub mod codecs;
pub mod html;
pub mod metrics;
pub mod msssim;
pub mod plot;
pub mod rd;
pub mod report;
pub mod video_rd;
