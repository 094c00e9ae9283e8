//! Self-attention of one layer over `[memory; chunk]`.

use std::cell::RefCell;

use burn::prelude::*;
use mss_core::attention::sliding_window_mask;
use mss_core::{
    AttentionNeeds, AttentionStats, CoreError, Joined, LayerKv, LayerMemory, RopePositions,
    join_memory, reuse_or_build,
};

use crate::linear::{Linear, project};
use crate::rope::RopeTable;

/// [`mss_core::attention::attend`], with this crate's CUDA attention where it applies: on Burn's
/// CUDA backend with cuBLAS, a chunk with no mask beyond causality runs two cuBLAS products
/// around one softmax kernel, and the column sums and the last query's row, when asked for, one
/// more product from the same probabilities (feature `cuda`, unless
/// [`use_attention_kernel`](mss_core::attention::use_attention_kernel) chose another kernel).
/// Second moments, and every other case, run `mss_core`'s attention. The same function, the
/// same shapes; `query_block` serves `mss_core`'s path only.
///
/// # Shapes
/// - `q`: `[1, n_heads, chunk_len, head_dim]`
/// - `k`: `[1, n_kv_heads, keys, head_dim]`
/// - `v`: `[1, n_kv_heads, keys, value_dim]`
/// - `hidden`: `[1, n_kv_heads or 1, chunk_len, keys]`, `true` = hidden
/// - returns `[1, n_heads, chunk_len, value_dim]` and [`AttentionStats`] of `[n_kv_heads, keys]`
pub fn attend<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    hidden: Option<Tensor<B, 4, Bool>>,
    needs: AttentionNeeds,
    query_block: usize,
) -> (Tensor<B, 4>, AttentionStats<B>) {
    let chunk_len = q.dims()[2];
    let device = q.device();
    let (out, stats) = attend_counting(q, k, v, hidden, needs, query_block, |keys, n_kv_heads| {
        visible_queries(keys, n_kv_heads, chunk_len, &device)
    });
    (out.swap_dims(1, 2), stats)
}

/// [`attend`] with the output chunk-major, `[1, chunk_len, n_heads, value_dim]` (as the CUDA
/// kernels write it and the output projection reads it: no swaps between), and the
/// visible-query counts `[n_kv_heads, keys]` of the causal chunk from `visible(keys,
/// n_kv_heads)` where the CUDA kernels compute the other statistics.
fn attend_counting<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    hidden: Option<Tensor<B, 4, Bool>>,
    needs: AttentionNeeds,
    query_block: usize,
    visible: impl FnOnce(usize, usize) -> Tensor<B, 2>,
) -> (Tensor<B, 4>, AttentionStats<B>) {
    #[cfg(feature = "cuda")]
    if hidden.is_none()
        && !needs.second_moments
        && mss_core::attention::attention_kernel() == mss_core::attention::AttentionKernel::Fused
    {
        if needs.is_empty() {
            if let Some(out) = crate::cuda::causal_attention(&q, &k, &v) {
                return (out, AttentionStats::none());
            }
        } else if let Some((out, stats)) = crate::cuda::causal_attention_with_statistics(&q, &k, &v)
        {
            return (out, causal_stats(stats, needs, visible));
        }
    }
    #[cfg(not(feature = "cuda"))]
    let _ = visible;
    let (out, stats) = mss_core::attention::attend(q, k, v, hidden, needs, query_block);
    (out.swap_dims(1, 2), stats)
}

/// The number of a causal chunk's `chunk_len` queries that see each of `keys` keys: every one
/// for a memory key, `keys - t` for the chunk's key `t`; `[n_kv_heads, keys]`.
fn visible_queries<B: Backend>(
    keys: usize,
    n_kv_heads: usize,
    chunk_len: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    Tensor::<B, 1, Int>::arange(0..keys as i64, device)
        .neg()
        .add_scalar(keys as i64)
        .clamp_max(chunk_len as i64)
        .float()
        .unsqueeze::<2>()
        .expand([n_kv_heads, keys])
}

