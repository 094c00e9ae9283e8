//! The chunked forward pass on host slices: the same computation as the Burn path, through the
//! same [`ChunkHook`], with activations kept in buffers reused by every layer.

use burn::prelude::*;

use mss_core::{
    AttentionNeeds, AttentionStats, ChunkHook, ChunkPositions, CoreError, LayerKv, LayerMemory,
    Logits, RopePositions, check_targets, per_head_range,
};
use rayon::prelude::*;

use super::attention::{AttentionShape, HostStats, Window, attend};
use super::gemm::MatRef;
use super::head;
use super::rope::RopeRows;
use super::simd::{rms_norm, silu_mul};
use super::weights::{HostLayer, HostWeights};
use crate::Transformer;
use crate::rope::inv_freq;

/// The activations of one chunk, allocated once and reused by every layer.
struct Buffers {
    /// The residual stream `[c, hidden]`.
    x: Vec<f32>,
    /// Its normalised copy `[c, hidden]`.
    normed: Vec<f32>,
    /// Queries, keys and values side by side `[c, (n_heads + 2 * n_kv_heads) * head_dim]`.
    qkv: Vec<f32>,
    /// The rotated queries, then the attention output `[c, n_heads * head_dim]`.
    q: Vec<f32>,
    attn: Vec<f32>,
    /// Feed-forward gate and up projections side by side `[c, 2 * intermediate]`; SwiGLU
    /// leaves its result in the gate half.
    gate_up: Vec<f32>,
}

/// Runs one chunk (see [`mss_core::ChunkedModel::forward_chunk`]).
pub(crate) fn forward_chunk<B: Backend>(
    model: &Transformer<B>,
    weights: &HostWeights,
    tokens: Tensor<B, 2, Int>,
    positions: ChunkPositions,
    hook: &mut dyn ChunkHook<B>,
    logits: Logits,
) -> mss_core::Result<Tensor<B, 3>> {
    let mut buffers = run_layers(model, weights, tokens, positions, hook)?;
    let c = buffers.x.len() / model.config.hidden_size;
    let rows = match logits {
        Logits::All => 0..c,
        Logits::Last => c - 1..c,
    };
    let hidden = model.config.hidden_size;
    let x = &buffers.x[rows.start * hidden..rows.end * hidden];
    let logits = head::logits(weights, x, &mut buffers.normed);
    Ok(head::logits_tensor(model, logits))
}

/// Runs one chunk and scores it (see [`mss_core::ChunkedModel::forward_chunk_nll`]), holding
/// [`head::NLL_ROWS`] rows of logits at a time instead of the chunk's `[c, vocab]`.
pub(crate) fn forward_chunk_nll<B: Backend>(
    model: &Transformer<B>,
    weights: &HostWeights,
    tokens: Tensor<B, 2, Int>,
    positions: ChunkPositions,
    hook: &mut dyn ChunkHook<B>,
    targets: &[u32],
) -> mss_core::Result<(Vec<f32>, Tensor<B, 3>)> {
    check_targets(targets, tokens.dims()[1], model.config.vocab_size)?;
    let mut buffers = run_layers(model, weights, tokens, positions, hook)?;
    let c = buffers.x.len() / model.config.hidden_size;
    let hidden = model.config.hidden_size;
    let last = head::logits(weights, &buffers.x[(c - 1) * hidden..], &mut buffers.normed);
    let nll = head::nll(weights, &buffers.x, &mut buffers.normed, targets);
    Ok((nll, head::logits_tensor(model, last)))
}

/// Every decoder layer over one chunk, through the hook; returns the buffers with the final
/// residual stream in `x`.
fn run_layers<B: Backend>(
    model: &Transformer<B>,
    weights: &HostWeights,
    tokens: Tensor<B, 2, Int>,
    positions: ChunkPositions,
    hook: &mut dyn ChunkHook<B>,
) -> mss_core::Result<Buffers> {
    let config = &model.config;
    let device = model.embed_tokens.val().device();
    let ids = host_ints(tokens);
    let vocab = config.vocab_size;
    let tokens = ids
        .iter()
        .map(|&id| {
            usize::try_from(id)
                .ok()
                .filter(|&id| id < vocab)
                .ok_or_else(|| CoreError::InvalidValue {
                    what: "token id".into(),
                    reason: format!("{id} is outside the vocabulary of {vocab}"),
                })
        })
        .collect::<mss_core::Result<Vec<usize>>>()?;
    let c = tokens.len();
    let (hidden, d) = (config.hidden_size, config.head_dim);
    let q_width = config.num_attention_heads * d;
    let kv_width = config.num_key_value_heads * d;
    let ff = weights.layers.first().map_or(0, |l| l.gate_up.d_out() / 2);
    let mut buffers = Buffers {
        x: weights.embed(&tokens),
        normed: vec![0.0; c * hidden],
        qkv: vec![0.0; c * (q_width + 2 * kv_width)],
        q: vec![0.0; c * q_width],
        attn: vec![0.0; c * q_width],
        gate_up: vec![0.0; c * 2 * ff],
    };
    let document = positions.document_start;
    let document_positions =
        per_head_range::<B>(document..document + c, config.num_key_value_heads, &device);
    for (i, layer) in weights.layers.iter().enumerate() {
        let memory = hook.memory(i).filter(|m| !m.kv.is_empty());
        if let Some(memory) = &memory {
            let d = config.head_dim;
            memory.check_shape(config.num_key_value_heads, d, d)?;
        }
        let rope_start = memory
            .as_ref()
            .map_or(positions.rope_start, |m| m.chunk_rope_start);
        let (entries, stats) = layer_forward(
            model,
            layer,
            &mut buffers,
            memory,
            rope_start,
            hook.needs(i),
            document_positions.clone(),
        )?;
        hook.record(i, entries, stats);
    }
    Ok(buffers)
}

