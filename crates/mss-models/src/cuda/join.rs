//! A layer's memory joined in front of its chunk, with the joined keys rotated, as one CubeCL
//! kernel.
//!
//! Through Burn's operations the join is three concatenations (keys, values, positions; two
//! slice assignments each) and the keys' RoPE a kernel more: seven kernels and four operations
//! handed to Burn's fusion thread at every layer and step, where at the shapes that matter the
//! host's pace per operation sets the time as much as the GPU does
//! (docs/results/gpu-prefill.md). One custom operation reads the memory and the chunk once and
//! writes the joined entries (keys before RoPE, for the pruner) and the rotated keys (for
//! attention), with RoPE's arithmetic exactly as the RoPE kernel's.

use std::sync::atomic::{AtomicUsize, Ordering};

use burn::prelude::*;
use burn::tensor::DType;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_fusion::FusionRuntime;
use burn_fusion::stream::Operation;
use burn_ir::{CustomOpIr, HandleContainer};
use cubecl::cuda::CudaRuntime;
use cubecl::prelude::{CubeCount, CubeDim};
use mss_core::LayerKv;
use mss_core::cuda::vectors::{vector_readable, widest_vector};
use mss_core::cuda::{
    FusionCuda, Inner, StridesLaunch, as_fusion, float_tensor, fusion_primitive, int_tensor,
    is_cuda, kv_kernels_enabled, register_custom,
};

use self::kernel::join_rotate_kernel;

/// This file's source, hashed: a compile-time argument of its kernel, so that a changed kernel
/// misses CubeCL's persistent cache (`mss_core::source_hash`).
const SOURCE: u64 =
    mss_core::source_hash(concat!(include_str!("join.rs"), include_str!("rope.rs")));

/// The kernel, apart from Burn's prelude (whose `Tensor`, `Int` and `Float` are not CubeCL's).
mod kernel {
    use cubecl::prelude::*;
    use mss_core::cuda::Strides;

    use crate::cuda::rope::kernel::rotate_pair;

