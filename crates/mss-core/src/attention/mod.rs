//! Attention over `[memory; chunk]` with the statistics pruners need.
//!
//! Fused attention kernels never return attention weights, yet score-based pruners (H2O, SnapKV,
//! TOVA, RoCo) need some reduction of them. A pruner declares what it needs
//! ([`AttentionNeeds`]); [`attend`] computes exactly that and nothing more: with no needs it calls
//! Burn's fused kernel (unless [`use_attention_kernel`] says otherwise), otherwise it walks the chunk's queries in blocks so that no
//! `[heads, chunk, keys]` probability tensor of the whole chunk is ever held at once.

mod attend;
mod kernel;
mod mask;
mod needs;

pub use attend::{DEFAULT_QUERY_BLOCK, attend, repeat_kv};
pub use kernel::{AttentionKernel, attention_kernel, use_attention_kernel};
pub use mask::sliding_window_mask;
pub use needs::{AttentionNeeds, AttentionStats};
