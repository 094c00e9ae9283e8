//! Memory probing for chunked prefill: what the pruned memory keeps, forgets and is used for.
//!
//! Each probe is a [`MemoryObserver`](mss_core::MemoryObserver): the facade's
//! `Prefiller::prefill_observed` calls it after every layer's memory rewrite with the document
//! positions before and after, and the attention statistics it asked for. Without an observer
//! nothing is computed, so probes cost nothing when off. Every probe keys its values by step,
//! layer and KV head ([`HeadTable`]); positions are exact document positions, decremental
//! chunks included. Sinks are excluded from every measure.
//!
//! | probe | measures |
//! | --- | --- |
//! | [`Retention`] | share of the new memory that was already in the old memory (and share of the old memory kept) |
//! | [`Forgetting`] | share of memory whose position lies in tracked token ranges (default: the first chunk) |
//! | [`MemoryAttention`] | mean attention of the chunk's queries to memory entries, share of entries above the mean |
//! | [`Composition`] | kept entries by source chunk, per layer; memory usage; unique positions |
//!
//! [`Probes`] combines them into one observer (the union of their needs) and gives a
//! [`ProbeReport`]: JSON through serde, readable text through [`ProbeReport::to_text`], SVG
//! charts through [`plot`]. [`review`] is the review scheduler of the forgetting study: it
//! re-inserts copies of one chunk into the prompt and returns the ranges to track.
//!
//! ```no_run
//! # fn demo<B: burn::prelude::Backend>(
//! #     prefiller: &mut mss::Prefiller<B>,
//! #     model: &impl mss::core::ChunkedModel<B>,
//! #     tokens: &[u32],
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use mss_probe::Probes;
//! let mut probes = Probes::all();
//! prefiller.prefill_observed(model, tokens, &mut probes)?;
//! let report = probes.report().with_label("snapkv");
//! println!("{}", report.to_text());
//! # Ok(()) }
//! ```
//!
//! # Feature flags
//!
//! - `plot` (default): SVG charts through plotters (SVG backend only, no system fonts).

mod attention;
mod composition;
mod error;
mod event;
mod forgetting;
#[cfg(feature = "plot")]
pub mod plot;
mod probes;
mod report;
mod retention;
pub mod review;
mod table;
mod text;

pub use attention::MemoryAttention;
pub use composition::Composition;
pub use error::{ProbeError, Result};
pub use event::{HostEvent, Probe};
pub use forgetting::Forgetting;
pub use probes::Probes;
pub use report::{
    AttentionReport, CompositionReport, ForgettingReport, ProbeReport, RetentionReport,
};
pub use retention::Retention;
pub use review::{ReviewConfig, ReviewKind, Reviewed};
pub use table::HeadTable;

#[cfg(test)]
pub(crate) mod tests {
    /// The CPU backend every unit test runs on.
    pub type TestBackend = burn::backend::Flex;
}
