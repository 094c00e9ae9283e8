//! Llama, Mistral and Qwen2 decoders in Burn, loaded from Hugging Face folders.
//!
//! A model folder holds `config.json`, `model.safetensors` (or shards listed in
//! `model.safetensors.index.json`) and `tokenizer.json`. [`Transformer::load`] reads it in the
//! dtype you ask for; [`Tokenizer::from_dir`] reads the tokenizer offline.
//!
//! The forward pass runs one chunk at a time through [`mss_core::ChunkHook`]: for every layer it
//! asks the hook for the memory to attend to (keys before RoPE, values, RoPE positions) and hands
//! back `[memory; chunk]` (the chunk's new keys and values after the memory's) plus the
//! attention statistics the hook asked for. The
//! models know nothing about pruners, schedules or probes.
//!
//! Supported: GQA, RMSNorm, SwiGLU, rotate-half RoPE (plain, linear, dynamic NTK, Llama 3),
//! tied embeddings, Mistral's sliding window, optional attention/MLP biases (Qwen2's q/k/v biases).
//!
//! On the Flex (CPU) backend an f32 model runs its forward pass through the crate's own host
//! kernels (fused element-wise loops, `gemm` products, a blocked attention that also yields the
//! statistics); every other backend and dtype runs the generic Burn operations
//! ([`Transformer::with_host_kernels`]).
//!
//! # Feature flags
//!
//! The crate is generic over `B: Backend`; pick a backend in the binary.
//! - `cuda`: on Burn's CUDA backend, linear layers run their products through cuBLAS (loaded
//!   at run time; Burn's own product where it is missing, or after `use_cublas(false)`), and so
//!   does the attention of chunks without statistics, around one softmax kernel ([`attend`]).

mod attention;
mod chat_template;
mod config;
mod cublas_workspace;
mod cuda;
mod error;
mod generation_config;
mod hf_config;
mod host;
mod json_file;
mod layer;
mod linear;
mod mlp;
mod norm;
pub mod rope;
mod tokenizer;
mod transformer;
mod weight_layout;
mod weight_source;
mod weights;

pub use attention::{Attention, attend};
pub use chat_template::{ChatMessage, ChatTemplate};
pub use config::{Architecture, TransformerConfig};
pub use cublas_workspace::{
    CublasWorkspace, InvalidCublasWorkspace, MAX_CUBLAS_WORKSPACE_MIB, cublas_workspace,
    set_cublas_workspace,
};
#[cfg(feature = "cuda")]
pub use cuda::{
    CudnnPlans, DEFAULT_SCORE_BLOCK_ELEMENTS, DevicePool, KERNEL_CACHE_ENV, ProductOrdering,
    cublas_available, cublas_ordering, cudnn_attention_available, cudnn_attention_enabled,
    cudnn_attention_runs, cudnn_attention_supported, cudnn_plans, cudnn_version, device_pool,
    exact_size_allocations, join_kernel_launches, order_cublas, persist_kernel_caches,
    release_after_queued_work, release_unused_device_memory, rope_kernel_enabled,
    set_attention_score_block, set_flash_rows_per_plane, set_statistics_rows_per_plane,
    statistics_rows_per_plane, use_cublas, use_cudnn_attention, use_flash_attention,
    use_rope_kernel,
};
pub use error::{ModelError, Result};
pub use generation_config::GenerationConfig;
pub use layer::DecoderLayer;
pub use linear::{Linear, project};
pub use mlp::Mlp;
pub use norm::RmsNorm;
pub use rope::RopeScaling;
pub use tokenizer::{TextStream, Tokenizer};
pub use transformer::Transformer;
pub use weight_layout::{
    Projection, UnknownProjection, keep_weights_as_stored, weights_kept_as_stored,
};
pub use weights::WeightFiles;
