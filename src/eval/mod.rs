//! Evaluation: quality metrics, the JPEG/HEVC anchors, rate–distortion runs,
//! Bjøntegaard deltas, plots and reports.

pub mod anchors;
pub mod bd;
pub mod codecs;
pub mod metrics;
pub mod msssim;
pub mod plot;
pub mod rd;
pub mod report;
pub mod video_rd;
