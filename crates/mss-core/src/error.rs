//! Errors of `mss-core`.

/// What can go wrong in the shared core types.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// Two tensors that must agree on a dimension do not.
    #[error("{what}: expected {expected:?}, got {actual:?}")]
    ShapeMismatch {
        /// What was being checked.
        what: String,
        /// The expected shape.
        expected: Vec<usize>,
        /// The shape that was given.
        actual: Vec<usize>,
    },
    /// A value outside what it may hold (a negative position, say).
    #[error("{what}: {reason}")]
    InvalidValue {
        /// What was being checked.
        what: String,
        /// Why it is refused.
        reason: String,
    },
}

/// Result with [`CoreError`].
pub type Result<T> = std::result::Result<T, CoreError>;
