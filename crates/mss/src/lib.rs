//! `mss` — Memorize Step by Step: long-context prefill with bounded memory, in Rust on Burn.
//!
//! The facade re-exports the workspace's crates so that a user can depend on `mss` alone:
//!
//! - [`core`] (`mss-core`): KV memory, the per-layer chunk hook, attention statistics;
//! - [`models`] (`mss-models`): Llama and Mistral in Burn, Hugging Face loading, tokenizer;
//! - [`assets`] (`mss-assets`): the default model (SmolLM2-135M-Instruct) and texts, fetched
//!   with pip and converted from GGUF in Rust;
//! - [`schedule`], [`pruners`], [`probe`]: memory schedules, KV pruners and memory probing.
//!
//! It also composes them: [`DenseCache`] keeps every KV entry (full attention, chunk by chunk)
//! and [`generate`] continues a prompt greedily with streaming.
//!
//! ```no_run
//! use mss::{Cpu, DenseCache, Generation, Tokenizer, Transformer, generate};
//! use burn::tensor::DType;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = mss::assets::ensure_default_model()?;                      // 1. load
//! let device = Default::default();
//! let model = Transformer::<Cpu>::load(&dir, &device, DType::F32)?;
//! let tokenizer = Tokenizer::from_dir(&dir)?;
//! let prompt = tokenizer.encode("Once upon a time", false)?;
//! let options = Generation { max_new_tokens: 32, ..Generation::default() }; // 2. configure
//! let mut cache = DenseCache::new(&model);
//! let ids = generate(&model, &mut cache, &prompt, &options, &mut |_id| {})?; // 3. run
//! println!("{}", tokenizer.decode(&ids)?);
//! # Ok(()) }
//! ```
//!
//! # Feature flags
//!
//! - `flex` (default): the pure-Rust CPU backend, exported as [`Cpu`].
//! - `cuda`: NVIDIA GPUs through burn-cuda, exported as [`Cuda`] (NVRTC compiles kernels at run
//!   time; building needs no CUDA toolkit).

mod dense;
mod error;
mod generate;

pub use dense::DenseCache;
pub use error::{Error, Result};
pub use generate::{Generation, generate};

pub use mss_assets as assets;
pub use mss_core as core;
pub use mss_models as models;
pub use mss_probe as probe;
pub use mss_pruners as pruners;
pub use mss_schedule as schedule;

pub use mss_models::{Tokenizer, Transformer, TransformerConfig};

/// The CPU backend (Burn Flex).
#[cfg(feature = "flex")]
pub type Cpu = burn::backend::Flex;

/// The CUDA backend (burn-cuda, with fusion and autotune).
#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda;
