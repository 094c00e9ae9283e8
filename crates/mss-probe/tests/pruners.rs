//! Probes on real prefills whose answer is known: `random` halves the first chunk's share,
//! `streaming_llm` forgets it for good and retains `(M − C) / M`, `no_compress` keeps all.

mod common;

use common::*;
use mss::PrefillConfig;
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss_probe::Probes;

const SINKS: usize = 4;

#[test]
fn random_halves_the_first_chunk_share_at_every_step() {
    let model = tiny("tiny_llama");
    let (c, steps) = (32, 6);
    let seeds = 8;
    let mut sums = vec![0.0; steps];
    for seed in 0..seeds {
        let tokens = ids(c * steps, 128, 100 + seed);
        let config = PrefillConfig::new(PrunerKind::Random, MemoryType::Fm, c, c).with_seed(seed);
        let (probes, _) = probe(&model, &tokens, config, Probes::all());
        let curve = probes.report().forgetting.unwrap().by_step;
        for (sum, v) in sums.iter_mut().zip(&curve) {
            *sum += v.unwrap();
        }
    }
    let mean: Vec<f64> = sums.iter().map(|s| s / seeds as f64).collect();
    // Step 0 keeps the whole first chunk; step 1 keeps M of (C − S) + C candidates; from then on
    // M of 2M, so the share halves in expectation.
    let first = (c - SINKS) as f64 / (2 * c - SINKS) as f64;
    let expected: Vec<f64> = (0..steps)
        .map(|k| {
            if k == 0 {
                1.0
            } else {
                first / 2f64.powi(k as i32 - 1)
            }
        })
        .collect();
    for (k, (m, e)) in mean.iter().zip(&expected).enumerate() {
        assert!(
            (m - e).abs() < 0.05,
            "step {k}: mean {m:.3}, expected {e:.3} ({mean:?})"
        );
    }
    // Halving, step over step (what §4.2 reports: 0.50, 0.25, 0.125, …).
    for k in 2..4 {
        let ratio = mean[k] / mean[k - 1];
        assert!((ratio - 0.5).abs() < 0.12, "step {k}: ratio {ratio:.3}");
    }
}

#[test]
fn streaming_llm_forgets_the_first_chunk_and_retains_m_minus_c_over_m() {
    let model = tiny("tiny_llama");
    let (c, m, steps) = (16, 32, 8);
    let tokens = ids(c * steps, 128, 7);
    let config = PrefillConfig::new(PrunerKind::StreamingLlm, MemoryType::Fm, c, m);
    let (probes, _) = probe(&model, &tokens, config, Probes::all());
    let retention = probes.retention().unwrap().retention();
    let forgetting = probes.forgetting().unwrap().share();
    // After step k the memory is positions max(S, (k+1)C − M)..(k+1)C.
    let first_step = (c - SINKS) as f64 / (2 * c - SINKS) as f64;
    for layer in 0..2 {
        for head in 0..2 {
            assert_eq!(forgetting.get(0, layer, head), Some(1.0));
            assert_eq!(forgetting.get(1, layer, head), Some(first_step));
            assert_eq!(retention.get(0, layer, head), None);
            assert_eq!(retention.get(1, layer, head), Some(first_step));
            for step in 2..steps {
                // Overwritten: nothing of the first chunk is left.
                assert_eq!(forgetting.get(step, layer, head), Some(0.0), "step {step}");
                let expected = (m - c) as f64 / m as f64;
                assert_eq!(
                    retention.get(step, layer, head),
                    Some(expected),
                    "step {step}"
                );
            }
        }
    }
}

#[test]
fn no_compress_keeps_all_the_old_memory() {
    let model = tiny("tiny_llama");
    let (c, steps) = (16, 4);
    let tokens = ids(c * steps, 128, 3);
    let (probes, _) = probe(
        &model,
        &tokens,
        PrefillConfig::full_attention(c),
        Probes::all(),
    );
    let retention = probes.retention().unwrap();
    for step in 1..steps {
        for layer in 0..2 {
            for head in 0..2 {
                assert_eq!(retention.survival().get(step, layer, head), Some(1.0));
                // The memory grows by C: retention is |old| / (|old| + C).
                let old = (step * c - SINKS) as f64;
                let expected = old / (old + c as f64);
                assert_eq!(retention.retention().get(step, layer, head), Some(expected));
            }
        }
    }
    let report = probes.report();
    let composition = report.composition.unwrap();
    assert_eq!(composition.memory[steps - 1], vec![c * steps - SINKS; 2]);
    assert_eq!(
        composition.unique_by_chunk[steps - 1],
        vec![c - SINKS, c, c, c]
    );
}