/// The statistics `needs` asks for from the column sums and last-query rows (`[n_kv_heads,
/// keys]` each) of a causal chunk, with the visible-query counts from `visible(keys,
/// n_kv_heads)`.
#[cfg(feature = "cuda")]
fn causal_stats<B: Backend>(
    [column_sums, last_query]: [Tensor<B, 2>; 2],
    needs: AttentionNeeds,
    visible: impl FnOnce(usize, usize) -> Tensor<B, 2>,
) -> AttentionStats<B> {
    let [n_kv_heads, keys] = column_sums.dims();
    AttentionStats {
        last_query: needs.last_query.then_some(last_query),
        visible_queries: needs.column_sums.then(|| visible(keys, n_kv_heads)),
        column_sums: needs.column_sums.then_some(column_sums),
        second_moments: None,
    }
}

/// What a layer's attention returns: its output, the entries `[memory; chunk]` it attended to
/// (keys before RoPE) and the attention statistics over them.
pub(crate) type AttentionOutput<B> = (Tensor<B, 3>, LayerKv<B>, AttentionStats<B>);

/// RoPE and window facts shared by every layer during one step.
#[derive(Debug, Clone)]
pub(crate) struct StepContext<B: Backend> {
    /// Cosines and sines of RoPE positions `0..=last_position` for this step (dynamic scalings
    /// depend on the step's last position).
    pub table: RopeTable<B>,
    /// `[chunk_len]` RoPE positions of the chunk.
    pub rope_positions: Tensor<B, 1, Int>,
    /// `[n_kv_heads, chunk_len]` document positions of the chunk.
    pub document_positions: Tensor<B, 2, Int>,
    /// The RoPE position of the chunk's first token.
    pub rope_start: usize,
    /// The largest RoPE position of the step.
    pub last_position: usize,
    /// The last visible-query counts built ([`StepContext::visible_queries`]).
    pub visible_queries: RefCell<Option<Tensor<B, 2>>>,
}

impl<B: Backend> StepContext<B> {
    /// The visible-query counts `[n_kv_heads, keys]` of this step's chunk: built once and
    /// shared by the layers that see as many keys (every layer, unless memory sizes differ
    /// per layer), since each tensor built costs the host as much as a kernel.
    fn visible_queries(&self, keys: usize, n_kv_heads: usize) -> Tensor<B, 2> {
        let chunk_len = self.rope_positions.dims()[0];
        reuse_or_build(
            &mut self.visible_queries.borrow_mut(),
            [n_kv_heads, keys],
            || visible_queries(keys, n_kv_heads, chunk_len, &self.rope_positions.device()),
        )
    }
}

/// `[memory; chunk]`, its keys rotated at their positions of this step and the chunk's
/// `queries` at theirs, together: the entries stay unrotated for the hook (a later step rotates
/// them to other positions). One kernel on CUDA where the memory's positions are a range that
/// the chunk continues (the paper's compact positions) and the kernel takes the operands (the
/// KV and RoPE kernels on, keys, values and queries of one head width: `cuda::join_rotated`);
/// otherwise [`join_memory`] and the RoPE of the joined keys and of the queries.
///
/// # Errors
/// Those of [`join_memory`].
fn join_and_rotate<B: Backend>(
    memory: Option<LayerMemory<B>>,
    chunk: LayerKv<B>,
    queries: Tensor<B, 4>,
    step: &StepContext<B>,
) -> Result<Rotated<B>, CoreError> {
    #[cfg(feature = "cuda")]
    if let Some(memory) = memory.as_ref().filter(|m| !m.kv.is_empty())
        && let Some(start) = memory.continued_range()
    {
        let [_, heads, _, head_dim] = chunk.keys.dims();
        memory.check_shape(heads, head_dim, chunk.values.dims()[3])?;
        let queries = (&queries, step.rope_start);
        if let Some((entries, keys, queries)) =
            step.table.join_rotated(&memory.kv, &chunk, queries, start)
        {
            let joined = Joined {
                entries,
                rope: RopePositions::Range { start },
                memory_len: memory.kv.len(),
                chunk_rope_start: memory.chunk_rope_start,
            };
            return Ok(Rotated {
                joined,
                keys,
                queries,
            });
        }
    }
    let queries = step.table.rotate_range(queries, step.rope_start);
    let joined = join_memory(memory, chunk, step.rope_start)?;
    let keys = match &joined.rope {
        RopePositions::Range { start } => {
            step.table.rotate_range(joined.entries.keys.clone(), *start)
        }
        RopePositions::At(positions) => step
            .table
            .rotate_at(joined.entries.keys.clone(), positions.clone()),
    };
    Ok(Rotated {
        joined,
        keys,
        queries,
    })
}

