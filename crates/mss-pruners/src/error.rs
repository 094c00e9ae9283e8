//! Errors of `mss-pruners`.

/// What can go wrong when choosing a pruner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrunerError {
    /// No pruner has this name.
    #[error("unknown pruner '{given}'; valid: {valid}")]
    Unknown {
        /// The name given.
        given: String,
        /// The valid names.
        valid: String,
    },
}

/// Result with [`PrunerError`].
pub type Result<T> = std::result::Result<T, PrunerError>;
