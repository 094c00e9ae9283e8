//! Probes see exact document positions: under decremental chunks, with per-head selections,
//! and with review copies re-inserted into the prompt.

mod common;

use common::*;
use mss::PrefillConfig;
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss_probe::review::review;
use mss_probe::{Forgetting, Probes, ReviewConfig, ReviewKind};

#[test]
fn decremental_chunks_are_tracked_at_their_exact_positions() {
    let model = tiny("tiny_llama");
    let tokens = ids(150, 128, 5);
    // SnapKV selects per KV head; IMDC cuts chunks of uneven lengths.
    let config =
        PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Im, 32, 24).with_decremental(true);
    let (probes, prefill) = probe(&model, &tokens, config, Probes::all());
    let report = probes.report();
    let chunks: Vec<_> = prefill.steps.iter().map(|s| s.tokens.clone()).collect();
    assert_eq!(report.chunks, chunks);
    assert!(
        chunks.iter().any(|c| c.len() != 32),
        "decremental chunks: {chunks:?}"
    );
    let forgetting = report.forgetting.unwrap();
    assert_eq!(forgetting.tracked, vec![chunks[0].clone()]);
    let composition = report.composition.unwrap();
    let last = chunks.len() - 1;
    for layer in 0..2 {
        let positions = final_positions(&prefill, layer);
        for (head, row) in positions.iter().enumerate() {
            let kept = &row[4..];
            // The composition of the last step, from the memory itself.
            let mut hist = vec![0; chunks.len()];
            for &p in kept {
                hist[chunks
                    .iter()
                    .position(|c| c.contains(&(p as usize)))
                    .unwrap()] += 1;
            }
            assert_eq!(
                composition.counts[last][layer][head], hist,
                "layer {layer} head {head}"
            );
            assert_eq!(composition.memory[last][layer], kept.len());
            // The forgetting curve's last point, from the memory itself.
            let inside = kept
                .iter()
                .filter(|&&p| chunks[0].contains(&(p as usize)))
                .count();
            let share = inside as f64 / kept.len() as f64;
            assert_eq!(forgetting.share.get(last, layer, head), Some(share));
        }
    }
    // SnapKV keeps different entries on different heads somewhere.
    let heads_differ = (0..2).any(|l| {
        let p = final_positions(&prefill, l);
        p[0] != p[1]
    });
    assert!(heads_differ);
}

#[test]
fn review_copies_come_back_into_a_streaming_memory() {
    let model = tiny("tiny_llama");
    let (c, m) = (16, 16);
    let prompt = ids(c * 6, 128, 9);
    let settings = ReviewConfig {
        scheduler: ReviewKind::Early,
        times: 1,
        length: 3,
    };
    let reviewed = review(&prompt, c, m, &settings).unwrap();
    // Chunk ceil(M / C) = 1 is reviewed once, right after chunk 2: the copy is chunk 3.
    assert_eq!(reviewed.copies, vec![48..64]);
    let probes = Probes::all().with_forgetting(Forgetting::tracking(reviewed.tracked()));
    let config = PrefillConfig::new(PrunerKind::StreamingLlm, MemoryType::Fm, c, m);
    let (probes, _) = probe(&model, &reviewed.tokens, config, probes);
    // C = M: a streaming memory holds exactly the last chunk.
    let curve = probes.report().forgetting.unwrap().by_step;
    let curve: Vec<f64> = curve.into_iter().map(Option::unwrap).collect();
    assert_eq!(curve, vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
}
