//! Causal attention of a chunk over `[memory; chunk]` as two cuBLAS products around one CubeCL
//! softmax kernel, a custom operation of Burn's fusion stream.
//!
//! Burn 0.21's attention on CUDA either falls back to unfused operations when given a mask
//! (materialised f32 scores, then mask, max, subtract, exponential, sum, divide and cast, each a
//! kernel) or, for long chunks, runs flash kernels whose causal boundary is aligned at the top
//! left and whose autotuner can settle on a kernel without tensor cores
//! (docs/results/gpu-prefill.md). Here the scores are still materialised, a block of queries at
//! a time, but each product runs at cuBLAS's speed, the softmax is one pass, and a block's
//! products stop at its last visible key (keys no query of the block sees are never scored).
//! Column sums and the last query's row, when a pruner needs them, are one more product per
//! block from the same probabilities (`statistics`); second moments still run Burn's blocked
//! products (`mss_core::attend`).

use std::any::TypeId;

use burn::prelude::*;
use burn::tensor::DType;
use burn_cubecl::kernel::{into_contiguous, slice};
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::ops::reshape;
use burn_cubecl::tensor::CubeTensor;
use burn_fusion::FusionRuntime;
use burn_fusion::stream::Operation;
use burn_ir::{CustomOpIr, HandleContainer};
use cubecl::cuda::CudaRuntime;

use super::gemm::{Gemm, Precision};
use super::{cudnn, flash};
use mss_core::cuda::{
    FusionCuda, Inner, Primitive, float_tensor, fusion_primitive, register_custom,
};

use super::op::submit_products;
use super::operand::Operand;
use super::score_blocks::query_block;
use super::softmax::causal_softmax;
use super::statistics::{BlockStatistics, selectors, statistics_product};

/// The chunk's queries attend causally to `[memory; chunk]` (memory keys visible to every
/// query), through cuBLAS and one softmax kernel, when `B` is Burn's CUDA backend, cuBLAS is
/// available and the operands are bf16, f16 or f32 alike; `None` otherwise (the caller then
/// runs Burn's attention).
///
/// # Shapes
/// - `q`: `[1, n_heads, chunk_len, head_dim]`
/// - `k`: `[1, n_kv_heads, keys, head_dim]`, `v`: `[1, n_kv_heads, keys, value_dim]`
/// - returns `[1, chunk_len, n_heads, value_dim]` (the layout the output projection reads)
pub(crate) fn causal_attention<B: Backend>(
    q: &Tensor<B, 4>,
    k: &Tensor<B, 4>,
    v: &Tensor<B, 4>,
) -> Option<Tensor<B, 4>> {
    let out = register(q, k, v, false)?.pop()?;
    float_tensor(out)
}

/// [`causal_attention`], with per KV head the column sums over the chunk's queries and the last
/// query's row (each summed over the KV head's query heads, f32), computed from the same
/// probabilities.
///
/// # Shapes
/// - as [`causal_attention`]; the statistics are the column sums and the last query's row,
///   `[n_kv_heads, keys]` each
pub(crate) fn causal_attention_with_statistics<B: Backend>(
    q: &Tensor<B, 4>,
    k: &Tensor<B, 4>,
    v: &Tensor<B, 4>,
) -> Option<(Tensor<B, 4>, [Tensor<B, 2>; 2])> {
    let mut outputs = register(q, k, v, true)?;
    let last = float_tensor(outputs.pop()?)?;
    let sums = float_tensor(outputs.pop()?)?;
    let out = float_tensor(outputs.pop()?)?;
    Some((out, [sums, last]))
}

/// Registers the attention (with the statistics' output when asked) when it applies.
fn register<B: Backend>(
    q: &Tensor<B, 4>,
    k: &Tensor<B, 4>,
    v: &Tensor<B, 4>,
    statistics: bool,
) -> Option<Vec<Primitive>> {
    if TypeId::of::<B::FloatTensorPrimitive>() != TypeId::of::<Primitive>() {
        return None;
    }
    let [batch, n_heads, chunk_len, head_dim] = q.dims();
    let [_, n_kv_heads, keys, key_dim] = k.dims();
    let [_, _, value_keys, value_dim] = v.dims();
    let dtype = q.dtype();
    let fits = batch == 1
        && chunk_len > 0
        && head_dim > 0
        && value_dim > 0
        && key_dim == head_dim
        && value_keys == keys
        && keys >= chunk_len
        && n_kv_heads > 0
        && n_heads % n_kv_heads == 0
        && k.dtype() == dtype
        && v.dtype() == dtype;
    if !fits || Precision::of(dtype).is_none() || !super::cublas_available() {
        return None;
    }
    let inputs = [q, k, v]
        .into_iter()
        .map(fusion_primitive)
        .collect::<Option<Vec<_>>>()?;
    let mut outputs = vec![(Shape::new([1, chunk_len, n_heads, value_dim]), dtype)];
    if statistics {
        let row = (Shape::new([n_kv_heads, keys]), DType::F32);
        outputs.extend([row.clone(), row]);
    }
    let outputs = register_custom("mss_causal_attention", inputs, &outputs, |desc| {
        CausalAttention { desc, statistics }
    });
    (outputs.len() == 1 + 2 * statistics as usize).then_some(outputs)
}

