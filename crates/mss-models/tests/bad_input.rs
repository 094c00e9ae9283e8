//! Bad model folders get typed errors that name what is wrong, never a panic.

mod common;

use std::path::Path;

use burn::tensor::DType;
use common::*;
use mss_models::{ModelError, Transformer};

fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture(name).join(file), dir.path().join(file)).unwrap();
    }
    dir
}

fn load_dir(dir: &Path) -> Result<Transformer<B>, ModelError> {
    Transformer::load(dir, &Default::default(), DType::F32)
}

#[test]
fn missing_folder_names_the_path() {
    let err = load_dir(Path::new("/no/such/model")).unwrap_err();
    assert!(matches!(err, ModelError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("/no/such/model"), "{err}");
}

#[test]
fn missing_weights_name_the_folder() {
    let dir = copy_fixture("tiny_llama");
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let err = load_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn incomplete_config_names_the_field() {
    let dir = copy_fixture("tiny_llama");
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"num_hidden_layers\": 2,", "");
    std::fs::write(&path, text).unwrap();
    let err = load_dir(dir.path()).unwrap_err();
    assert!(matches!(err, ModelError::ConfigSyntax { .. }), "{err}");
    assert!(err.to_string().contains("num_hidden_layers"), "{err}");
}

#[test]
fn shape_disagreeing_with_the_config_names_tensor_and_shapes() {
    let dir = copy_fixture("tiny_llama");
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"intermediate_size\": 96", "\"intermediate_size\": 80");
    std::fs::write(&path, text).unwrap();
    let err = load_dir(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::TensorShape { .. }), "{msg}");
    assert!(msg.contains("model.layers.0.mlp.gate_proj.weight"), "{msg}");
    assert!(
        msg.contains("[96, 64]") && msg.contains("[80, 64]"),
        "{msg}"
    );
}

#[test]
fn truncated_weights_are_reported_as_corrupt() {
    let dir = copy_fixture("tiny_llama");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_dir(dir.path()).unwrap_err();
    assert!(matches!(err, ModelError::CorruptWeights { .. }), "{err}");
}

#[test]
fn garbage_weights_are_reported_as_corrupt() {
    let dir = copy_fixture("tiny_llama");
    std::fs::write(
        dir.path().join("model.safetensors"),
        b"\xff\xff\xff\xff\xff\xff\xff\x7fgarbage",
    )
    .unwrap();
    let err = load_dir(dir.path()).unwrap_err();
    assert!(matches!(err, ModelError::CorruptWeights { .. }), "{err}");
}

#[test]
fn a_missing_tensor_is_named() {
    // An untied config over weights that have no lm_head.
    let dir = copy_fixture("tiny_mistral");
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "\"tie_word_embeddings\": true",
        "\"tie_word_embeddings\": false",
    );
    std::fs::write(&path, text).unwrap();
    let err = load_dir(dir.path()).unwrap_err();
    assert!(
        matches!(err, ModelError::MissingTensor { ref name, .. } if name == "lm_head.weight"),
        "{err}"
    );
}

#[test]
fn out_of_vocabulary_ids_are_rejected_before_the_embedding() {
    let model = load("tiny_llama", DType::F32);
    let err = model.check_tokens(&[3, 5, 128]).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::TokenOutOfVocabulary {
                id: 128,
                index: 2,
                vocab_size: 128
            }
        ),
        "{err}"
    );
    assert!(model.check_tokens(&[0, 127]).is_ok());
}

#[test]
fn an_empty_chunk_and_out_of_vocabulary_ids_are_errors_on_both_paths() {
    use mss_core::{ChunkPositions, ChunkedModel, Logits, NoMemory};
    let model = load("tiny_llama", DType::F32);
    let at_start = ChunkPositions {
        document_start: 0,
        rope_start: 0,
    };
    for host in [true, false] {
        let model = model.clone().with_host_kernels(host);
        let empty = tokens(&[]);
        let err = model
            .forward_chunk(empty, at_start, &mut NoMemory, Logits::Last)
            .unwrap_err();
        assert!(err.to_string().contains("at least one token"), "{err}");
    }
    // The host path checks ids itself (the Burn path's embedding would read past its table).
    let model = model.with_host_kernels(true);
    let err = model
        .forward_chunk(tokens(&[1, 200]), at_start, &mut NoMemory, Logits::Last)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("200 is outside the vocabulary of 128"),
        "{err}"
    );
}

#[test]
fn scoring_refuses_extra_or_unknown_targets_and_agrees_between_paths() {
    use mss_core::{ChunkPositions, ChunkedModel, NoMemory};
    let model = load("tiny_llama", DType::F32);
    let at_start = ChunkPositions {
        document_start: 0,
        rope_start: 0,
    };
    let ids = [3, 17, 42, 99, 5];
    let mut scores = Vec::new();
    for host in [true, false] {
        let model = model.clone().with_host_kernels(host);
        let err = model
            .forward_chunk_nll(tokens(&ids[..2]), at_start, &mut NoMemory, &[1, 2, 3])
            .unwrap_err();
        assert!(err.to_string().contains("3 targets for 2 tokens"), "{err}");
        let err = model
            .forward_chunk_nll(tokens(&ids[..2]), at_start, &mut NoMemory, &[1, 128])
            .unwrap_err();
        assert!(
            err.to_string().contains("128 is outside the vocabulary"),
            "{err}"
        );
        let (nll, last) = model
            .forward_chunk_nll(tokens(&ids[..4]), at_start, &mut NoMemory, &ids[1..])
            .unwrap();
        assert_eq!(nll.len(), 4);
        assert_eq!(last.dims(), [1, 1, 128]);
        assert!(nll.iter().all(|x| x.is_finite() && *x > 0.0), "{nll:?}");
        scores.push(nll);
    }
    for (host, burn) in scores[0].iter().zip(&scores[1]) {
        assert!((host - burn).abs() < 1e-5, "{host} vs {burn}");
    }
}
