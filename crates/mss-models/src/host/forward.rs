//! The chunked forward pass on host slices: the same computation as the Burn path, through the
//! same [`ChunkHook`], with activations kept in buffers reused by every layer.

use burn::prelude::*;
use mss_core::{
    AttentionNeeds, AttentionStats, ChunkHook, ChunkPositions, CoreError, LayerKv, LayerMemory,
    Logits, per_head_range,
};
use rayon::prelude::*;

use super::attention::{AttentionShape, HostStats, Window, attend};
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
    /// Queries, then the attention output `[c, n_heads * head_dim]`.
    q: Vec<f32>,
    attn: Vec<f32>,
    /// The chunk's keys and values `[c, n_kv_heads * head_dim]`.
    k: Vec<f32>,
    v: Vec<f32>,
    /// Feed-forward gate and up projections `[c, intermediate]`.
    gate: Vec<f32>,
    up: Vec<f32>,
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
    let config = &model.config;
    let device = model.embed_tokens.device();
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
    let ff = weights.layers.first().map_or(0, |l| l.gate.d_out());
    let mut buffers = Buffers {
        x: weights.embed(&tokens),
        normed: vec![0.0; c * hidden],
        q: vec![0.0; c * q_width],
        attn: vec![0.0; c * q_width],
        k: vec![0.0; c * kv_width],
        v: vec![0.0; c * kv_width],
        gate: vec![0.0; c * ff],
        up: vec![0.0; c * ff],
    };
    let document = positions.document_start;
    let document_positions =
        per_head_range::<B>(document..document + c, config.num_key_value_heads, &device);
    for (i, layer) in weights.layers.iter().enumerate() {
        let memory = hook.memory(i).filter(|m| !m.kv.is_empty());
        if let Some(memory) = &memory {
            model.layers[i].self_attn.check_memory(memory)?;
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
    let rows = match logits {
        Logits::All => 0..c,
        Logits::Last => c - 1..c,
    };
    let x = &buffers.x[rows.start * hidden..rows.end * hidden];
    let normed = &mut buffers.normed[..rows.len() * hidden];
    rms_norm(x, weights.norm.weight(), weights.norm.eps, normed);
    let mut out = vec![0.0; rows.len() * vocab];
    weights.lm_head.forward(normed, &mut out, false);
    Ok(Tensor::from_data(
        TensorData::new(out, [1, rows.len(), vocab]),
        &device,
    ))
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
    let config = &model.config;
    let (n_heads, n_kv_heads, d) = (
        config.num_attention_heads,
        config.num_key_value_heads,
        config.head_dim,
    );
    let c = buffers.x.len() / config.hidden_size;
    let device = document_positions.device();
    let Buffers {
        x,
        normed,
        q,
        attn,
        k,
        v,
        gate,
        up,
    } = buffers;

    rms_norm(x, layer.input_norm.weight(), layer.input_norm.eps, normed);
    layer.q.forward(normed, q, false);
    layer.k.forward(normed, k, false);
    layer.v.forward(normed, v, false);

    // `[memory; chunk]` per KV head, keys before RoPE (for the hook) and rotated (for attention).
    let (memory_kv, memory_positions, memory_rope) = match memory {
        Some(m) => (
            Some((host_floats(m.kv.keys), host_floats(m.kv.values))),
            Some(m.kv.positions),
            host_ints(m.rope_positions),
        ),
        None => (None, None, Vec::new()),
    };
    let m = memory_rope.len() / n_kv_heads;
    let keys = m + c;
    let mut key_rope = Vec::with_capacity(n_kv_heads * keys);
    for g in 0..n_kv_heads {
        key_rope.extend_from_slice(&memory_rope[g * m..(g + 1) * m]);
        key_rope.extend((rope_start..rope_start + c).map(|p| p as i64));
    }
    if let Some(&bad) = key_rope.iter().find(|&&p| p < 0) {
        return Err(CoreError::InvalidValue {
            what: "memory RoPE positions".into(),
            reason: format!("{bad} is negative"),
        });
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
        if let Some((mk, mv)) = &memory_kv {
            keys_pre.extend_from_slice(&mk[g * m * d..(g + 1) * m * d]);
            values.extend_from_slice(&mv[g * m * d..(g + 1) * m * d]);
        }
        for u in 0..c {
            let at = u * n_kv_heads * d + g * d;
            keys_pre.extend_from_slice(&k[at..at + d]);
            values.extend_from_slice(&v[at..at + d]);
        }
    }
    let mut keys_rotated = keys_pre.clone();
    rotate_rows(&rope, &mut keys_rotated, d, &key_rope);
    q.par_chunks_mut(n_heads * d)
        .enumerate()
        .for_each(|(u, row)| {
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
    layer.gate.forward(normed, gate, false);
    layer.up.forward(normed, up, false);
    silu_mul(gate, up);
    layer.down.forward(gate, x, true);

    let positions = match memory_positions {
        Some(p) => Tensor::cat(vec![p, document_positions], 1),
        None => document_positions,
    };
    let kv_shape = [1, n_kv_heads, keys, d];
    let entries = LayerKv {
        keys: Tensor::from_data(TensorData::new(keys_pre, kv_shape), &device),
        values: Tensor::from_data(TensorData::new(values, kv_shape), &device),
        positions,
    };
    Ok((entries, stats_tensors(stats, [n_kv_heads, keys], &device)))
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