/// One decoder layer: attention over `[memory; chunk]` and the feed-forward block, both added
/// to the residual stream in `buffers.x`. Returns the entries attended to (keys before RoPE)
/// and the statistics in `needs`.
fn layer_forward<B: Backend>(
    model: &Transformer<B>,
    layer: &HostLayer,
    buffers: &mut Buffers,
    memory: Option<LayerMemory<B>>,
    rope_start: usize,
    needs: AttentionNeeds,
    document_positions: Tensor<B, 2, Int>,
) -> mss_core::Result<(LayerKv<B>, AttentionStats<B>)> {
    let n_kv_heads = model.config.num_key_value_heads;
    let device = document_positions.device();
    let (memory, memory_positions) = match memory {
        Some(m) => {
            let rope_positions = match m.rope {
                // Built here rather than on the device and read back.
                RopePositions::Range { start } => {
                    let len = m.kv.len();
                    (0..n_kv_heads)
                        .flat_map(|_| (start..start + len).map(|p| p as i64))
                        .collect()
                }
                RopePositions::At(positions) => host_ints(positions),
            };
            (
                HostMemory {
                    keys: host_floats(m.kv.keys),
                    values: host_floats(m.kv.values),
                    rope_positions,
                },
                Some(m.kv.positions),
            )
        }
        None => (HostMemory::default(), None),
    };
    if let Some(&bad) = memory.rope_positions.iter().find(|&&p| p < 0) {
        return Err(CoreError::InvalidValue {
            what: "memory RoPE positions".into(),
            reason: format!("{bad} is negative"),
        });
    }
    let c = buffers.x.len() / model.config.hidden_size;
    let keys = memory.rope_positions.len() / n_kv_heads + c;
    // The whole layer runs as one job of the thread pool: its products and loops then split
    // from a worker thread, which keeps the other worker awake between them instead of
    // putting the calling thread to sleep and waking a worker for each one (on a 2-core VM
    // that wake-up cost ~10 % of a prefill at 256-token chunks).
    let (keys_pre, values, stats) =
        rayon::scope(|_| layer_compute(model, layer, buffers, &memory, rope_start, needs));

    let positions = match memory_positions {
        Some(p) => Tensor::cat(vec![p, document_positions], 1),
        None => document_positions,
    };
    let kv_shape = [1, n_kv_heads, keys, model.config.head_dim];
    let entries = LayerKv {
        keys: Tensor::from_data(TensorData::new(keys_pre, kv_shape), &device),
        values: Tensor::from_data(TensorData::new(values, kv_shape), &device),
        positions,
    };
    Ok((entries, stats_tensors(stats, [n_kv_heads, keys], &device)))
}

/// A layer's memory as host vectors, `[n_kv_heads, m, head_dim]` keys (before RoPE) and
/// values and `[n_kv_heads, m]` RoPE positions (checked non-negative).
#[derive(Debug, Default)]
struct HostMemory {
    keys: Vec<f32>,
    values: Vec<f32>,
    rope_positions: Vec<i64>,
}