    /// Entry `t` of head `h` of `[memory; chunk]` (`t < memory_len` from the memory, the
    /// chunk's entry `t - memory_len` after it): its key and value copied, its position copied,
    /// and its key rotated at `start + t` as `rope_kernel` rotates (`rotate_pair`); a chunk
    /// entry's `n_rep` queries (query heads `n_rep h ..`) rotated at `query_start + t -
    /// memory_len` too. One cube per entry and `CUBE_DIM_Y` heads, one unit per vector of `N`
    /// pairs; the inputs are read by their strides along heads and entries (`[memory keys,
    /// memory values, chunk keys, chunk values]` in vectors, rows unit-strided; positions in
    /// elements), the queries likewise, the tables by their row stride in vectors; the outputs
    /// are contiguous, rows of `width` vectors. Keys, values and queries share their head
    /// width. Arrays and scalars, not tensors: CubeCL uploads a tensor argument's shape and
    /// strides before each launch (a copy and a gap on the GPU, docs/results/gpu-prefill.md).
    // CubeCL declares a variable before the branches that assign it.
    #[allow(clippy::too_many_arguments, unused_assignments)]
    #[cube(launch_unchecked)]
    pub(super) fn join_rotate_kernel<F: Float, I: Int, N: Size>(
        memory_keys: &Array<Vector<F, N>>,
        memory_values: &Array<Vector<F, N>>,
        memory_positions: &Array<I>,
        chunk_keys: &Array<Vector<F, N>>,
        chunk_values: &Array<Vector<F, N>>,
        chunk_positions: &Array<I>,
        cos: &Array<Vector<F, N>>,
        signed_sin: &Array<Vector<F, N>>,
        keys: &mut Array<Vector<F, N>>,
        values: &mut Array<Vector<F, N>>,
        positions: &mut Array<I>,
        rotated: &mut Array<Vector<F, N>>,
        queries: &Array<Vector<F, N>>,
        rotated_queries: &mut Array<Vector<F, N>>,
        heads: u32,
        len: u32,
        width: u32,
        memory_len: u32,
        start: u32,
        cos_row: u32,
        sin_row: u32,
        n_rep: u32,
        query_start: u32,
        memory_key_strides: Strides,
        memory_value_strides: Strides,
        memory_position_strides: Strides,
        chunk_key_strides: Strides,
        chunk_value_strides: Strides,
        chunk_position_strides: Strides,
        query_strides: Strides,
        #[comptime] _source: u64,
        #[define(F, I)] _dtypes: [StorageType; 2],
    ) {
        let d = width as usize;
        let half = d / 2;
        let len = len as usize;
        let i = UNIT_POS_X as usize;
        let t = CUBE_POS_X as usize;
        let h = (CUBE_POS_Y * CUBE_DIM_Y + UNIT_POS_Y) as usize;
        if h < heads as usize {
            let m = memory_len as usize;
            let mut a = Vector::<F, N>::new(F::new(0.0));
            let mut b = Vector::<F, N>::new(F::new(0.0));
            let mut va = Vector::<F, N>::new(F::new(0.0));
            let mut vb = Vector::<F, N>::new(F::new(0.0));
            let mut position = I::new(0);
            if t < m {
                let key_row = memory_key_strides.at(h, t);
                let value_row = memory_value_strides.at(h, t);
                a = memory_keys[key_row + i];
                b = memory_keys[key_row + i + half];
                va = memory_values[value_row + i];
                vb = memory_values[value_row + i + half];
                position = memory_positions[memory_position_strides.at(h, t)];
            } else {
                let c = t - m;
                let key_row = chunk_key_strides.at(h, c);
                let value_row = chunk_value_strides.at(h, c);
                a = chunk_keys[key_row + i];
                b = chunk_keys[key_row + i + half];
                va = chunk_values[value_row + i];
                vb = chunk_values[value_row + i + half];
                position = chunk_positions[chunk_position_strides.at(h, c)];
            }
            let o = (h * len + t) * d;
            keys[o + i] = a;
            keys[o + i + half] = b;
            values[o + i] = va;
            values[o + i + half] = vb;
            if i == 0 {
                positions[h * len + t] = position;
            }
            let p = start as usize + t;
            let (cos_base, sin_base) = (p * cos_row as usize, p * sin_row as usize);
            let (ra, rb) = rotate_at::<F, N>(a, b, cos, signed_sin, cos_base, sin_base, i, half);
            rotated[o + i] = ra;
            rotated[o + i + half] = rb;
            if t >= m {
                let c = t - m;
                let chunk_len = len - m;
                let q_p = query_start as usize + c;
                let (cos_base, sin_base) = (q_p * cos_row as usize, q_p * sin_row as usize);
                for r in 0..n_rep as usize {
                    let head = h * n_rep as usize + r;
                    let row = query_strides.at(head, c);
                    let (qa, qb) = rotate_at::<F, N>(
                        queries[row + i],
                        queries[row + i + half],
                        cos,
                        signed_sin,
                        cos_base,
                        sin_base,
                        i,
                        half,
                    );
                    let o = (head * chunk_len + c) * d;
                    rotated_queries[o + i] = qa;
                    rotated_queries[o + i + half] = qb;
                }
            }
        }
    }

    /// `a` and `b` (a row's vectors at `i` and `i + half`) rotated with the table rows that
    /// start at `cos_base` and `sin_base`, through `rotate_pair`.
    #[cube]
    #[allow(clippy::too_many_arguments)]
    fn rotate_at<F: Float, N: Size>(
        a: Vector<F, N>,
        b: Vector<F, N>,
        cos: &Array<Vector<F, N>>,
        signed_sin: &Array<Vector<F, N>>,
        cos_base: usize,
        sin_base: usize,
        i: usize,
        half: usize,
    ) -> (Vector<F, N>, Vector<F, N>) {
        rotate_pair::<F, N>(
            a,
            b,
            cos[cos_base + i],
            cos[cos_base + i + half],
            signed_sin[sin_base + i],
            signed_sin[sin_base + i + half],
        )
    }
}

