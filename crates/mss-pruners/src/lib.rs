//! KV-cache pruners for chunked prefill: a scorer plus a selection rule, or (for the pruners that
//! look at positions only) a choice of the newest or oldest candidates made on the device.
//!
//! Each pruner is one file (its constructor is linked below) plus one line of the registry in
//! `kind.rs`, which names it once for [`PrunerKind`]'s parsing, listing and building.
//!
//! | name | keeps | needs |
//! | --- | --- | --- |
//! | [`streaming_llm`](streaming_llm()) | the most recent entries (plus the sinks) | nothing |
//! | [`chunk_prefix`](chunk_prefix()) | the oldest entries | nothing |
//! | [`h2o`](h2o()) | the highest attention accumulated over steps | column sums |
//! | [`tova`](tova()) | the highest attention from the chunk's last query | last query row |
//! | [`mean_attention`](mean_attention()) | the highest mean attention from the chunk's queries | column sums |
//! | [`snapkv`](snapkv()) (`conv`) | the highest pooled mean attention (kernel 5) | column sums |
//! | [`roco`](roco()) | the highest mean attention after demoting the lowest-std half of the budget | column sums, second moments |
//! | [`random`](random()) | a seeded random subset, the same on every head | nothing |
//!
//! Full attention and no memory (the seed's `no_compress` and `local_window`) keep everything
//! or nothing: they are memory types of the schedule (`mss_schedule::MemoryType`), not
//! pruners.
//!
//! Selection is per layer and per KV head (statistics arrive summed over each KV head's query
//! heads), kept indices are sorted, and ties go to the more recent entry. The sinks are kept by
//! the prefill loop and never reach a pruner. Pruners see tensors and statistics only.
//!
//! # Feature flags
//!
//! - `cuda`: on Burn's CUDA backend, top-k and SnapKV's scores run as the crate's CubeCL
//!   kernels (`use_top_k_kernel`, `use_score_kernel` switch them off).

mod chunk_prefix;
mod error;
mod h2o;
mod kind;
mod mean_attention;
#[cfg(feature = "cuda")]
mod pool_kernel;
#[cfg(feature = "cuda")]
pub use pool_kernel::{score_kernel_launches, use_score_kernel};
mod positional;
mod random;
mod roco;
mod snapkv;
mod stats;
mod streaming_llm;
mod top_k;
#[cfg(feature = "cuda")]
mod top_k_kernel;
#[cfg(feature = "cuda")]
pub(crate) use top_k_kernel::top_k_kernel_enabled;
#[cfg(feature = "cuda")]
pub use top_k_kernel::use_top_k_kernel;
mod tova;

pub use chunk_prefix::{ChunkPrefix, chunk_prefix};
pub use error::{PrunerError, Result};
pub use h2o::{Accumulated, h2o};
pub use kind::PrunerKind;
pub use mean_attention::{MeanAttention, mean_attention};
pub use positional::{End, keep_end};
pub use random::{RandomScores, random};
pub use roco::{StdFiltered, roco};
pub use snapkv::{PooledAttention, avg_pool, snapkv};
pub use streaming_llm::{StreamingLlm, streaming_llm};
pub use top_k::{TopK, rank_top_k, top_k, top_k_mask};
pub use tova::{LastQuery, tova};

#[cfg(test)]
pub(crate) mod tests {
    /// The CPU backend every unit test runs on.
    pub type TestBackend = burn::backend::Flex;
}
