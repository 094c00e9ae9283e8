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
    /// A model of the user's own failed inside its forward pass (I/O, a kernel, its own
    /// checks): its error, kept whole as the source.
    #[error("the model failed: {0}")]
    Model(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl CoreError {
    /// Wraps a model's own error, for [`ChunkedModel`](crate::ChunkedModel) implementations
    /// whose forward pass can fail in ways of their own.
    pub fn model(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Model(Box::new(error))
    }
}

/// Result with [`CoreError`].
pub type Result<T> = std::result::Result<T, CoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("shard 3 is missing")]
    struct ShardMissing;

    #[test]
    fn a_models_own_error_is_kept_as_the_source() {
        let error = CoreError::model(ShardMissing);
        assert_eq!(error.to_string(), "the model failed: shard 3 is missing");
        let source = std::error::Error::source(&error).expect("the model's error");
        assert!(source.downcast_ref::<ShardMissing>().is_some());
    }
}