static JOINS: AtomicUsize = AtomicUsize::new(0);

/// How many joins this process has queued through the join-and-rotate kernel: a check that
/// compares the kernel with Burn's operations asks it, so that it cannot pass with both sides
/// on Burn's.
pub fn join_kernel_launches() -> usize {
    JOINS.load(Ordering::Relaxed)
}

/// `[memory; chunk]` (keys before RoPE, values, positions), its keys rotated at positions
/// `start..start + memory_len + chunk_len` and the chunk's `queries` rotated at
/// `query_start..query_start + chunk_len`, through one kernel, when `B` is Burn's CUDA
/// backend, the KV kernels and the RoPE kernel are on (`mss_core::cuda::use_kv_kernels`,
/// [`use_rope_kernel`](super::use_rope_kernel)), the memory's and the chunk's keys, values and
/// positions agree in shape, keys, values, queries and the tables share a float dtype and a
/// head width (at most 1024), the query heads are a whole number of times the KV heads, the
/// positions reach no further than the tables and every index fits 32 bits; `None` otherwise
/// (the caller then joins and rotates with Burn's operations and the RoPE kernel).
///
/// # Shapes
/// - `memory`, `chunk`: keys and values `[1, heads, len, head_dim]`, positions `[heads, len]`
/// - `queries`: `[1, query_heads, chunk_len, head_dim]`
/// - `cos`, `signed_sin`: `[table_len, head_dim]`
/// - returns the entries `[1, heads, memory_len + chunk_len, ·]`, their rotated keys and the
///   rotated queries
pub(crate) fn join_rotated<B: Backend>(
    memory: &LayerKv<B>,
    chunk: &LayerKv<B>,
    (queries, query_start): (&Tensor<B, 4>, usize),
    cos: &Tensor<B, 2>,
    signed_sin: &Tensor<B, 2>,
    start: usize,
) -> Option<(LayerKv<B>, Tensor<B, 4>, Tensor<B, 4>)> {
    if !is_cuda::<B>() || !kv_kernels_enabled() || !super::rope_kernel_enabled() {
        return None;
    }
    let [memory_batch, heads, memory_len, d] = memory.keys.dims();
    let [chunk_batch, chunk_heads, chunk_len, chunk_d] = chunk.keys.dims();
    let len = memory_len + chunk_len;
    let dtype = chunk.keys.dtype();
    let query_heads = queries.dims()[1];
    // Every index the unchecked kernel computes, in CubeCL's 32-bit indexing (`LayerKv`'s
    // fields are public: their shapes are checked here, not assumed).
    let indexable = |n: usize| u32::try_from(n).is_ok();
    let fits = [memory_batch, chunk_batch] == [1, 1]
        && heads > 0
        && heads == chunk_heads
        && d == chunk_d
        && d > 0
        && d % 2 == 0
        && d <= 1024
        && memory_len > 0
        && chunk_len > 0
        && memory.values.dims() == [1, heads, memory_len, d]
        && chunk.values.dims() == [1, heads, chunk_len, d]
        && memory.positions.dims() == [heads, memory_len]
        && chunk.positions.dims() == [heads, chunk_len]
        && [memory.values.dtype(), chunk.values.dtype()] == [dtype; 2]
        && [memory.keys.dtype(), cos.dtype(), signed_sin.dtype()] == [dtype; 3]
        && queries.dtype() == dtype
        && query_heads > 0
        && query_heads % heads == 0
        && queries.dims() == [1, query_heads, chunk_len, d]
        && matches!(dtype, DType::BF16 | DType::F16 | DType::F32)
        && memory.positions.dtype() == DType::I32
        && chunk.positions.dtype() == DType::I32
        && cos.dims()[1] == d
        && signed_sin.dims() == cos.dims()
        // The kernel reads the tables unchecked.
        && start + len <= cos.dims()[0]
        && query_start + chunk_len <= cos.dims()[0]
        && indexable((start + len).max(query_start + chunk_len) * d)
        && indexable(heads * len * d)
        && indexable(query_heads * chunk_len * d);
    if !fits {
        return None;
    }
    let inputs = vec![
        fusion_primitive(&memory.keys)?,
        fusion_primitive(&memory.values)?,
        as_fusion(memory.positions.clone().into_primitive())?,
        fusion_primitive(&chunk.keys)?,
        fusion_primitive(&chunk.values)?,
        as_fusion(chunk.positions.clone().into_primitive())?,
        fusion_primitive(cos)?,
        fusion_primitive(signed_sin)?,
        fusion_primitive(queries)?,
    ];
    let entries = Shape::new([1, heads, len, d]);
    let outputs = [
        (entries.clone(), dtype),
        (entries.clone(), dtype),
        (Shape::new([heads, len]), DType::I32),
        (entries, dtype),
        (Shape::new([1, query_heads, chunk_len, d]), dtype),
    ];
    let operation = |desc| JoinRotate {
        desc,
        memory_len: memory_len as u32,
        start: start as u32,
        query_start: query_start as u32,
    };
    let mut outputs = register_custom("mss_join_rotate", inputs, &outputs, operation).into_iter();
    JOINS.fetch_add(1, Ordering::Relaxed);
    let (keys, values, positions, rotated, rotated_queries) = (
        outputs.next()?,
        outputs.next()?,
        outputs.next()?,
        outputs.next()?,
        outputs.next()?,
    );
    let entries = LayerKv {
        keys: float_tensor(keys)?,
        values: float_tensor(values)?,
        positions: int_tensor(positions)?,
    };
    Some((
        entries,
        float_tensor(rotated)?,
        float_tensor(rotated_queries)?,
    ))
}

