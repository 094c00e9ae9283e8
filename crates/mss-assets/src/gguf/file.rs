//! An opened GGUF file (v2/v3, little-endian): header, metadata, tensor infos, and checked
//! access to each tensor's bytes. The file is memory-mapped.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use super::cursor::Cursor;
use super::dequant::dequantize;
use super::ggml_type::GgmlType;
use super::value::MetadataValue;
use crate::error::{AssetError, IoContext, Result};

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: &[u8; 4] = b"GGUF";
/// The metadata key that sets the data alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";
/// The data alignment when [`ALIGNMENT_KEY`] is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// GGML's limit on tensor dimensions.
const MAX_DIMS: u32 = 4;

/// One tensor's description from the GGUF header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The GGUF tensor name (`blk.0.attn_q.weight`, ...).
    pub name: String,
    /// Dimensions as GGUF lists them: fastest-varying first.
    pub dims: Vec<u64>,
    /// The element type.
    pub ggml_type: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    /// Number of elements.
    pub n_elements: u64,
    /// Number of bytes, when the type is known.
    pub n_bytes: Option<u64>,
}

impl TensorInfo {
    /// The row-major shape (GGUF's dimensions reversed), as safetensors and numpy write it.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
}

/// The file's bytes: mapped from disk, or owned (for in-memory files).
enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A parsed GGUF file.
pub struct GgufFile {
    pub(super) path: PathBuf,
    bytes: Bytes,
    version: u32,
    pub(super) metadata: Vec<(String, MetadataValue)>,
    pub(super) index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    alignment: u64,
    data_offset: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata_keys", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("alignment", &self.alignment)
            .field("data_offset", &self.data_offset)
            .finish()
    }
}