/// The registered operation: inputs `q`, `k`, `v`, outputs `[1, chunk_len, n_heads, value_dim]`
/// and, with `statistics`, the column sums and the last query's row, `[n_kv_heads, keys]` each.
#[derive(Debug)]
struct CausalAttention {
    desc: CustomOpIr,
    statistics: bool,
}

impl Operation<FusionCuda> for CausalAttention {
    fn execute(&self, handles: &mut HandleContainer<<FusionCuda as FusionRuntime>::FusionHandle>) {
        let [q, k, v] = [0, 1, 2].map(|i| handles.get_float_tensor::<Inner>(&self.desc.inputs[i]));
        let (out, stats) = attend_blocks(q, k, v, self.statistics);
        handles.register_float_tensor::<Inner>(&self.desc.outputs[0].id, out);
        for (i, stat) in stats.into_iter().flatten().enumerate() {
            handles.register_float_tensor::<Inner>(&self.desc.outputs[1 + i].id, stat);
        }
    }
}

/// A rank-4 operand `[1, heads, rows, dim]` whose rows cuBLAS can read, with its head and row
/// strides (made contiguous first when its last dimension is not unit-strided).
fn heads_operand(tensor: CubeTensor<CudaRuntime>) -> (CubeTensor<CudaRuntime>, [usize; 2]) {
    let strides = |t: &CubeTensor<CudaRuntime>| {
        let s = t.meta.strides();
        (s[3] == 1).then_some([s[1], s[2]])
    };
    match strides(&tensor) {
        Some(strides) => (tensor, strides),
        None => {
            let tensor = into_contiguous(tensor);
            let s = strides(&tensor).expect("a contiguous tensor has unit-strided rows");
            (tensor, s)
        }
    }
}