/// The registered operation: inputs the memory's keys, values and positions, the chunk's, the
/// tables and the queries; outputs the joined keys, values and positions, the rotated keys and
/// the rotated queries.
#[derive(Debug)]
struct JoinRotate {
    desc: CustomOpIr,
    memory_len: u32,
    start: u32,
    query_start: u32,
}

impl Operation<FusionCuda> for JoinRotate {
    fn execute(&self, handles: &mut HandleContainer<<FusionCuda as FusionRuntime>::FusionHandle>) {
        let inputs = &self.desc.inputs;
        let mut float = |i: usize| handles.get_float_tensor::<Inner>(&inputs[i]);
        let [memory_keys, memory_values] = [float(0), float(1)];
        let [chunk_keys, chunk_values, cos, signed_sin] = [float(3), float(4), float(6), float(7)];
        let queries = float(8);
        let memory_positions = handles.get_int_tensor::<Inner>(&inputs[2]);
        let chunk_positions = handles.get_int_tensor::<Inner>(&inputs[5]);
        let outputs = launch(
            [memory_keys, memory_values, chunk_keys, chunk_values],
            [memory_positions, chunk_positions],
            [cos, signed_sin],
            queries,
            [self.memory_len, self.start, self.query_start],
        );
        let [keys, values, positions, rotated, rotated_queries] = outputs;
        let id = |i: usize| &self.desc.outputs[i].id;
        handles.register_float_tensor::<Inner>(id(0), keys);
        handles.register_float_tensor::<Inner>(id(1), values);
        handles.register_int_tensor::<Inner>(id(2), positions);
        handles.register_float_tensor::<Inner>(id(3), rotated);
        handles.register_float_tensor::<Inner>(id(4), rotated_queries);
    }
}

