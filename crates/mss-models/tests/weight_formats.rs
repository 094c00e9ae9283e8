//! Sharded checkpoints (`model.safetensors.index.json`) and f16/bf16 files load to the same
//! model as the single f32 file.

mod common;

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::DType;
use common::*;
use mss_models::Transformer;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

/// Every tensor of the fixture as (name, shape, f32 values).
fn tensors(name: &str) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(fixture(name).join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| {
            let values = v
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (n, v.shape().to_vec(), values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn encode(values: &[f32], dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::F16 => values
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect(),
        Dtype::BF16 => values
            .iter()
            .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
            .collect(),
        other => panic!("{other:?}"),
    }
}

fn write(path: &Path, tensors: &[(String, Vec<usize>, Vec<u8>)], dtype: Dtype) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, shape, bytes)| {
            (
                n.clone(),
                TensorView::new(dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

#[test]
fn a_sharded_checkpoint_loads_like_the_single_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("tiny_llama").join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let all: Vec<_> = tensors("tiny_llama")
        .into_iter()
        .map(|(n, s, v)| (n, s, encode(&v, Dtype::F32)))
        .collect();
    let (first, second) = all.split_at(all.len() / 2);
    let mut map = HashMap::new();
    for (file, part) in [
        ("model-00001-of-00002.safetensors", first),
        ("model-00002-of-00002.safetensors", second),
    ] {
        write(&dir.path().join(file), part, Dtype::F32);
        for (n, _, _) in part {
            map.insert(n.clone(), file.to_owned());
        }
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": map });
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();

    let (ids, _, _) = golden("tiny_llama");
    let sharded = Transformer::<B>::load(dir.path(), &Default::default(), DType::F32).unwrap();
    assert_eq!(
        logits(&sharded, &ids),
        logits(&load("tiny_llama", DType::F32), &ids)
    );
}

#[test]
fn half_precision_files_load_and_cast_to_the_requested_dtype() {
    let (ids, _, _) = golden("tiny_mistral");
    let reference = logits(&load("tiny_mistral", DType::F32), &ids);
    for file_dtype in [Dtype::F16, Dtype::BF16] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixture("tiny_mistral").join("config.json"),
            dir.path().join("config.json"),
        )
        .unwrap();
        let all: Vec<_> = tensors("tiny_mistral")
            .into_iter()
            .map(|(n, s, v)| (n, s, encode(&v, file_dtype)))
            .collect();
        write(&dir.path().join("model.safetensors"), &all, file_dtype);
        let model = Transformer::<B>::load(dir.path(), &Default::default(), DType::F32).unwrap();
        assert_eq!(model.dtype(), DType::F32);
        let err = relative_error(&logits(&model, &ids), &reference);
        // Only the weights were rounded: f16 keeps 11 significant bits, bf16 8.
        let bound = if file_dtype == Dtype::F16 { 2e-3 } else { 2e-2 };
        assert!(err < bound, "{file_dtype:?}: relative error {err}");
    }
}
