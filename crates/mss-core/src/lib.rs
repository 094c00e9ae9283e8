//! Traits and types shared by every `mss` crate.
//!
//! `mss` prefills long prompts chunk by chunk. After each chunk, every layer's KV cache
//! (old memory + new chunk) is pruned into a memory that the next chunk attends to. This crate
//! holds what the model side and the pruning side both speak, and nothing model-specific:
//!
//! - [`LayerKv`]: one layer's cached keys (before RoPE), values and document positions;
//! - [`ChunkHook`]: the narrow per-layer hook through which a chunked forward pass reads each
//!   layer's memory and hands back `[memory; chunk]` (the chunk's new keys and values after the
//!   memory's) plus attention statistics;
//! - [`ChunkedModel`]: what a model must offer to be prefilled chunk by chunk, and
//!   [`attend_layer`]: one attention layer's whole part in it (memory, RoPE at this step's
//!   positions, statistics, hook calls), so that a model of your own needs a few lines;
//! - [`prune`]: the [`Pruner`] trait, and [`ScoredPruner`], one built from a [`Scorer`] and a
//!   [`Selector`];
//! - [`MemoryObserver`]: how a probe watches each layer's memory being rewritten;
//! - [`attention`]: scaled dot-product attention over `[memory; chunk]` that computes exactly the
//!   statistics a pruner declares it needs ([`AttentionNeeds`]), tiled over query blocks.
//!
//! # Feature flags
//!
//! - `cuda`: the `cuda` module, the plumbing by which other crates add their own kernels to Burn's CUDA
//!   backend. This crate enables no Burn backend itself: pick one in the binary (`mss/flex`,
//!   `mss/cuda`).

pub mod attention;
mod blocks;
#[cfg(feature = "cuda")]
pub mod cuda;
mod error;
mod hook;
mod kv;
mod layer;
mod nll;
mod observe;
pub mod prune;
mod reuse;
mod source_hash;

pub use attention::{AttentionNeeds, AttentionStats};
pub use blocks::cat_blocks;
pub use error::{CoreError, Result};
pub use hook::{
    ChunkHook, ChunkPositions, ChunkedModel, LayerMemory, Logits, ModelShape, NoMemory,
    RopePositions, WorkingSet,
};
pub use kv::{LayerKv, per_head_range, row_offsets};
pub use layer::{Joined, attend_layer, join_memory};
pub use nll::{check_targets, next_token_nll, score_logits};
pub use observe::{MemoryEvent, MemoryObserver};
pub use prune::{PruneInput, Pruner, ScoredPruner, Scorer, Selector};
pub use reuse::reuse_or_build;
pub use source_hash::source_hash;

#[cfg(test)]
pub(crate) mod tests {
    /// The CPU backend every unit test runs on.
    pub type TestBackend = burn::backend::Flex;
}
