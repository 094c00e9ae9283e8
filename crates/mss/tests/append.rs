//! Appending tokens after a prefill (a question after a long context) feeds them without
//! pruning, at the next positions.

mod common;

use common::*;
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss::{Error, PositionMode, PrefillConfig, Prefiller};

const TOLERANCE: f32 = 1e-5;

fn next_logits(prefill: &mss::Prefill<B>) -> Vec<f32> {
    prefill.next_logits.to_data().to_vec().unwrap()
}

#[test]
fn a_question_after_a_full_context_predicts_as_one_forward_pass() {
    for name in ["tiny_llama", "tiny_mistral"] {
        let model = tiny(name);
        let vocab = model.config.vocab_size;
        let context = ids(40, 128, 3);
        let question = ids(9, 128, 4);
        let whole: Vec<u32> = context.iter().chain(&question).copied().collect();
        let all = one_shot_logits(&model, &whole);
        let expected = &all[(whole.len() - 1) * vocab..];
        for positions in [PositionMode::Compact, PositionMode::Original] {
            let config = PrefillConfig::full_attention(16).with_positions(positions);
            let mut prefill = Prefiller::new(config)
                .unwrap()
                .prefill(&model, &context)
                .unwrap();
            prefill.append(&model, &question).unwrap();
            let err = relative_error(&next_logits(&prefill), expected);
            assert!(err <= TOLERANCE, "{name} {positions}: relative error {err}");
            assert_eq!(prefill.memory.consumed(), whole.len());
            assert_eq!(prefill.memory.lens(), vec![whole.len(); 2]);
        }
    }
}

#[test]
fn a_question_after_a_pruned_context_is_appended_whole_and_equals_token_by_token() {
    let model = tiny("tiny_llama");
    let context = ids(64, 128, 5);
    let question = ids(7, 128, 6);
    let config = PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Fm, 16, 12);
    let prefill = Prefiller::new(config)
        .unwrap()
        .prefill(&model, &context)
        .unwrap();
    let pruned = prefill.memory.lens();
    assert!(pruned.iter().all(|&len| len < context.len()), "{pruned:?}");

    let mut at_once = prefill.clone();
    at_once.append(&model, &question).unwrap();
    let mut one_by_one = prefill;
    for &id in &question {
        one_by_one.append(&model, &[id]).unwrap();
    }
    let err = relative_error(&next_logits(&at_once), &next_logits(&one_by_one));
    assert!(err <= TOLERANCE, "relative error {err}");
    let grown: Vec<usize> = pruned.iter().map(|len| len + question.len()).collect();
    assert_eq!(
        at_once.memory.lens(),
        grown,
        "nothing pruned while appending"
    );
    assert_eq!(at_once.memory.consumed(), context.len() + question.len());
}

#[test]
fn appending_an_unknown_token_is_an_error_that_changes_nothing() {
    let model = tiny("tiny_llama");
    let config = PrefillConfig::new(PrunerKind::StreamingLlm, MemoryType::Fm, 8, 8);
    let mut prefill = Prefiller::new(config)
        .unwrap()
        .prefill(&model, &ids(20, 128, 7))
        .unwrap();
    let before = (prefill.memory.lens(), prefill.memory.consumed());
    let vocab = model.config.vocab_size as u32;
    let err = prefill.append(&model, &[1, vocab]).unwrap_err();
    assert!(
        matches!(err, Error::TokenOutOfVocabulary { id, index: 1, .. } if id == vocab),
        "{err}"
    );
    assert_eq!((prefill.memory.lens(), prefill.memory.consumed()), before);
    prefill.append(&model, &[]).unwrap();
    assert_eq!((prefill.memory.lens(), prefill.memory.consumed()), before);
}
