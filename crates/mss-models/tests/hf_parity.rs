//! Logits of the Burn models against Hugging Face transformers on tiny random-weight fixtures
//! (made by `scripts/make_golden_fixtures.py`).

mod common;

use burn::tensor::DType;
use common::*;
use mss_core::{AttentionNeeds, ChunkPositions, ChunkedModel, Logits, NoMemory};

const TOLERANCE: f32 = 1e-4;

fn one_shot(name: &str) -> f32 {
    let (ids, expected, _) = golden(name);
    relative_error(&logits(&load(name, DType::F32), &ids), &expected)
}

#[test]
fn llama_with_gqa_matches_transformers() {
    let err = one_shot("tiny_llama");
    assert!(err <= TOLERANCE, "relative error {err}");
}

#[test]
fn llama_with_dynamic_ntk_matches_transformers() {
    let err = one_shot("tiny_llama_dynamic");
    assert!(err <= TOLERANCE, "relative error {err}");
}

#[test]
fn mistral_with_a_sliding_window_matches_transformers() {
    let err = one_shot("tiny_mistral");
    assert!(err <= TOLERANCE, "relative error {err}");
}

#[test]
fn qwen2_with_q_k_v_biases_matches_transformers() {
    let err = one_shot("tiny_qwen2");
    assert!(err <= TOLERANCE, "relative error {err}");
    // The fixture's biases are random (transformers starts them at zero), so a model that
    // ignored them would fail the comparison above.
    let dir = fixture("tiny_qwen2");
    let config = mss_models::TransformerConfig::from_file(&dir.join("config.json")).unwrap();
    assert_eq!((config.qkv_bias, config.o_bias), (true, false));
}

#[test]
fn chunked_forward_through_the_hook_matches_transformers() {
    // Chunk boundaries inside and across Mistral's window of 8; the statistics path (blocked
    // attention) must give the same logits as the fused one.
    for name in ["tiny_llama", "tiny_mistral", "tiny_qwen2"] {
        let (ids, expected, _) = golden(name);
        let model = load(name, DType::F32);
        for (chunk, needs) in [
            (7, AttentionNeeds::NONE),
            (
                16,
                AttentionNeeds {
                    column_sums: true,
                    last_query: true,
                    second_moments: true,
                },
            ),
        ] {
            let err = relative_error(&chunked_logits(&model, &ids, chunk, needs), &expected);
            assert!(
                err <= TOLERANCE,
                "{name}, chunk {chunk}: relative error {err}"
            );
        }
    }
}

#[test]
fn last_logits_equal_the_last_row_of_all() {
    let (ids, expected, vocab) = golden("tiny_llama");
    let model = load("tiny_llama", DType::F32);
    let positions = ChunkPositions {
        document_start: 0,
        rope_start: 0,
    };
    let last = model
        .forward_chunk(tokens(&ids), positions, &mut NoMemory, Logits::Last)
        .unwrap();
    assert_eq!(last.dims(), [1, 1, vocab]);
    let err = relative_error(
        &last.into_data().to_vec::<f32>().unwrap(),
        &expected[expected.len() - vocab..],
    );
    assert!(err <= TOLERANCE, "relative error {err}");
}

#[test]
fn bf16_weights_stay_close_to_f32() {
    let (ids, expected, _) = golden("tiny_mistral");
    let model = load("tiny_mistral", DType::BF16);
    assert_eq!(model.dtype(), DType::BF16);
    let err = relative_error(&logits(&model, &ids), &expected);
    assert!(err < 5e-2, "relative error {err}");
}
