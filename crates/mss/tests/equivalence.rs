//! Chunked prefill without pruning equals one forward pass over the whole prompt.

mod common;

use common::*;
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss::{Generation, PositionMode, PrefillConfig, Prefiller, generate};

const TOLERANCE: f32 = 1e-5;

#[test]
fn chunked_no_compress_equals_the_one_shot_forward() {
    for name in ["tiny_llama", "tiny_mistral"] {
        let model = tiny(name);
        let prompt = ids(70, 128, 1);
        let expected = one_shot_nll(&model, &prompt);
        for positions in [PositionMode::Compact, PositionMode::Original] {
            let config = PrefillConfig::full_attention(16).with_positions(positions);
            let prefill = Prefiller::new(config)
                .unwrap()
                .with_nll(true)
                .prefill(&model, &prompt)
                .unwrap();
            let nll = prefill.nll.unwrap();
            assert_eq!(nll.len(), prompt.len() - 1);
            let err = relative_error(&nll, &expected);
            assert!(err <= TOLERANCE, "{name} {positions}: relative error {err}");
            assert_eq!(prefill.memory.lens(), vec![70, 70]);
        }
    }
}

#[test]
fn fm_with_memory_at_least_the_prompt_equals_the_one_shot_forward() {
    for name in ["tiny_llama", "tiny_mistral"] {
        let model = tiny(name);
        let prompt = ids(50, 128, 2);
        let expected = one_shot_nll(&model, &prompt);
        for pruner in [
            PrunerKind::StreamingLlm,
            PrunerKind::SnapKv,
            PrunerKind::H2o,
        ] {
            let config = PrefillConfig::new(pruner, MemoryType::Fm, 12, 64);
            let prefill = Prefiller::new(config)
                .unwrap()
                .with_nll(true)
                .prefill(&model, &prompt)
                .unwrap();
            let err = relative_error(&prefill.nll.unwrap(), &expected);
            assert!(err <= TOLERANCE, "{name} {pruner}: relative error {err}");
            assert_eq!(prefill.memory.lens(), vec![50, 50], "nothing pruned");
        }
    }
}

#[test]
fn generation_feeds_only_new_tokens_at_the_right_positions() {
    // Greedy tokens from the memory must be the argmax of a one-shot forward over
    // prompt + generated tokens: any position slip would change them.
    let model = tiny("tiny_mistral");
    let prompt = ids(30, 128, 3);
    for positions in [PositionMode::Compact, PositionMode::Original] {
        let config = PrefillConfig::full_attention(8).with_positions(positions);
        let mut prefill = Prefiller::new(config)
            .unwrap()
            .prefill(&model, &prompt)
            .unwrap();
        let options = Generation {
            max_new_tokens: 12,
            ..Generation::default()
        };
        let mut streamed = Vec::new();
        let new = generate(&model, &mut prefill, &options, &mut |id| streamed.push(id)).unwrap();
        assert_eq!(new, streamed);
        assert_eq!(new.len(), 12);
        assert_eq!(prefill.memory.consumed(), 30 + 12);
        let mut all = prompt.clone();
        all.extend(&new);
        let logits = one_shot_logits(&model, &all);
        for (i, &token) in new.iter().enumerate() {
            let row = &logits[(29 + i) * 128..(30 + i) * 128];
            let argmax = (0..128)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                .unwrap();
            assert_eq!(token as usize, argmax, "{positions}: token {i}");
        }
    }
}

#[test]
fn query_block_size_changes_no_choice() {
    // Statistics computed one query at a time, three at a time, or the whole chunk at once give
    // the same memory and (within rounding) the same NLL.
    use mss::schedule::QueryBlocks;
    let model = tiny("tiny_llama");
    let prompt = ids(60, 128, 4);
    for pruner in [PrunerKind::SnapKv, PrunerKind::H2o, PrunerKind::Tova] {
        let run = |blocks: QueryBlocks| {
            let config = PrefillConfig::new(pruner, MemoryType::Im, 16, 12)
                .with_decremental(true)
                .with_query_blocks(blocks);
            let prefill = Prefiller::new(config)
                .unwrap()
                .with_nll(true)
                .prefill(&model, &prompt)
                .unwrap();
            let positions: Vec<Vec<i64>> = (0..model.config.num_hidden_layers)
                .map(|layer| {
                    let kv = prefill.memory.layer(layer).expect("a memory");
                    kv.positions
                        .clone()
                        .into_data()
                        .convert::<i64>()
                        .to_vec()
                        .unwrap()
                })
                .collect();
            (positions, prefill.nll.unwrap())
        };
        let (whole, whole_nll) = run(QueryBlocks::DEFAULT);
        for rows in [1, 3] {
            let (blocked, blocked_nll) = run(QueryBlocks::fixed(rows));
            assert_eq!(blocked, whole, "{pruner}, blocks of {rows}");
            let err = relative_error(&blocked_nll, &whole_nll);
            assert!(
                err <= TOLERANCE,
                "{pruner}, blocks of {rows}: relative error {err}"
            );
        }
    }
}