impl GgufFile {
    /// Opens and parses `path`, memory-mapping it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).at("opening", path)?;
        let len = file.metadata().at("inspecting", path)?.len();
        let bytes = if len == 0 {
            Bytes::Owned(Vec::new())
        } else {
            Bytes::Mapped(map(&file).at("memory-mapping", path)?)
        };
        Self::parse(path.to_path_buf(), bytes)
    }

    /// Parses a GGUF file held in memory; `label` stands for its path in errors.
    pub fn from_bytes(bytes: Vec<u8>, label: impl Into<PathBuf>) -> Result<Self> {
        Self::parse(label.into(), Bytes::Owned(bytes))
    }

    fn parse(path: PathBuf, bytes: Bytes) -> Result<Self> {
        let buf: &[u8] = &bytes;
        if buf.len() < 4 || &buf[..4] != GGUF_MAGIC {
            return Err(AssetError::BadMagic {
                path,
                found: buf[..buf.len().min(4)].to_vec(),
            });
        }
        let mut c = Cursor::new(buf, &path);
        c.take(4, "magic")?;
        let version = c.u32("version")?;
        if !matches!(version, 2 | 3) {
            return Err(AssetError::UnsupportedGgufVersion { path, version });
        }
        let tensor_count = c.u64("tensor count")?;
        let kv_count = c.u64("metadata count")?;

        let mut metadata = Vec::new();
        let mut index = HashMap::new();
        for i in 0..kv_count {
            let key = c.string(&format!("metadata key #{i}"))?;
            let ty = c.u32(&key)?;
            let value = c.value(ty, &key)?;
            if index.insert(key.clone(), metadata.len()).is_some() {
                return Err(c.corrupt(format!("metadata key {key:?} appears twice")));
            }
            metadata.push((key, value));
        }

        let mut tensors = Vec::new();
        let mut names = HashMap::new();
        for i in 0..tensor_count {
            let name = c.string(&format!("tensor name #{i}"))?;
            let n_dims = c.u32(&name)?;
            if n_dims > MAX_DIMS {
                return Err(c.corrupt(format!("tensor {name:?} has {n_dims} dimensions (max 4)")));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(c.u64(&name)?);
            }
            let ggml_type = GgmlType(c.u32(&name)?);
            let offset = c.u64(&name)?;
            if names.insert(name.clone(), i).is_some() {
                return Err(c.corrupt(format!("tensor {name:?} appears twice")));
            }
            let n_elements = dims
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d))
                .ok_or_else(|| c.corrupt(format!("tensor {name:?}: element count overflows")))?;
            let n_bytes = byte_size(&name, &dims, n_elements, ggml_type)?;
            tensors.push(TensorInfo {
                name,
                dims,
                ggml_type,
                offset,
                n_elements,
                n_bytes,
            });
        }

        let end_of_infos = c.pos() as u64;
        let len = buf.len() as u64;
        let mut file = Self {
            path,
            bytes: Bytes::Owned(Vec::new()),
            version,
            metadata,
            index,
            tensors,
            alignment: DEFAULT_ALIGNMENT,
            data_offset: 0,
        };
        file.alignment = match file.metadata_u64(ALIGNMENT_KEY)? {
            None => DEFAULT_ALIGNMENT,
            Some(a) if a.is_power_of_two() => a,
            Some(a) => {
                return Err(file.invalid(ALIGNMENT_KEY, format!("{a} is not a power of two")));
            }
        };
        file.data_offset = end_of_infos.next_multiple_of(file.alignment);
        file.check_tensor_bounds(len)?;
        file.bytes = bytes;
        Ok(file)
    }

    fn check_tensor_bounds(&self, len: u64) -> Result<()> {
        for t in &self.tensors {
            if !t.offset.is_multiple_of(self.alignment) {
                return Err(AssetError::CorruptGguf {
                    path: self.path.clone(),
                    reason: format!(
                        "tensor {:?}: offset {} is not a multiple of the alignment {}",
                        t.name, t.offset, self.alignment
                    ),
                });
            }
            let Some(n_bytes) = t.n_bytes else { continue };
            let start = self.data_offset.saturating_add(t.offset);
            let end = start.saturating_add(n_bytes);
            if end > len {
                return Err(AssetError::Truncated {
                    path: self.path.clone(),
                    what: format!("tensor {:?}", t.name),
                    start,
                    end,
                    len,
                });
            }
        }
        Ok(())
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The data alignment in bytes.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Where the tensor data section starts, in bytes from the start of the file.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// All metadata, in file order.
    pub fn metadata(&self) -> &[(String, MetadataValue)] {
        &self.metadata
    }

    /// All tensor infos, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor info named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The raw bytes of `tensor`.
    pub fn tensor_bytes(&self, tensor: &TensorInfo) -> Result<&[u8]> {
        let n_bytes = tensor
            .n_bytes
            .ok_or_else(|| AssetError::UnsupportedQuantization {
                tensor: tensor.name.clone(),
                ggml_type: tensor.ggml_type.to_string(),
            })?;
        let start = self.data_offset.saturating_add(tensor.offset);
        let end = start.saturating_add(n_bytes);
        let len = self.bytes.len() as u64;
        if end > len {
            return Err(AssetError::Truncated {
                path: self.path.clone(),
                what: format!("tensor {:?}", tensor.name),
                start,
                end,
                len,
            });
        }
        Ok(&self.bytes[start as usize..end as usize])
    }

    /// `tensor`'s values as f32, in GGUF order (fastest dimension first, which is row-major
    /// for [`TensorInfo::shape`]).
    pub fn dequantize(&self, tensor: &TensorInfo) -> Result<Vec<f32>> {
        dequantize(tensor.ggml_type, self.tensor_bytes(tensor)?, &tensor.name)
    }
}

/// Bytes of a tensor of `ggml_type`, `None` for an unknown type. The fastest dimension must
/// be a whole number of blocks.
fn byte_size(name: &str, dims: &[u64], n_elements: u64, ty: GgmlType) -> Result<Option<u64>> {
    let Some((block, size)) = ty.block_layout() else {
        return Ok(None);
    };
    let row = dims.first().copied().unwrap_or(1);
    if !row.is_multiple_of(block) {
        return Err(AssetError::InvalidTensor {
            tensor: name.to_owned(),
            reason: format!(
                "first dimension {row} is not a multiple of the {ty} block size {block}"
            ),
        });
    }
    (n_elements / block)
        .checked_mul(size)
        .map(Some)
        .ok_or_else(|| AssetError::InvalidTensor {
            tensor: name.to_owned(),
            reason: "byte size overflows".to_owned(),
        })
}

/// Memory-maps `file` read-only.
#[allow(unsafe_code)]
fn map(file: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only and private to this process. Like every mmap-based
    // reader, we rely on nobody truncating or rewriting the file while it is open; GGUF files
    // in the cache are written once, under a staging name, and renamed into place.
    unsafe { memmap2::Mmap::map(file) }
}