/// Allocates the outputs (keys, values, positions, rotated keys, rotated queries) and queues
/// the kernel.
fn launch(
    entries: [CubeTensor<CudaRuntime>; 4],
    positions: [CubeTensor<CudaRuntime>; 2],
    tables: [CubeTensor<CudaRuntime>; 2],
    queries: CubeTensor<CudaRuntime>,
    [memory_len, start, query_start]: [u32; 3],
) -> [CubeTensor<CudaRuntime>; 5] {
    let [_, heads, _, d] = entries[0].meta.shape().dims::<4>();
    let chunk_len = entries[2].meta.shape().dims::<4>()[2];
    let len = memory_len as usize + chunk_len;
    // The widest vector of pairs, at most 16 bytes, that every row holds whole (as RoPE's);
    // operands that cannot be read as such vectors are copied contiguous first.
    let dtype = entries[0].dtype;
    let vector = widest_vector(dtype, &[d / 2]);
    let [memory_keys, memory_values, chunk_keys, chunk_values] =
        entries.map(|t| vector_readable(t, vector));
    let [cos, signed_sin] = tables.map(|t| vector_readable(t, vector));
    let queries = vector_readable(queries, vector);
    let query_heads = queries.meta.shape()[1];
    let [memory_positions, chunk_positions] = positions;
    // Strides along heads and entries, in vectors for keys and values; the tables' row strides.
    let of = |t: &CubeTensor<CudaRuntime>, first: usize, unit: usize| {
        StridesLaunch::<CudaRuntime>::of(t.meta.strides(), first, unit)
    };
    let memory_key_strides = of(&memory_keys, 1, vector);
    let memory_value_strides = of(&memory_values, 1, vector);
    let chunk_key_strides = of(&chunk_keys, 1, vector);
    let chunk_value_strides = of(&chunk_values, 1, vector);
    let memory_position_strides = of(&memory_positions, 0, 1);
    let chunk_position_strides = of(&chunk_positions, 0, 1);
    let query_strides = of(&queries, 1, vector);
    let (cos_stride, sin_stride) = (cos.meta.strides()[0], signed_sin.meta.strides()[0]);
    let (client, device) = (chunk_keys.client.clone(), chunk_keys.device.clone());
    let empty = |shape: Shape, dtype: DType| {
        empty_device_contiguous_dtype(client.clone(), device.clone(), shape, dtype)
    };
    let shape = Shape::new([1, heads, len, d]);
    let int = memory_positions.dtype;
    let keys = empty(shape.clone(), dtype);
    let values = empty(shape.clone(), dtype);
    let joined_positions = empty(Shape::new([heads, len]), int);
    let rotated = empty(shape, dtype);
    let rotated_queries = empty(Shape::new([1, query_heads, chunk_len, d]), dtype);
    let count = |n: usize| u32::try_from(n).expect("checked by join_rotated");
    // Vectors of a half row along x, as many heads as make 256 units along y (as RoPE's).
    let units = d / 2 / vector;
    let heads_per_cube = (256 / units).clamp(1, heads);
    // Unchecked: every unit reads a vector below `d / 2` of its entry's row and the one half a
    // row further, of operands laid out as the kernel says (`vector_readable`), table rows
    // below `start + len` and `query_start + chunk_len` (checked by `join_rotated`), and
    // writes those of the outputs, for heads below `heads` (query heads below `query_heads`)
    // only.
    #[allow(unsafe_code)]
    unsafe {
        join_rotate_kernel::launch_unchecked::<CudaRuntime>(
            &client,
            CubeCount::Static(count(len), count(heads.div_ceil(heads_per_cube)), 1),
            CubeDim::new_2d(count(units), count(heads_per_cube)),
            vector,
            memory_keys.into_array_arg(),
            memory_values.into_array_arg(),
            memory_positions.into_array_arg(),
            chunk_keys.into_array_arg(),
            chunk_values.into_array_arg(),
            chunk_positions.into_array_arg(),
            cos.into_array_arg(),
            signed_sin.into_array_arg(),
            keys.clone().into_array_arg(),
            values.clone().into_array_arg(),
            joined_positions.clone().into_array_arg(),
            rotated.clone().into_array_arg(),
            queries.into_array_arg(),
            rotated_queries.clone().into_array_arg(),
            count(heads),
            count(len),
            count(d / vector),
            memory_len,
            start,
            count(cos_stride / vector),
            count(sin_stride / vector),
            count(query_heads / heads),
            query_start,
            memory_key_strides,
            memory_value_strides,
            memory_position_strides,
            chunk_key_strides,
            chunk_value_strides,
            chunk_position_strides,
            query_strides,
            SOURCE,
            [dtype.into(), int.into()],
        );
    }
    [keys, values, joined_positions, rotated, rotated_queries]
}
