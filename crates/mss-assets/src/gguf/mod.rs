//! Reading GGUF files (v2 and v3): header, metadata of every type, tensor infos, and
//! dequantization to f32.
//!
//! GGUF lists tensor dimensions fastest-first; [`TensorInfo::shape`] gives the row-major
//! shape (the reverse).

mod cursor;
mod dequant;
mod file;
mod ggml_type;
mod metadata;
mod value;
mod writer;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

pub use dequant::dequantize;
pub use file::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufFile, TensorInfo};
pub use ggml_type::GgmlType;
pub use value::MetadataValue;
pub use writer::GgufWriter;