/// The arithmetic of [`layer_forward`] on host buffers. Returns the `[n_kv_heads, m + c,
/// head_dim]` keys (before RoPE) and values attended to, and the statistics in `needs`.
fn layer_compute<B: Backend>(
    model: &Transformer<B>,
    layer: &HostLayer,
    buffers: &mut Buffers,
    memory: &HostMemory,
    rope_start: usize,
    needs: AttentionNeeds,
) -> (Vec<f32>, Vec<f32>, HostStats) {
    let config = &model.config;
    let (n_heads, n_kv_heads, d) = (
        config.num_attention_heads,
        config.num_key_value_heads,
        config.head_dim,
    );
    let c = buffers.x.len() / config.hidden_size;
    let Buffers {
        x,
        normed,
        qkv,
        q,
        attn,
        gate_up,
    } = buffers;
    let (q_width, kv_width) = (n_heads * d, n_kv_heads * d);
    let qkv_width = q_width + 2 * kv_width;

    rms_norm(x, layer.input_norm.weight(), layer.input_norm.eps, normed);
    layer.qkv.forward(normed, qkv);

    // `[memory; chunk]` per KV head, keys before RoPE (for the hook) and rotated (for attention).
    let m = memory.rope_positions.len() / n_kv_heads;
    let keys = m + c;
    let mut key_rope = Vec::with_capacity(n_kv_heads * keys);
    for g in 0..n_kv_heads {
        key_rope.extend_from_slice(&memory.rope_positions[g * m..(g + 1) * m]);
        key_rope.extend((rope_start..rope_start + c).map(|p| p as i64));
    }
    let last_position = rope_start + c - 1;
    let table_len = key_rope
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(last_position as i64)
        + 1;
    let freq = inv_freq(config.rope_theta, d, config.rope_scaling, last_position);
    let rope = model.host_rope.rows(&freq, table_len as usize);

    let mut keys_pre = Vec::with_capacity(n_kv_heads * keys * d);
    let mut values = Vec::with_capacity(n_kv_heads * keys * d);
    for g in 0..n_kv_heads {
        if m > 0 {
            keys_pre.extend_from_slice(&memory.keys[g * m * d..(g + 1) * m * d]);
            values.extend_from_slice(&memory.values[g * m * d..(g + 1) * m * d]);
        }
        for row in qkv.chunks_exact(qkv_width) {
            let at = q_width + g * d;
            keys_pre.extend_from_slice(&row[at..at + d]);
            values.extend_from_slice(&row[at + kv_width..at + kv_width + d]);
        }
    }
    let mut keys_rotated = keys_pre.clone();
    rotate_rows(&rope, &mut keys_rotated, d, &key_rope);
    q.par_chunks_mut(q_width)
        .zip(qkv.par_chunks(qkv_width))
        .enumerate()
        .for_each(|(u, (row, projected))| {
            row.copy_from_slice(&projected[..q_width]);
            for head in row.chunks_exact_mut(d) {
                rope.rotate(head, rope_start + u);
            }
        });

    // Keys can fall out of the window only once the step reaches past it.
    let query_rope: Vec<i64> = (rope_start..rope_start + c).map(|p| p as i64).collect();
    let window = config
        .sliding_window
        .filter(|&w| last_position >= w)
        .map(|size| Window {
            query_positions: &query_rope,
            key_positions: &key_rope,
            size,
        });
    let shape = AttentionShape {
        n_heads,
        n_kv_heads,
        head_dim: d,
        chunk_len: c,
        keys,
    };
    let stats = attend(q, &keys_rotated, &values, shape, window, needs, attn);
    layer.o.forward(attn, x, true);

    rms_norm(x, layer.post_norm.weight(), layer.post_norm.eps, normed);
    layer.gate_up.forward(normed, gate_up);
    let ff = gate_up.len() / c / 2;
    silu_mul(gate_up, ff);
    let activation = MatRef {
        data: gate_up,
        offset: 0,
        rows: c,
        cols: ff,
        row_stride: 2 * ff,
        col_stride: 1,
    };
    layer
        .down
        .forward_strided(activation, x, config.hidden_size, true);
    (keys_pre, values, stats)
}

/// Rotates every `d`-wide row of `x` at its position, on every core.
fn rotate_rows(rope: &RopeRows, x: &mut [f32], d: usize, positions: &[i64]) {
    x.par_chunks_mut(d)
        .zip(positions)
        .for_each(|(row, &position)| rope.rotate(row, position as usize));
}

fn stats_tensors<B: Backend>(
    stats: HostStats,
    shape: [usize; 2],
    device: &B::Device,
) -> AttentionStats<B> {
    let tensor =
        |v: Option<Vec<f32>>| v.map(|v| Tensor::from_data(TensorData::new(v, shape), device));
    AttentionStats {
        last_query: tensor(stats.last_query),
        column_sums: tensor(stats.column_sums),
        visible_queries: tensor(stats.visible_queries),
        second_moments: tensor(stats.second_moments),
    }
}

/// A float tensor's elements in row-major order, as f32.
fn host_floats<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec()
        .expect("converted to f32")
}

/// An int tensor's elements in row-major order.
fn host_ints<B: Backend, const D: usize>(t: Tensor<B, D, Int>) -> Vec<i64> {
    t.into_data()
        .convert::<i64>()
        .into_vec()
        .expect("converted to i64")
}
