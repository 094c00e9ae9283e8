//! The one error type of `mss-schedule`.

use crate::MemoryType;

/// What can go wrong while building or checking a schedule.
///
/// Every error is reported from user input; no input makes this crate panic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The prompt has no tokens.
    #[error("the prompt is empty: there is nothing to prefill")]
    EmptyPrompt,
    /// A size that must be positive is 0.
    #[error("{what} must be at least 1")]
    Zero {
        /// Which size.
        what: &'static str,
    },
    /// A size is beyond what the schedule supports (and what any machine could hold).
    #[error("{what} = {value} exceeds the supported maximum of {max}")]
    TooLarge {
        /// Which size.
        what: &'static str,
        /// The size given.
        value: usize,
        /// The largest size accepted.
        max: usize,
    },
    /// A name (memory type, incremental type) is not known.
    #[error(transparent)]
    UnknownName(#[from] crate::UnknownName),
    /// Decremental chunks were asked for with a memory type other than IM.
    #[error(
        "decremental chunks (IMDC) need memory type IM, not {memory_type}; \
         turn the decremental flag off or use IM"
    )]
    DecrementalNeedsIm {
        /// The memory type given.
        memory_type: MemoryType,
    },
    /// A layer-wise incremental type was asked for without the number of layers.
    #[error("incremental type `{curve}` is layer-wise and needs the number of layers")]
    MissingLayers {
        /// The layer-wise type.
        curve: &'static str,
    },
    /// A layer index is not below the number of layers.
    #[error("layer {layer} is out of range for {num_layers} layers")]
    LayerOutOfRange {
        /// The index given.
        layer: usize,
        /// The number of layers.
        num_layers: usize,
    },
    /// A step index is not below the number of chunks.
    #[error("step {step} is out of range for {n_chunks} chunks")]
    StepOutOfRange {
        /// The index given.
        step: usize,
        /// The number of chunks.
        n_chunks: usize,
    },
    /// The `adaptive` curve got a retention slice of the wrong length.
    #[error(
        "adaptive budgets need one retention value per layer: expected {expected}, got {actual}"
    )]
    RetentionLength {
        /// The number of layers.
        expected: usize,
        /// The number of values given.
        actual: usize,
    },
    /// The `adaptive` curve got a retention value that is NaN or infinite.
    #[error("retention of layer {layer} is not finite ({value})")]
    RetentionNotFinite {
        /// The layer.
        layer: usize,
        /// The value given.
        value: f64,
    },
    /// The decremental schedule gives a chunk no tokens: the memory is too large for the chunk.
    #[error(
        "decremental chunk {step} would have {size} tokens: the memory schedule grows by more \
         than a chunk; use a larger chunk, a smaller memory or standard chunks"
    )]
    NonPositiveChunk {
        /// The step whose chunk is empty or negative.
        step: usize,
        /// Its size as the formula gives it.
        size: i128,
    },
    /// Arithmetic overflowed; the sizes are beyond any machine.
    #[error("arithmetic overflow while computing {what}")]
    Overflow {
        /// What was being computed.
        what: &'static str,
    },
    /// A plan does not satisfy its invariants (see [`Plan::validate`](crate::Plan::validate)).
    #[error("invalid plan at step {step}: {reason}")]
    InvalidPlan {
        /// The first step that breaks an invariant.
        step: usize,
        /// Which invariant.
        reason: String,
    },
    /// The plan and the model disagree on the number of layers.
    #[error("the plan has {plan} layers but the model has {model}")]
    LayerMismatch {
        /// Layers of the plan.
        plan: usize,
        /// Layers of the model.
        model: usize,
    },
    /// The predicted peak working set exceeds the memory cap.
    #[error(
        "step {step} is predicted to need {predicted} bytes, more than the cap of {cap} bytes; {}",
        fit_hint(*smaller_chunk, *smaller_memory, "raise the cap or use a smaller model")
    )]
    ExceedsMemoryCap {
        /// The step at the peak.
        step: usize,
        /// Its predicted working set in bytes.
        predicted: u64,
        /// The cap in bytes.
        cap: u64,
        /// The largest chunk size (a power-of-two fraction of the asked one) that fits, the
        /// memory unchanged.
        smaller_chunk: Option<usize>,
        /// The largest memory size (likewise) that fits, the chunk unchanged.
        smaller_memory: Option<usize>,
    },
}

/// Result with [`ScheduleError`].
pub type Result<T> = std::result::Result<T, ScheduleError>;

/// What a refusal for memory suggests ([`ScheduleError::ExceedsMemoryCap`], and the
/// facade's device refusal): the halved chunk and memory that fit, or that none does and
/// what to do `otherwise`.
pub fn fit_hint(chunk: Option<usize>, memory: Option<usize>, otherwise: &str) -> String {
    match (chunk, memory) {
        (Some(c), Some(m)) => {
            format!("it fits with chunk {c} (same memory) or memory {m} (same chunk)")
        }
        (Some(c), None) => format!("it fits with chunk {c} (same memory)"),
        (None, Some(m)) => format!("it fits with memory {m} (same chunk)"),
        (None, None) => format!("no smaller chunk or memory fits: {otherwise}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_name_lists_the_choices() {
        let err: ScheduleError = "XX".parse::<crate::MemoryType>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown memory type `XX`; valid choices: full, no_compress, full_attention, \
             local, local_window, none, FM, Chunk_Streaming, IM, \
             Incremental_Chunk_Streaming_Dynamic_History, FI, \
             Incremental_Chunk_Streaming_Fixed_History"
        );
    }
}
