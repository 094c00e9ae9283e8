//! The errors of memory probing.

use std::path::PathBuf;

/// What can go wrong when scheduling reviews, writing reports or drawing charts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// A name that no choice answers to.
    #[error(transparent)]
    UnknownName(#[from] mss_schedule::UnknownName),
    /// A setting is out of its domain.
    #[error("invalid {name}: {reason}")]
    InvalidArgument {
        /// The setting.
        name: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The prompt has no chunk to review, or no chunk after it to review in.
    #[error(
        "nothing to review: chunk {chunk} of {chunks} is reviewed (ceil(M / C)), and at least one chunk must follow it"
    )]
    NothingToReview {
        /// The reviewed chunk's index.
        chunk: usize,
        /// Number of chunks of the prompt.
        chunks: usize,
    },
    /// A report holds nothing to draw.
    #[error("nothing to plot: {0}")]
    NothingToPlot(&'static str),
    /// A chart could not be drawn.
    #[error("drawing {path}: {message}")]
    Plot {
        /// The file drawn.
        path: PathBuf,
        /// The backend's message.
        message: String,
    },
    /// A report could not be (de)serialised.
    #[error("report JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The result of memory probing.
pub type Result<T> = std::result::Result<T, ProbeError>;
