//! The attention probe against probabilities computed by hand: real statistics from
//! `mss_core::attention::attend` (GQA, causal chunk), a hand-made memory event.

use std::ops::Range;

use burn::prelude::*;
use mss::core::attention::attend;
use mss::core::{AttentionNeeds, MemoryEvent, MemoryObserver};
use mss_probe::MemoryAttention;

type B = burn::backend::Flex;

fn random(shape: [usize; 4], seed: u64) -> (Vec<f32>, Tensor<B, 4>) {
    let n: usize = shape.iter().product();
    let mut x = seed;
    let data: Vec<f32> = (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.0
        })
        .collect();
    let t = Tensor::from_data(TensorData::new(data.clone(), shape), &Default::default());
    (data, t)
}

#[test]
fn memory_attention_matches_hand_computed_probabilities() {
    let (heads, kv_heads, dim) = (4, 2, 8);
    let (memory, chunk, sinks) = (7, 5, 2);
    let keys = memory + chunk;
    let (q, qt) = random([1, heads, chunk, dim], 1);
    let (k, kt) = random([1, kv_heads, keys, dim], 2);
    let (_, vt) = random([1, kv_heads, keys, dim], 3);
    let needs = AttentionNeeds {
        column_sums: true,
        ..AttentionNeeds::NONE
    };
    let (_, stats) = attend(qt, kt, vt, None, needs, 2);

    // Probabilities by hand: query head i reads KV head i / 2; chunk keys are causal.
    let n_rep = heads / kv_heads;
    let mut expected_mean = vec![0.0f64; kv_heads];
    let mut expected_above = vec![0.0f64; kv_heads];
    for h in 0..kv_heads {
        let mut per_key = vec![0.0f64; keys];
        let mut all_cells = (0.0f64, 0usize);
        for i in h * n_rep..(h + 1) * n_rep {
            for t in 0..chunk {
                let visible = memory + t + 1;
                let logits: Vec<f64> = (0..visible)
                    .map(|j| {
                        (0..dim)
                            .map(|d| {
                                q[((i * chunk) + t) * dim + d] as f64
                                    * k[((h * keys) + j) * dim + d] as f64
                            })
                            .sum::<f64>()
                            / (dim as f64).sqrt()
                    })
                    .collect();
                let max = logits.iter().copied().fold(f64::MIN, f64::max);
                let z: f64 = logits.iter().map(|l| (l - max).exp()).sum();
                for (j, l) in logits.iter().enumerate() {
                    let p = (l - max).exp() / z;
                    per_key[j] += p;
                    all_cells.0 += p;
                    all_cells.1 += 1;
                }
            }
        }
        // Mean over the memory's non-sink entries of the probability averaged over queries and
        // query heads; the threshold is the mean over all visible cells.
        let entries: Vec<f64> = (sinks..memory)
            .map(|j| per_key[j] / (n_rep * chunk) as f64)
            .collect();
        let tau = all_cells.0 / all_cells.1 as f64;
        expected_mean[h] = entries.iter().sum::<f64>() / entries.len() as f64;
        expected_above[h] =
            entries.iter().filter(|&&a| a > tau).count() as f64 / entries.len() as f64;
    }

    let positions = |len: usize, range: Range<i64>| {
        let row: Vec<i64> = (0..sinks as i64).chain(range).collect();
        assert_eq!(row.len(), len);
        let flat: Vec<i64> = (0..kv_heads).flat_map(|_| row.clone()).collect();
        Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [kv_heads, len]), &Default::default())
    };
    let event = MemoryEvent {
        step: 3,
        layer: 1,
        chunk: 40..45,
        sinks,
        n_kv_heads: kv_heads,
        before: Some(positions(memory, 20..25)),
        after: Some(positions(memory, 38..43)),
        stats: &stats,
    };
    let mut probe = MemoryAttention::new();
    probe.on_memory(&event);
    for h in 0..kv_heads {
        let mean = probe.mean().get(3, 1, h).unwrap();
        assert!(
            (mean - expected_mean[h]).abs() < 1e-5,
            "head {h}: {mean} vs {}",
            expected_mean[h]
        );
        assert_eq!(probe.above_mean().get(3, 1, h), Some(expected_above[h]));
    }
}
