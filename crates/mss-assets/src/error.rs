//! The crate's error type: every bad input becomes one typed [`AssetError`] that names the path,
//! tensor, key or value at fault.

use std::path::PathBuf;

/// Result with [`AssetError`].
pub type Result<T> = std::result::Result<T, AssetError>;

/// What went wrong while fetching, reading or converting an asset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssetError {
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("reading", "creating", ...).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// No cache folder could be chosen.
    #[error("no cache folder: set MSS_CACHE_DIR (or XDG_CACHE_HOME or HOME) to a writable folder")]
    NoCacheDir,

    /// None of the pip commands could be started.
    #[error(
        "pip is not available (tried: {tried}); install Python 3 with pip \
         (Debian: apt-get install python3-pip)"
    )]
    PipMissing {
        /// The commands that were tried.
        tried: String,
    },

    /// pip ran but failed.
    #[error("pip download of {package} failed ({status}); end of its output:\n{stderr}")]
    PipFailed {
        /// The requirement that was asked for (`name==version`).
        package: String,
        /// How pip exited.
        status: String,
        /// The last lines pip wrote to stderr.
        stderr: String,
    },

    /// A download or archive did not hold what was expected.
    #[error("{path}: {reason}")]
    UnexpectedContent {
        /// The folder or archive.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },

    /// A zip archive (a wheel) could not be read.
    #[error("reading zip archive {path}: {source}")]
    Zip {
        /// The archive.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: zip::result::ZipError,
    },

    /// The file does not start with the GGUF magic.
    #[error("{path}: not a GGUF file (magic {found:02x?}, expected \"GGUF\")")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first bytes found.
        found: Vec<u8>,
    },

    /// A GGUF version other than 2 or 3 (or a big-endian file).
    #[error("{path}: unsupported GGUF version {version} (supported: 2, 3, little-endian)")]
    UnsupportedGgufVersion {
        /// The file.
        path: PathBuf,
        /// The version field as read.
        version: u32,
    },

    /// The file ends before a structure it declares.
    #[error("{path}: truncated GGUF: {what} needs bytes {start}..{end} but the file has {len}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What was being read.
        what: String,
        /// First byte needed.
        start: u64,
        /// One past the last byte needed.
        end: u64,
        /// The file's length.
        len: u64,
    },

    /// The file is structurally inconsistent.
    #[error("{path}: corrupt GGUF: {reason}")]
    CorruptGguf {
        /// The file.
        path: PathBuf,
        /// What is inconsistent.
        reason: String,
    },

    /// A required metadata key is absent.
    #[error("{path}: missing GGUF metadata key {key:?}")]
    MissingMetadata {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },

    /// A metadata value has the wrong type or an unusable value.
    #[error("{path}: GGUF metadata {key:?}: {reason}")]
    InvalidMetadata {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// `general.architecture` is not one this crate converts.
    #[error("{path}: unsupported architecture {architecture:?} (supported: llama, mistral)")]
    UnsupportedArchitecture {
        /// The file.
        path: PathBuf,
        /// The architecture found.
        architecture: String,
    },

    /// `tokenizer.ggml.model` is not one this crate converts.
    #[error("{path}: unsupported tokenizer model {model:?} (supported: gpt2 byte-level BPE)")]
    UnsupportedTokenizer {
        /// The file.
        path: PathBuf,
        /// The tokenizer model found.
        model: String,
    },

    /// A tensor uses a GGML type this crate cannot dequantize.
    #[error(
        "tensor {tensor:?}: unsupported quantization {ggml_type} \
         (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)"
    )]
    UnsupportedQuantization {
        /// The tensor's name.
        tensor: String,
        /// The type's name, or `type id N` for an unknown id.
        ggml_type: String,
    },

    /// A tensor has a name with no Hugging Face counterpart.
    #[error("tensor {tensor:?}: no Hugging Face name for it")]
    UnknownTensorName {
        /// The tensor's GGUF name.
        tensor: String,
    },

    /// A tensor's shape or layout is unusable.
    #[error("tensor {tensor:?}: {reason}")]
    InvalidTensor {
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        reason: String,
    },

    /// Conversion would overwrite a non-empty folder.
    #[error("output folder {path} already exists and is not empty")]
    OutputExists {
        /// The folder.
        path: PathBuf,
    },

    /// Writing safetensors failed.
    #[error("writing safetensors {path}: {source}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: safetensors::SafeTensorError,
    },

    /// Writing JSON failed.
    #[error("writing JSON {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl AssetError {
    /// Wraps an I/O error with the operation and path it came from.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Adds `.at(op, path)` to I/O results.
pub(crate) trait IoContext<T> {
    /// Maps an I/O error to [`AssetError::Io`] naming `op` and `path`.
    fn at(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| AssetError::io(op, path, e))
    }
}
