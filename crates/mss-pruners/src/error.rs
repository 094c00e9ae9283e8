//! Errors of `mss-pruners`.

/// What can go wrong when choosing a pruner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrunerError {
    /// No pruner has this name.
    #[error(transparent)]
    Unknown(#[from] mss_schedule::UnknownName),
}

/// Result with [`PrunerError`].
pub type Result<T> = std::result::Result<T, PrunerError>;
