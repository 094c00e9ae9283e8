//! Pruning one layer's KV entries: a [`Pruner`], usually a [`Scorer`] plus a [`Selector`]
//! joined by [`ScoredPruner`].
//!
//! Pruners see tensors and statistics only ([`PruneInput`]), never a model type.

mod base;
mod input;
mod scored;

pub use base::{Pruner, Scorer, Selector};
pub use input::PruneInput;
pub use scored::{ScoredPruner, keep_all};
