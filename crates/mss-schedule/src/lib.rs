//! Memory and chunk schedules of *Memorize Step by Step* (Zeng et al., EMNLP 2024) as pure
//! functions of numbers: no tensors, no devices, no Burn.
//!
//! A prefill splits a prompt of `L` tokens into chunks and, after each chunk, prunes the KV
//! cache to a memory (plus `S` sink tokens) that the next chunk reads. This crate decides the
//! chunk lengths and the memory budget of every step, up front, and predicts the working set:
//!
//! - [`MemoryType`]: FM (fixed memory `M`), IM (incremental: budgets grow to `M` along an
//!   [`IncrementalType`]), FI (fixed history: append [`fi_slices`] of each chunk), and the
//!   baselines full attention and no memory;
//! - [`Curve`] (`linear`, `square`, `sqrt`, `inverse_convex`, `inverse_concave`) and
//!   [`LayerwiseCurve`] (`square_sqrt`, `double_inverse`, `adaptive`, see
//!   [`adaptive_budgets`]), with the reference code's exact integer semantics;
//! - [`standard_chunks`] and [`decremental_chunks`] (IMDC);
//! - [`plan`] → [`Plan`]: chunk ranges and per-step [`Budget`]s, checked by
//!   [`Plan::validate`]; [`Plan::retain`] says what every layer keeps after a step
//!   ([`Retain`]), so a prefill loop never branches on the memory type;
//! - [`predict`] and [`check_fits`]: the working set per step and its peak, against a cap.
//!
//! ```
//! use mss_schedule::{Budget, MemoryType, ScheduleConfig, plan};
//!
//! let config = ScheduleConfig::new(MemoryType::Im, 1024, 1024).with_decremental(true);
//! let plan = plan(&config, 8192)?;
//! assert_eq!(plan.chunk_lengths(), [1024, 1408, 1280, 1152, 1024, 896, 768, 640]);
//! assert_eq!(plan.steps()[1].budget, Budget::Uniform(256));
//! # Ok::<(), mss_schedule::ScheduleError>(())
//! ```
//!
//! # Decisions where the reference code is broken or silent
//!
//! - `adaptive` crashes in the reference from step 2; here the caller passes the measured
//!   per-layer retention ([`Plan::resolve_budget`], [`adaptive_budgets`]).
//! - Decremental chunks with a layer-wise type crash in the reference; here they balance the
//!   layers' mean budget (for `adaptive`, the linear curve, which bounds that mean).
//! - Decremental chunks with FM or FI are silently ignored by the reference; here they are
//!   refused ([`ScheduleError::DecrementalNeedsIm`]).
//! - A decremental chunk of no tokens (memory too large for the chunk) is
//!   [`ScheduleError::NonPositiveChunk`].
//! - When a budget exceeds the candidates (early steps, `M ≥ L`), everything is kept:
//!   [`Step::memory_after`] is `min(budget, candidates)`.
//! - FI appends as intended (the reference's final code behaves like FM with budget `M / n`).
//!
//! # Feature flags
//!
//! None.

#![warn(missing_docs)]

mod budget;
mod chunks;
mod config;
mod cost;
mod cost_model;
mod error;
mod fixed_history;
mod incremental;
mod incremental_type;
mod layerwise;
mod limits;
mod memory_type;
pub mod names;
mod plan;
mod retain;
mod validate;

#[cfg(test)]
mod plan_tables;
#[cfg(test)]
mod properties;

pub use budget::Budget;
pub use chunks::{decremental_chunks, decremental_chunks_for, num_chunks, standard_chunks};
pub use config::{DEFAULT_SINKS, ScheduleConfig};
pub use cost::{Prediction, StepCost, check_fits, predict, step_cost};
pub use cost_model::{
    AttentionMode, CostModel, DEFAULT_ACTIVATION_FACTOR, F32_BYTES, LayerKv, LogitRows, ModelDims,
    QueryBlocks,
};
pub use error::{Result, ScheduleError, fit_hint};
pub use fixed_history::fi_slices;
pub use incremental::Curve;
pub use incremental_type::IncrementalType;
pub use layerwise::{LayerwiseCurve, adaptive_budgets};
pub use limits::{MAX_CHUNKS, MAX_LAYERS, MAX_PLAN_ENTRIES, MAX_TOKENS};
pub use memory_type::MemoryType;
pub use names::{Named, UnknownName};
pub use plan::{Plan, Step, plan};
pub use retain::Retain;
