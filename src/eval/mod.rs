//! Evaluation: quality metrics.

pub mod metrics;
