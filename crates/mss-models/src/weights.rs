//! Reading tensors from a Hugging Face folder: `model.safetensors` or a sharded
//! `model.safetensors.index.json`, in f32, f16 or bf16.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::DType;
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

use crate::json_file::read_text;
use crate::{ModelError, Result};

/// Where one tensor lies.
#[derive(Debug, Clone)]
struct Entry {
    file: usize,
    dtype: Dtype,
    shape: Vec<usize>,
    start: usize,
    end: usize,
}

/// The weights of a model folder, memory-mapped, read one tensor at a time.
#[derive(Debug)]
pub struct WeightFiles {
    dir: PathBuf,
    files: Vec<(PathBuf, Mmap)>,
    entries: HashMap<String, Entry>,
}

#[derive(Deserialize)]
struct ShardIndex {
    weight_map: HashMap<String, String>,
}

impl WeightFiles {
    /// Opens `model.safetensors`, or every shard listed in `model.safetensors.index.json`.
    pub fn open(dir: &Path) -> Result<Self> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let names: Vec<PathBuf> = if single.is_file() {
            vec![single]
        } else if index.is_file() {
            let text = read_text(&index)?;
            let parsed: ShardIndex =
                serde_json::from_str(&text).map_err(|e| ModelError::CorruptWeights {
                    path: index.clone(),
                    reason: e.to_string(),
                })?;
            let mut shards: Vec<String> = parsed.weight_map.into_values().collect();
            shards.sort();
            shards.dedup();
            shards.into_iter().map(|s| dir.join(s)).collect()
        } else {
            return Err(ModelError::NotFound {
                what: "model.safetensors or model.safetensors.index.json",
                path: dir.to_owned(),
            });
        };
        let mut files = Vec::with_capacity(names.len());
        let mut entries = HashMap::new();
        for (file, path) in names.into_iter().enumerate() {
            let mmap = map(&path)?;
            let corrupt = |reason: String| ModelError::CorruptWeights {
                path: path.clone(),
                reason,
            };
            let tensors = SafeTensors::deserialize(&mmap).map_err(|e| corrupt(e.to_string()))?;
            let base = mmap.as_ptr() as usize;
            for (name, view) in tensors.tensors() {
                let start = view.data().as_ptr() as usize - base;
                let end = start + view.data().len();
                entries.insert(
                    name,
                    Entry {
                        file,
                        dtype: view.dtype(),
                        shape: view.shape().to_vec(),
                        start,
                        end,
                    },
                );
            }
            files.push((path, mmap));
        }
        Ok(Self {
            dir: dir.to_owned(),
            files,
            entries,
        })
    }

    /// Whether the folder holds a tensor of this name.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Reads a tensor, checks its shape against `expected`, and creates it on `device` in `dtype`.
    pub fn tensor<B: Backend, const D: usize>(
        &self,
        name: &str,
        expected: [usize; D],
        dtype: DType,
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        let (values, _) = self.read_f32(name, &expected)?;
        Ok(Tensor::from_data(
            TensorData::new(values, expected),
            (device, dtype),
        ))
    }

    /// Reads a `[rows, cols]` matrix and creates its transpose `[cols, rows]`: Hugging Face stores
    /// linear weights as `[out, in]`, while `x.matmul(w)` wants `[in, out]`.
    pub fn transposed<B: Backend>(
        &self,
        name: &str,
        expected: [usize; 2],
        dtype: DType,
        device: &B::Device,
    ) -> Result<Tensor<B, 2>> {
        let (values, _) = self.read_f32(name, &expected)?;
        let [rows, cols] = expected;
        let t = transpose(&values, rows, cols);
        Ok(Tensor::from_data(
            TensorData::new(t, [cols, rows]),
            (device, dtype),
        ))
    }

    fn read_f32(&self, name: &str, expected: &[usize]) -> Result<(Vec<f32>, &Path)> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.to_owned(),
                dir: self.dir.clone(),
            })?;
        let (path, mmap) = &self.files[entry.file];
        if entry.shape != expected {
            return Err(ModelError::TensorShape {
                name: name.to_owned(),
                path: path.clone(),
                expected: expected.to_vec(),
                actual: entry.shape.clone(),
            });
        }
        let bytes = &mmap[entry.start..entry.end];
        let values = match entry.dtype {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(ModelError::TensorDtype {
                    name: name.to_owned(),
                    path: path.clone(),
                    dtype: format!("{other:?}"),
                });
            }
        };
        Ok((values, path))
    }
}

fn map(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(|source| ModelError::Io {
        path: path.to_owned(),
        source,
    })?;
    // SAFETY: the file is opened read-only and only read through this map; a concurrent writer
    // could change what we read, as it could with `read`, but cannot break memory safety of
    // the byte slices we copy out (they are plain bytes, validated by `SafeTensors`).
    #[allow(unsafe_code)]
    let mmap = unsafe { Mmap::map(&file) };
    mmap.map_err(|source| ModelError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The transpose `[cols, rows]` of a row-major `[rows, cols]` matrix, in square tiles so that
/// reads and writes both stay within a few cache lines (a row-by-row scatter took most of a
/// model load).
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE: usize = 32;
    let mut t = vec![0f32; values.len()];
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    t[c * rows + r] = values[r * cols + c];
                }
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_swaps_rows_and_columns() {
        for (rows, cols) in [(1, 1), (3, 70), (65, 33), (0, 4)] {
            let values: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let t = transpose(&values, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t[c * rows + r], values[r * cols + c]);
                }
            }
        }
    }
}
