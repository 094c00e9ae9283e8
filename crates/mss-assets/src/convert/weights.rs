//! GGUF tensors to `model.safetensors`: dequantize, undo the Q/K rotary permutation, rename,
//! cast to the output dtype.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, View};

use super::OutputDtype;
use super::names::hf_tensor_name;
use super::permute::reverse_permute;
use crate::error::{AssetError, Result};
use crate::gguf::{GgmlType, GgufFile, TensorInfo};

/// One converted tensor.
pub(crate) struct OutTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &OutTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Types [`crate::gguf::dequantize`] handles.
const SUPPORTED: [GgmlType; 6] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
];

/// Checks every tensor's name and type before any heavy work.
pub(crate) fn check_tensors(g: &GgufFile) -> Result<()> {
    for t in g.tensors() {
        hf_tensor_name(&t.name)?;
        if !SUPPORTED.contains(&t.ggml_type) {
            return Err(AssetError::UnsupportedQuantization {
                tensor: t.name.clone(),
                ggml_type: t.ggml_type.to_string(),
            });
        }
    }
    Ok(())
}

/// Converts one tensor; `n_head` / `n_kv` drive the Q / K un-permutation.
pub(crate) fn convert_tensor(
    g: &GgufFile,
    t: &TensorInfo,
    n_head: usize,
    n_kv: usize,
    dtype: OutputDtype,
) -> Result<(String, OutTensor)> {
    let shape = t.shape();
    let mut values = g.dequantize(t)?;
    let heads = if t.name.contains(".attn_q.") {
        Some(n_head)
    } else if t.name.contains(".attn_k.") {
        Some(n_kv)
    } else {
        None
    };
    if let Some(heads) = heads {
        let rows = shape.first().copied().unwrap_or(1);
        let cols = shape.iter().skip(1).product();
        values = reverse_permute(&values, rows, cols, heads, &t.name)?;
    }
    let data = match dtype {
        OutputDtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        OutputDtype::F16 => values
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect(),
        OutputDtype::BF16 => values
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect(),
    };
    let tensor = OutTensor {
        dtype: dtype.safetensors_dtype(),
        shape,
        data,
    };
    Ok((hf_tensor_name(&t.name)?, tensor))
}

/// Writes `tensors` to `path` with metadata `{"format": "pt"}`.
pub(crate) fn write_safetensors(path: &Path, tensors: &[(String, OutTensor)]) -> Result<()> {
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    safetensors::serialize_to_file(
        tensors.iter().map(|(n, t)| (n.as_str(), t)),
        Some(metadata),
        path,
    )
    .map_err(|source| AssetError::Safetensors {
        path: path.to_path_buf(),
        source,
    })
}
