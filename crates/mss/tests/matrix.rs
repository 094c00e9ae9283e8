//! Every pruner × every memory type (FM, IM-linear, IMDC, FI) and the baselines (full
//! attention, no memory) × {Llama, Mistral}: runs and keeps the invariants.

mod common;

use common::*;
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss::{Memory, PrefillConfig, Prefiller};

// Seven full chunks, so that every memory type reaches its budget M at the last step.
const L: usize = 112;
const C: usize = 16;
const M: usize = 24;
const S: usize = 4;

fn memory_types() -> [(&'static str, MemoryType, bool); 6] {
    [
        ("full", MemoryType::Full, false),
        ("local", MemoryType::Local, false),
        ("FM", MemoryType::Fm, false),
        ("IM", MemoryType::Im, false),
        ("IMDC", MemoryType::Im, true),
        ("FI", MemoryType::Fi, false),
    ]
}

/// Document positions per layer and head.
fn positions(memory: &Memory<B>, n_layers: usize) -> Vec<Vec<Vec<i64>>> {
    (0..n_layers)
        .map(|l| match memory.layer(l) {
            None => Vec::new(),
            Some(kv) => {
                let [heads, len] = kv.positions.dims();
                let flat: Vec<i64> = kv.positions.to_data().convert::<i64>().to_vec().unwrap();
                (0..heads)
                    .map(|h| flat[h * len..(h + 1) * len].to_vec())
                    .collect()
            }
        })
        .collect()
}

#[test]
fn every_pruner_under_every_memory_type_keeps_the_invariants() {
    for model_name in ["tiny_llama", "tiny_mistral"] {
        let model = tiny(model_name);
        let prompt = ids(L, 128, 5);
        for kind in PrunerKind::ALL {
            for (type_name, memory_type, decremental) in memory_types() {
                // The baselines call no pruner: one run of each is enough.
                if !memory_type.prunes() && kind != PrunerKind::ALL[0] {
                    continue;
                }
                let what = format!("{model_name} {kind} {type_name}");
                let config = PrefillConfig::new(kind, memory_type, C, M)
                    .with_decremental(decremental)
                    .with_seed(9);
                let run = || {
                    Prefiller::new(config.clone())
                        .unwrap()
                        .with_nll(true)
                        .prefill(&model, &prompt)
                        .unwrap()
                };
                let prefill = run();
                let nll = prefill.nll.as_ref().unwrap();
                assert_eq!(nll.len(), L - 1, "{what}");
                assert!(nll.iter().all(|x| x.is_finite()), "{what}: non-finite NLL");
                assert_eq!(prefill.memory.consumed(), L, "{what}");
                let kept = positions(&prefill.memory, 2);
                match memory_type {
                    MemoryType::Local => assert!(kept.iter().all(Vec::is_empty), "{what}"),
                    MemoryType::Full => {
                        for heads in &kept {
                            for head in heads {
                                assert_eq!(head, &(0..L as i64).collect::<Vec<_>>(), "{what}");
                            }
                        }
                    }
                    MemoryType::Fm | MemoryType::Im | MemoryType::Fi => {
                        for heads in &kept {
                            for head in heads {
                                // The budget is M at the last step and every type reaches it here.
                                assert_eq!(head.len(), S + M, "{what}: memory size");
                                assert_eq!(&head[..S], &[0, 1, 2, 3], "{what}: sinks");
                                assert!(
                                    head.windows(2).all(|w| w[0] < w[1]),
                                    "{what}: sorted, unique {head:?}"
                                );
                                assert!(head.iter().all(|&p| (p as usize) < L), "{what}: in range");
                            }
                        }
                        if matches!(
                            kind,
                            PrunerKind::StreamingLlm | PrunerKind::Random | PrunerKind::ChunkPrefix
                        ) {
                            for heads in &kept {
                                assert!(
                                    heads.iter().all(|h| h == &heads[0]),
                                    "{what}: one index set per layer"
                                );
                            }
                        }
                    }
                }
                // Deterministic: the same configuration gives the same memory and NLL.
                let again = run();
                assert_eq!(
                    positions(&again.memory, 2),
                    kept,
                    "{what}: not deterministic"
                );
                assert_eq!(again.nll.unwrap(), *nll, "{what}: not deterministic");
            }
        }
    }
}

#[test]
fn streaming_llm_under_fm_keeps_sinks_and_the_last_m_tokens() {
    let model = tiny("tiny_llama");
    let prompt = ids(L, 128, 6);
    let config = PrefillConfig::new(PrunerKind::StreamingLlm, MemoryType::Fm, C, M);
    let prefill = Prefiller::new(config)
        .unwrap()
        .prefill(&model, &prompt)
        .unwrap();
    let mut expected: Vec<i64> = (0..S as i64).collect();
    expected.extend((L - M) as i64..L as i64);
    for heads in positions(&prefill.memory, 2) {
        for head in heads {
            assert_eq!(head, expected);
        }
    }
}

#[test]
fn fi_appends_one_slice_per_chunk_and_never_revisits_old_memory() {
    // n = 7 chunks, M = 24: slices 4, 4, 4, 3, 3, 3, 3. Under FI with chunk_prefix each chunk
    // contributes its first `slice` candidates, so the memory is exactly those.
    let model = tiny("tiny_llama");
    let prompt = ids(L, 128, 7);
    let config = PrefillConfig::new(PrunerKind::ChunkPrefix, MemoryType::Fi, C, M);
    let prefill = Prefiller::new(config)
        .unwrap()
        .prefill(&model, &prompt)
        .unwrap();
    let slices = [4, 4, 4, 3, 3, 3, 3];
    let mut expected: Vec<i64> = (0..S as i64).collect();
    for (chunk, &slice) in slices.iter().enumerate() {
        let first = if chunk == 0 { S } else { chunk * C };
        expected.extend((first..first + slice).map(|p| p as i64));
    }
    for heads in positions(&prefill.memory, 2) {
        for head in heads {
            assert_eq!(head, expected);
        }
    }
    let sizes: Vec<usize> = prefill.steps.iter().map(|s| s.memory[0]).collect();
    assert_eq!(sizes, vec![8, 12, 16, 19, 22, 25, 28]);
}

#[test]
fn im_grows_the_memory_and_imdc_shrinks_the_chunks() {
    let model = tiny("tiny_mistral");
    let prompt = ids(L, 128, 8);
    let im = PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Im, C, M);
    let prefill = Prefiller::new(im.clone())
        .unwrap()
        .prefill(&model, &prompt)
        .unwrap();
    // n = 7, a = 24 / 7 = 3: linear budgets 3, 6, ..., 18, then 24.
    let sizes: Vec<usize> = prefill.steps.iter().map(|s| s.memory[1]).collect();
    assert_eq!(
        sizes,
        vec![S + 3, S + 6, S + 9, S + 12, S + 15, S + 18, S + 24]
    );
    let imdc = Prefiller::new(im.with_decremental(true))
        .unwrap()
        .prefill(&model, &prompt)
        .unwrap();
    let chunks: Vec<usize> = imdc.steps.iter().map(|s| s.tokens.len()).collect();
    assert_eq!(chunks.iter().sum::<usize>(), L);
    assert!(
        chunks[1] > chunks[chunks.len() - 2],
        "decremental: {chunks:?}"
    );
}

#[test]
fn layerwise_curves_give_layers_their_own_budgets() {
    use mss::schedule::{IncrementalType, LayerwiseCurve};
    let model = tiny("tiny_llama");
    let prompt = ids(L, 128, 9);
    for curve in [
        LayerwiseCurve::SquareSqrt,
        LayerwiseCurve::DoubleInverse,
        LayerwiseCurve::Adaptive,
    ] {
        let config = PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Im, C, M)
            .with_incremental(IncrementalType::Layerwise(curve));
        let prefill = Prefiller::new(config)
            .unwrap()
            .with_nll(true)
            .prefill(&model, &prompt)
            .unwrap();
        let last = prefill.steps.last().unwrap();
        assert_eq!(
            last.memory,
            vec![S + M, S + M],
            "{curve:?}: every layer ends at M"
        );
        assert!(prefill.nll.unwrap().iter().all(|x| x.is_finite()));
        if curve != LayerwiseCurve::Adaptive {
            // Layer 0 (lower half) grows as square / inverse_convex, layer 1 as sqrt /
            // inverse_concave: layer 1 holds more in the middle of the prompt.
            let middle = &prefill.steps[3].memory;
            assert!(middle[1] > middle[0], "{curve:?}: {middle:?}");
        }
    }
}
