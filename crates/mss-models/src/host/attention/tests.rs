//! The host attention against its definition in f64, over shapes, windows and blockings.

use super::*;

const ALL: AttentionNeeds = AttentionNeeds {
    last_query: true,
    column_sums: true,
    second_moments: true,
};

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// The definition, in f64: every query's softmax over the keys it sees, and the
/// statistics summed over the group's heads and the chunk's queries.
fn reference(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    s: AttentionShape,
    window: Option<Window<'_>>,
) -> (Vec<f32>, [Vec<f32>; 4]) {
    let (h, g, d, c, t) = (s.n_heads, s.n_kv_heads, s.head_dim, s.chunk_len, s.keys);
    let n_rep = h / g;
    let memory = t - c;
    let mut out = vec![0.0; c * h * d];
    let mut stats = [
        vec![0.0; g * t],
        vec![0.0; g * t],
        vec![0.0; g * t],
        vec![0.0; g * t],
    ];
    for head in 0..h {
        let kv = head / n_rep;
        for i in 0..c {
            let sees = |j: usize| {
                j <= memory + i
                    && window.is_none_or(|w| {
                        w.query_positions[i] - w.key_positions[kv * t + j] < w.size as i64
                    })
            };
            let score = |j: usize| -> f64 {
                (0..d)
                    .map(|e| q[i * h * d + head * d + e] as f64 * k[(kv * t + j) * d + e] as f64)
                    .sum::<f64>()
                    / (d as f64).sqrt()
            };
            let max = (0..t)
                .filter(|&j| sees(j))
                .map(score)
                .fold(f64::MIN, f64::max);
            let z: f64 = (0..t)
                .filter(|&j| sees(j))
                .map(|j| (score(j) - max).exp())
                .sum();
            for j in (0..t).filter(|&j| sees(j)) {
                let p = (score(j) - max).exp() / z;
                for e in 0..d {
                    out[i * h * d + head * d + e] += (p * v[(kv * t + j) * d + e] as f64) as f32;
                }
                stats[1][kv * t + j] += p as f32;
                stats[3][kv * t + j] += (p * p) as f32;
                if i == c - 1 {
                    stats[0][kv * t + j] += p as f32;
                }
                if head % n_rep == 0 {
                    stats[2][kv * t + j] += 1.0;
                }
            }
        }
    }
    (out, stats)
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 2e-5 + 2e-5 * w.abs(),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

fn check(shape: AttentionShape, windowed: bool, blocking: Blocking) {
    let (h, g, d, c, t) = (
        shape.n_heads,
        shape.n_kv_heads,
        shape.head_dim,
        shape.chunk_len,
        shape.keys,
    );
    let q = random(c * h * d, 1);
    let k = random(g * t * d, 2);
    let v = random(g * t * d, 3);
    // Key RoPE positions: memory entries spread over earlier positions, then the chunk's.
    let query_positions: Vec<i64> = (0..c).map(|i| (3 * (t - c) + i) as i64).collect();
    let key_positions: Vec<i64> = (0..g)
        .flat_map(|_| {
            (0..t).map(|j| {
                if j < t - c {
                    3 * j as i64
                } else {
                    (2 * (t - c) + j) as i64
                }
            })
        })
        .collect();
    let window = windowed.then_some(Window {
        query_positions: &query_positions,
        key_positions: &key_positions,
        size: 7,
    });
    let (want, [last, sums, seen, squares]) = reference(&q, &k, &v, shape, window);
    let mut out = vec![f32::NAN; c * h * d];
    let stats = attend_with(&q, &k, &v, shape, window, ALL, &mut out, blocking);
    assert_close(&out, &want, "output");
    assert_close(&stats.last_query.unwrap(), &last, "last query");
    assert_close(&stats.column_sums.unwrap(), &sums, "column sums");
    assert_close(&stats.visible_queries.unwrap(), &seen, "visible queries");
    assert_close(&stats.second_moments.unwrap(), &squares, "second moments");

    // Without statistics: the same output, nothing else.
    let mut bare = vec![f32::NAN; c * h * d];
    let none = attend_with(
        &q,
        &k,
        &v,
        shape,
        window,
        AttentionNeeds::NONE,
        &mut bare,
        blocking,
    );
    assert_close(&bare, &want, "output without statistics");
    assert!(none.column_sums.is_none() && none.last_query.is_none());
}

const SHAPE: AttentionShape = AttentionShape {
    n_heads: 6,
    n_kv_heads: 2,
    head_dim: 8,
    chunk_len: 11,
    keys: 30,
};

#[test]
fn one_key_block_matches_the_definition() {
    for windowed in [false, true] {
        check(SHAPE, windowed, Blocking::DEFAULT);
        // Several query blocks per head, one key block each.
        let blocking = Blocking {
            query_rows: 4,
            ..Blocking::DEFAULT
        };
        check(SHAPE, windowed, blocking);
    }
}

#[test]
fn key_blocks_with_an_online_softmax_match_the_definition() {
    // Blocks of 5 keys: the running maximum moves, and the statistics take the second pass.
    let blocking = Blocking {
        query_rows: 3,
        one_block_scores: 0,
        key_block: 5,
    };
    for windowed in [false, true] {
        check(SHAPE, windowed, blocking);
    }
    // Multi-head attention without memory (one chunk), one query per block.
    let mha = AttentionShape {
        n_heads: 2,
        n_kv_heads: 2,
        head_dim: 4,
        chunk_len: 9,
        keys: 9,
    };
    let blocking = Blocking {
        query_rows: 1,
        one_block_scores: 0,
        key_block: 2,
    };
    check(mha, false, blocking);
}
