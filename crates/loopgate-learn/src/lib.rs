//! Loopgate's learning loop.
pub mod classifier;
pub mod features;

/// Errors of the learning crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter is outside its domain.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
}