/// What attention reads of a step: the joined entries, their keys and the chunk's queries
/// rotated at this step's positions.
struct Rotated<B: Backend> {
    joined: Joined<B>,
    keys: Tensor<B, 4>,
    queries: Tensor<B, 4>,
}

/// Grouped-query attention with q/k/v/o projections named as in Hugging Face checkpoints.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// Query projection.
    pub q_proj: Linear<B>,
    /// Key projection.
    pub k_proj: Linear<B>,
    /// Value projection.
    pub v_proj: Linear<B>,
    /// Output projection.
    pub o_proj: Linear<B>,
    /// Number of query heads.
    pub n_heads: usize,
    /// Number of key/value heads.
    pub n_kv_heads: usize,
    /// Dimension of one head.
    pub head_dim: usize,
    /// Sliding window (Mistral v0.1), in positions.
    pub sliding_window: Option<usize>,
}

impl<B: Backend> Attention<B> {
    /// Attends the chunk over `memory` followed by itself (statistics, if any are needed,
    /// `query_block` queries at a time).
    ///
    /// # Shapes
    /// - `x`: `[1, chunk_len, hidden]`; returns `[1, chunk_len, hidden]`, the entries
    ///   `[memory; chunk]` (keys before RoPE) and the statistics over those
    ///   `memory_len + chunk_len` keys.
    pub(crate) fn forward(
        &self,
        x: Tensor<B, 3>,
        step: &StepContext<B>,
        memory: Option<LayerMemory<B>>,
        needs: AttentionNeeds,
        query_block: usize,
    ) -> Result<AttentionOutput<B>, CoreError> {
        let [_, c, _] = x.dims();
        let heads = |t: Tensor<B, 3>, h: usize| t.reshape([1, c, h, self.head_dim]).swap_dims(1, 2);
        let [q, k, v] = project(x, [&self.q_proj, &self.k_proj, &self.v_proj]);
        let q = heads(q, self.n_heads);
        let chunk = LayerKv {
            keys: heads(k, self.n_kv_heads),
            values: heads(v, self.n_kv_heads),
            positions: step.document_positions.clone(),
        };
        let Rotated {
            joined,
            keys,
            queries: q,
        } = join_and_rotate(memory, chunk, q, step)?;
        // Keys can fall out of the window only once the step reaches past it.
        let hidden = self
            .sliding_window
            .filter(|w| step.last_position >= *w)
            .map(|window| {
                let keys = &joined.entries.keys;
                let [_, heads, len, _] = keys.dims();
                let positions = joined.rope.tensor(heads, len, &keys.device());
                sliding_window_mask(step.rope_positions.clone(), positions, window)
            });
        let entries = joined.entries;
        let (out, stats) = attend_counting(
            q,
            keys,
            entries.values.clone(),
            hidden,
            needs,
            query_block,
            |keys, n_kv_heads| step.visible_queries(keys, n_kv_heads),
        );
        let out = out.reshape([1, c, self.n_heads * self.head_dim]);
        Ok((self.o_proj.forward(out), entries, stats))
    }
}
