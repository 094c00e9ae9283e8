//! The facade's error: any error of the composed crates, plus bad arguments.

/// Errors of `mss`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From the model crate.
    #[cfg(feature = "models")]
    #[error(transparent)]
    Model(#[from] mss_models::ModelError),
    /// From the core types.
    #[error(transparent)]
    Core(#[from] mss_core::CoreError),
    /// From fetching or converting assets.
    #[cfg(feature = "assets")]
    #[error(transparent)]
    Assets(#[from] mss_assets::AssetError),
    /// From the memory and chunk schedule.
    #[error(transparent)]
    Schedule(#[from] mss_schedule::ScheduleError),
    /// A name (of a position mode, say) that no choice answers to.
    #[error(transparent)]
    UnknownName(#[from] mss_schedule::UnknownName),
    /// From choosing a pruner.
    #[error(transparent)]
    Pruner(#[from] mss_pruners::PrunerError),
    /// A token id is outside the model's vocabulary.
    #[error("token id {id} at index {index} is outside the vocabulary (size {vocab_size})")]
    TokenOutOfVocabulary {
        /// The offending id.
        id: u32,
        /// Its index in the input.
        index: usize,
        /// The model's vocabulary size.
        vocab_size: usize,
    },
    /// The prefill would rotate keys at positions the model was not trained for, and its RoPE
    /// has no scaling that reaches them.
    #[error(
        "the prefill rotates keys at up to {needed} positions, past the {trained} the model was \
         trained for (max_position_embeddings) without RoPE scaling: {remedy}"
    )]
    PastTrainedPositions {
        /// Positions the prefill's largest step needs.
        needed: usize,
        /// The model's `max_position_embeddings`.
        trained: usize,
        /// What to change.
        remedy: &'static str,
    },
    /// The device ran out of memory during the prefill (weights included: the cost model's
    /// figures leave them out).
    #[error(
        "the device ran out of memory ({cause}); the cost model predicts a working set of \
         {predicted} beside the weights for this configuration ({alternatives}); a memory cap \
         (`--memory-cap`, `Prefiller::with_memory_cap`) below the device's free memory refuses \
         before allocating and names the sizes that fit"
    )]
    OutOfMemory {
        /// The predicted peak working set, in GiB.
        predicted: String,
        /// Half the chunk and half the memory, with their predictions.
        alternatives: String,
        /// The backend's first line.
        cause: String,
    },
    /// The configuration's predicted working set is more than its device has free: refused
    /// before anything is allocated.
    #[error(
        "this prefill is predicted to need {predicted} bytes beside the weights (step {step}), \
         more than the {free} bytes free on the device; {}",
        mss_schedule::fit_hint(
            *smaller_chunk,
            *smaller_memory,
            "use a shorter prompt, a memory type that prunes, or a smaller model"
        )
    )]
    NotEnoughDeviceMemory {
        /// The predicted peak working set.
        predicted: u64,
        /// The step at the peak.
        step: usize,
        /// Bytes free on the device.
        free: u64,
        /// The largest halved chunk that fits.
        smaller_chunk: Option<usize>,
        /// The largest halved memory that fits.
        smaller_memory: Option<usize>,
    },
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
