//! The facade's error: any error of the composed crates.

/// Errors of `mss`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From the model crate.
    #[error(transparent)]
    Model(#[from] mss_models::ModelError),
    /// From the core types.
    #[error(transparent)]
    Core(#[from] mss_core::CoreError),
    /// From fetching or converting assets.
    #[error(transparent)]
    Assets(#[from] mss_assets::AssetError),
    /// An argument is out of range.
    #[error("invalid argument {name}: {reason}")]
    InvalidArgument {
        /// The argument.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
