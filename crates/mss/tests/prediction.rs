//! `Prefiller::predict`: the working set the memory cap checks, available before a prefill.

mod common;

use common::*;
use mss::PrefillConfig;
use mss::Prefiller;
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;

#[test]
fn the_prediction_is_the_bound_the_memory_cap_enforces() {
    let model = tiny("tiny_llama");
    let prompt = ids(64, 128, 5);
    let config = PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Fm, 16, 16);
    let peak = Prefiller::new(config.clone())
        .unwrap()
        .predict(&model, prompt.len())
        .unwrap()
        .peak_bytes();
    assert!(peak > 0);
    Prefiller::new(config.clone())
        .unwrap()
        .with_memory_cap(peak)
        .prefill(&model, &prompt)
        .expect("a cap equal to the prediction fits");
    let err = Prefiller::new(config)
        .unwrap()
        .with_memory_cap(peak - 1)
        .prefill(&model, &prompt)
        .unwrap_err();
    assert!(err.to_string().contains(&peak.to_string()), "{err}");
}

#[test]
fn decremental_chunks_predict_less_kv_than_fixed_memory() {
    // IMDC keeps `c_i + m_(i-1)` at `c + mean(m)`, below FM's `c + M`, so the largest KV term
    // is smaller; the activation term may not be (the second chunk is longer than C).
    let model = tiny("tiny_llama");
    let largest_kv = |config: PrefillConfig| {
        Prefiller::new(config)
            .unwrap()
            .predict(&model, 256)
            .unwrap()
            .steps()
            .iter()
            .map(|s| s.kv_bytes)
            .max()
            .unwrap()
    };
    let fm = largest_kv(PrefillConfig::new(
        PrunerKind::SnapKv,
        MemoryType::Fm,
        32,
        32,
    ));
    let imdc = largest_kv(
        PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Im, 32, 32).with_decremental(true),
    );
    assert!(imdc < fm, "IMDC {imdc} vs FM {fm}");
}

#[test]
fn full_attention_predicts_a_working_set_that_grows_with_the_prompt() {
    let model = tiny("tiny_llama");
    let kv = |config: PrefillConfig| -> Vec<u64> {
        let prediction = Prefiller::new(config).unwrap().predict(&model, 64).unwrap();
        prediction.steps().iter().map(|s| s.kv_bytes).collect()
    };
    let full = kv(PrefillConfig::full_attention(16));
    assert!(full.windows(2).all(|w| w[0] < w[1]), "{full:?}");
    let fm = kv(PrefillConfig::new(
        PrunerKind::SnapKv,
        MemoryType::Fm,
        16,
        16,
    ));
    assert!(
        full[3] > fm[3],
        "the whole prompt outweighs M: {full:?} vs {fm:?}"
    );
}
