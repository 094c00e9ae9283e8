//! Errors of `mss-pruners`.

/// What can go wrong when choosing a pruner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrunerError {
    /// No pruner has this name.
    #[error(transparent)]
    Unknown(#[from] mss_schedule::UnknownName),
    /// A baseline that is a memory type rather than a pruner (`no_compress`, `local_window`).
    #[error(
        "`{given}` is not a pruner but the memory type `{memory_type}`: it keeps everything or \
         nothing and calls no pruner; ask for memory type `{memory_type}` instead"
    )]
    MemoryType {
        /// The name given.
        given: String,
        /// The memory type it names.
        memory_type: mss_schedule::MemoryType,
    },
}

/// Result with [`PrunerError`].
pub type Result<T> = std::result::Result<T, PrunerError>;