/// The attention, a block of queries at a time: scores `Q Kᵀ / √d` of the block's queries over
/// the keys they can see (f32, cuBLAS), the causal softmax (one kernel), then `P V` (cuBLAS)
/// written straight into the output's rows. Query head `h` reads KV head `h / n_rep`; each
/// product is batched over the KV heads, one per position in the group. With `statistics`, one
/// more product per block writes (last block) or adds (the others) the statistics
/// (`statistics::statistics_product`, `[n_kv_heads, 2, keys]`, then cut into the column sums
/// and the last query's row): the blocks run last first, as the last one covers every key.
fn attend_blocks(
    q: CubeTensor<CudaRuntime>,
    k: CubeTensor<CudaRuntime>,
    v: CubeTensor<CudaRuntime>,
    statistics: bool,
) -> (
    CubeTensor<CudaRuntime>,
    Option<[CubeTensor<CudaRuntime>; 2]>,
) {
    let dtype = q.dtype;
    let precision = Precision::of(dtype).expect("the dtype was checked when registered");
    let [_, n_heads, chunk_len, head_dim] = q.meta.shape().dims::<4>();
    let [_, n_kv_heads, keys, _] = k.meta.shape().dims::<4>();
    let value_dim = v.meta.shape()[3];
    let n_rep = n_heads / n_kv_heads;
    let memory = keys - chunk_len;
    let scale = (1.0 / (head_dim as f64).sqrt()) as f32;
    let (q, [q_head, q_row]) = heads_operand(q);
    let (k, [k_head, k_row]) = heads_operand(k);
    let (v, [v_head, v_row]) = heads_operand(v);
    if super::flash_attention_enabled() && flash::serves(&q, &k, &v) {
        // cuDNN's fused attention where it builds a plan for the shape (about twice the
        // flash kernel's speed on the 7B shape), the flash kernel otherwise.
        let (out, lse) = cudnn::cudnn_attention(&q, &k, &v, scale)
            .unwrap_or_else(|| flash::flash_attention(q.clone(), k.clone(), v, scale));
        let stats = statistics.then(|| flash::flash_statistics(q, k, lse, scale));
        return (out, stats);
    }
    let out = empty_device_contiguous_dtype(
        q.client.clone(),
        q.device.clone(),
        Shape::new([1, chunk_len, n_heads, value_dim]),
        dtype,
    );
    let stats = statistics.then(|| {
        empty_device_contiguous_dtype(
            q.client.clone(),
            q.device.clone(),
            Shape::new([n_kv_heads, 2, keys]),
            DType::F32,
        )
    });
    // A block's selectors depend on its rows: the last block's, then the others'.
    let mut block_selectors: Vec<(usize, CubeTensor<CudaRuntime>)> = Vec::new();
    let bytes = dtype.size() as u64;
    let rows_per_block = query_block(n_heads, keys, chunk_len);
    for start in (0..chunk_len).step_by(rows_per_block).rev() {
        let rows = rows_per_block.min(chunk_len - start);
        // The block's last query sees the memory and the chunk up to itself.
        let width = memory + start + rows;
        let scores = empty_device_contiguous_dtype(
            q.client.clone(),
            q.device.clone(),
            Shape::new([n_heads * rows, width]),
            DType::F32,
        );
        let bindings = [&q, &k, &scores]
            .map(|t| t.handle.clone().binding())
            .to_vec();
        // Sᵢ = Qᵢ Kᵀ for query head i = g n_rep + j: the block's rows of Q, Kᵀ of KV head g
        // (its first `width` keys), rows of S `width` apart.
        submit_products(&q.device, bindings, move |ptrs| {
            let (q_ptr, k_ptr, s_ptr) = (ptrs[0], ptrs[1], ptrs[2]);
            (0..n_rep)
                .map(|j| Gemm {
                    m: rows,
                    n: width,
                    k: head_dim,
                    inputs: precision,
                    output: Precision::F32,
                    alpha: scale,
                    beta: 0.0,
                    a: (
                        q_ptr + ((j * q_head + start * q_row) as u64) * bytes,
                        Operand::of(rows, head_dim, q_row, 1).expect("unit-strided rows"),
                    ),
                    b: (
                        k_ptr,
                        Operand::of(head_dim, width, 1, k_row).expect("unit-strided rows"),
                    ),
                    c: (s_ptr + ((j * rows * width) as u64) * 4, width),
                    batch: n_kv_heads,
                    batch_strides: [n_rep * q_head, k_head, n_rep * rows * width],
                })
                .collect()
        });
        let probs = causal_softmax(&scores, rows, memory + start + 1, dtype);
        if let Some(stats) = &stats {
            let index = match block_selectors.iter().position(|(r, _)| *r == rows) {
                Some(index) => index,
                None => {
                    block_selectors.push((rows, selectors(&probs, n_rep, rows, dtype)));
                    block_selectors.len() - 1
                }
            };
            let block = BlockStatistics {
                n_rep,
                n_kv_heads,
                rows,
                width,
                keys,
                last: start + rows == chunk_len,
            };
            let bindings = [&probs, &block_selectors[index].1, stats]
                .map(|t| t.handle.clone().binding())
                .to_vec();
            submit_products(&q.device, bindings, move |ptrs| {
                vec![statistics_product(
                    block,
                    precision,
                    [ptrs[0], ptrs[1], ptrs[2]],
                )]
            });
        }
        let bindings = [&probs, &v, &out]
            .map(|t| t.handle.clone().binding())
            .to_vec();
        // Oᵢ = Pᵢ V for the same heads, into the output's rows `start..` of head i.
        submit_products(&q.device, bindings, move |ptrs| {
            let (p_ptr, v_ptr, o_ptr) = (ptrs[0], ptrs[1], ptrs[2]);
            let out_row = n_heads * value_dim;
            (0..n_rep)
                .map(|j| Gemm {
                    m: rows,
                    n: value_dim,
                    k: width,
                    inputs: precision,
                    output: precision,
                    alpha: 1.0,
                    beta: 0.0,
                    a: (
                        p_ptr + ((j * rows * width) as u64) * bytes,
                        Operand::of(rows, width, width, 1).expect("contiguous"),
                    ),
                    b: (
                        v_ptr,
                        Operand::of(width, value_dim, v_row, 1).expect("unit-strided rows"),
                    ),
                    c: (
                        o_ptr + ((start * out_row + j * value_dim) as u64) * bytes,
                        out_row,
                    ),
                    batch: n_kv_heads,
                    batch_strides: [n_rep * rows * width, v_head, n_rep * value_dim],
                })
                .collect()
        });
    }
    let rows = |stats: CubeTensor<CudaRuntime>| {
        [0, 1].map(|i| {
            let row = slice(stats.clone(), &[0..n_kv_heads, i..i + 1, 0..keys]);
            reshape(into_contiguous(row), Shape::new([n_kv_heads, keys]))
        })
    };
    (out, stats.map(rows))
}
