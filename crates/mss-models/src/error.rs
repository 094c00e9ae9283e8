//! Errors of `mss-models`.

use std::path::PathBuf;

/// What can go wrong while loading or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A folder or file that must exist does not.
    #[error("{what} not found: {path}")]
    NotFound {
        /// What was looked for (e.g. "model folder", "config.json").
        what: &'static str,
        /// The path that was tried.
        path: PathBuf,
    },
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `config.json` is not valid JSON or lacks a required field.
    #[error("malformed config {path}: {source}")]
    ConfigSyntax {
        /// The config file.
        path: PathBuf,
        /// The parse error (it names the field).
        source: serde_json::Error,
    },
    /// `config.json` parses but describes something this crate cannot build.
    #[error("invalid config {path}: {field}: {reason}")]
    ConfigInvalid {
        /// The config file.
        path: PathBuf,
        /// The offending field.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// A weights file is truncated or corrupt.
    #[error("corrupt safetensors file {path}: {reason}")]
    CorruptWeights {
        /// The weights file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tensor the config requires is in no weights file.
    #[error("tensor {name} is missing from the weights in {dir}")]
    MissingTensor {
        /// The tensor name.
        name: String,
        /// The model folder.
        dir: PathBuf,
    },
    /// A tensor's shape disagrees with the config.
    #[error("tensor {name} in {path} has shape {actual:?}, but config.json implies {expected:?}")]
    TensorShape {
        /// The tensor name.
        name: String,
        /// The weights file.
        path: PathBuf,
        /// The shape the config implies.
        expected: Vec<usize>,
        /// The shape in the file.
        actual: Vec<usize>,
    },
    /// A tensor has a dtype this crate cannot load.
    #[error("tensor {name} in {path} has dtype {dtype}; supported: F32, F16, BF16")]
    TensorDtype {
        /// The tensor name.
        name: String,
        /// The weights file.
        path: PathBuf,
        /// The dtype in the file.
        dtype: String,
    },
    /// The tokenizer could not be loaded or used.
    #[error("tokenizer {path}: {reason}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A token id is outside the vocabulary.
    #[error("token id {id} at index {index} is outside the vocabulary (size {vocab_size})")]
    TokenOutOfVocabulary {
        /// The offending id.
        id: u32,
        /// Its index in the input.
        index: usize,
        /// The model's vocabulary size.
        vocab_size: usize,
    },
    /// A shape error from the shared core types (e.g. a hook returned a memory of the wrong shape).
    #[error(transparent)]
    Core(#[from] mss_core::CoreError),
}

/// Result with [`ModelError`].
pub type Result<T> = std::result::Result<T, ModelError>;
