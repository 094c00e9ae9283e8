//! Fuzzing what a model folder holds (issue 14): `config.json` with hostile values in every
//! field and arbitrary text, `model.safetensors` with flipped bytes, huge header lengths,
//! rewritten header fields and truncations, and `tokenizer.json` mutated. Loading must give a
//! model or a typed error, never a panic and never an allocation sized by an unchecked field.
//! `PROPTEST_CASES` sets the budget (CI runs the default; docs/results/reliability.md records
//! a longer run).

mod common;

use std::path::Path;

use burn::tensor::DType;
use common::*;
use mss_core::{ChunkPositions, ChunkedModel, Logits, NoMemory};
use mss_models::{ModelError, Tokenizer, Transformer, TransformerConfig};
use proptest::prelude::*;
use serde_json::Value;

fn load_dir(dir: &Path) -> Result<Transformer<B>, ModelError> {
    Transformer::load(dir, &Default::default(), DType::F32)
}

/// A fresh copy of the tiny Llama fixture whose `file` is replaced by `bytes`.
fn folder_with(file: &str, bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture("tiny_llama").join(name), dir.path().join(name)).unwrap();
    }
    std::fs::write(dir.path().join(file), bytes).unwrap();
    dir
}

fn fixture_bytes(file: &str) -> Vec<u8> {
    std::fs::read(fixture("tiny_llama").join(file)).unwrap()
}

/// Values a stranger's config might hold where a size, a flag or a name is expected.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(serde_json::json!(0)),
        Just(serde_json::json!(-1)),
        Just(serde_json::json!(1)),
        Just(serde_json::json!(3)),
        Just(serde_json::json!(1u64 << 31)),
        Just(serde_json::json!(1u64 << 40)),
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(1e300)),
        Just(serde_json::json!(-0.5)),
        Just(serde_json::json!("llama")),
        Just(serde_json::json!("qwen2")),
        Just(serde_json::json!([])),
        Just(serde_json::json!({"rope_type": "yarn", "factor": 0})),
        Just(serde_json::json!({"rope_type": "llama3", "factor": 1e300})),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
    ]
}

/// The fixture's config keys, and nested rope keys.
const CONFIG_KEYS: &[&str] = &[
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "max_position_embeddings",
    "rms_norm_eps",
    "tie_word_embeddings",
    "attention_bias",
    "mlp_bias",
    "model_type",
    "hidden_act",
    "sliding_window",
    "eos_token_id",
    "bos_token_id",
    "rope_theta",
    "rope_scaling",
    "rope_parameters",
];

/// A small word-level `tokenizer.json`.
fn tokenizer_json() -> String {
    serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [{"id": 0, "content": "<unk>", "single_word": false, "lstrip": false,
                          "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": {"<unk>": 0, "hello": 1, "world": 2},
                  "unk_token": "<unk>"}
    })
    .to_string()
}

proptest! {
    #[test]
    fn hostile_config_values_are_typed_errors(
        edits in proptest::collection::vec(
            (proptest::sample::select(CONFIG_KEYS), hostile_value()), 1..4),
    ) {
        let mut config: Value = serde_json::from_slice(&fixture_bytes("config.json")).unwrap();
        for (key, value) in edits {
            config[key] = value;
        }
        let dir = folder_with("config.json", config.to_string().as_bytes());
        // A config the weights fit must also run (RoPE tables, windows, norms).
        if let Ok(model) = load_dir(dir.path()) {
            let positions = ChunkPositions { document_start: 0, rope_start: 0 };
            let _ = model.forward_chunk(tokens(&[1, 2, 3]), positions, &mut NoMemory, Logits::All);
        }
    }

    #[test]
    fn arbitrary_config_text_is_a_typed_error(text in ".{0,200}") {
        let _ = TransformerConfig::from_json(&text, Path::new("config.json"));
    }

    #[test]
    fn mutated_safetensors_are_typed_errors(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<bool>()), 1..4),
        header_len in prop_oneof![Just(None), any::<u64>().prop_map(Some),
                                  Just(Some(u64::MAX)), Just(Some(1u64 << 40))],
        cut in prop_oneof![Just(None), any::<usize>().prop_map(Some)],
    ) {
        let mut bytes = fixture_bytes("model.safetensors");
        let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let digits: Vec<usize> = (8..header).filter(|&i| bytes[i].is_ascii_digit()).collect();
        for (at, byte, digit) in edits {
            if digit {
                // A digit of the JSON header: offsets and shapes grow or shrink.
                bytes[digits[at % digits.len()]] = b'0' + byte % 10;
            } else {
                // Any byte of the JSON header (dtypes, names, shapes, offsets, syntax).
                bytes[8 + at % (header - 8)] = byte;
            }
        }
        if let Some(len) = header_len {
            bytes[..8].copy_from_slice(&len.to_le_bytes());
        }
        if let Some(cut) = cut {
            bytes.truncate(cut % bytes.len());
        }
        let dir = folder_with("model.safetensors", &bytes);
        let _ = load_dir(dir.path());
    }

    #[test]
    fn mutated_tokenizers_are_typed_errors(
        at in any::<usize>(),
        byte in any::<u8>(),
        cut in any::<usize>(),
    ) {
        let mut bytes = tokenizer_json().into_bytes();
        let n = bytes.len();
        bytes[at % n] = byte;
        bytes.truncate(n - cut % 8);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(tokenizer) = Tokenizer::from_file(&path)
            && let Ok(ids) = tokenizer.encode("hello world", true)
        {
            let _ = tokenizer.decode(&ids);
        }
    }
}

#[test]
fn the_unmutated_inputs_load() {
    let dir = folder_with("config.json", &fixture_bytes("config.json"));
    assert!(load_dir(dir.path()).is_ok());
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, tokenizer_json()).unwrap();
    let tokenizer = Tokenizer::from_file(&path).unwrap();
    assert_eq!(tokenizer.encode("hello world", false).unwrap(), [1, 2]);
}
