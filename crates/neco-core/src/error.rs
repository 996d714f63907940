//! Errors, grouped by whose fault they are.

use thiserror::Error;

/// Convenience alias used across neco-core.
pub type Result<T, E = NecoError> = std::result::Result<T, E>;

/// Everything that can go wrong reading, writing or coding a `.neco` stream.
///
/// Messages name the bad value and, where there is one, the allowed range.
#[derive(Debug, Error)]
pub enum NecoError {
    /// The stream is damaged or was not written by neco.
    #[error("corrupt stream: {0}")]
    Corrupt(String),
    /// The stream is valid but uses something this build does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A value is over a configured limit (checked before allocating).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// A weights file is damaged, or is not one this build can read.
    #[error("invalid weights file: {0}")]
    BadWeights(String),
    /// The caller passed inconsistent arguments (a bug in the caller, not in the stream).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Reading or writing a file failed.
    // Not `#[from]`, which would also make the io::Error this error's source: an error
    // chain printed whole (`{:#}`) would then say the same thing twice.
    #[error("I/O error: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for NecoError {
    fn from(e: std::io::Error) -> Self {
        NecoError::Io(e)
    }
}

impl NecoError {
    /// Shorthand for [`NecoError::Corrupt`].
    pub fn corrupt(msg: impl Into<String>) -> Self {
        NecoError::Corrupt(msg.into())
    }
}
