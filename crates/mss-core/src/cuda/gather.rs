//! Pruning's gather on CUDA: the kept rows of a layer's keys, values and positions in one
//! kernel.
//!
//! [`LayerKv::gather_rows`] through Burn's operations is three `select`s and ten operations
//! (reshapes around each): each one handed to Burn's fusion thread, at every layer and step,
//! where at the shapes that matter the host's pace per operation sets the prefill's time as
//! much as the GPU does (docs/results/gpu-prefill.md). One custom operation copies the same
//! bits.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use burn::prelude::*;
use burn::tensor::DType;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_fusion::FusionRuntime;
use burn_fusion::stream::Operation;
use burn_ir::{CustomOpIr, HandleContainer};
use cubecl::cuda::CudaRuntime;
use cubecl::prelude::{CubeCount, CubeDim};

use self::kernel::gather_rows_kernel;
use super::strides::StridesLaunch;
use super::vectors::{vector_readable, widest_vector};
use super::{
    FusionCuda, Inner, as_fusion, float_tensor, fusion_primitive, int_tensor, is_cuda,
    register_custom,
};
use crate::LayerKv;

/// This file's source, hashed: a compile-time argument of its kernel, so that a changed kernel
/// misses CubeCL's persistent cache ([`crate::source_hash`]).
const SOURCE: u64 = crate::source_hash(include_str!("gather.rs"));

/// Units of a cube.
const UNITS: usize = 256;

static KV_KERNELS: AtomicBool = AtomicBool::new(true);

/// Whether the KV cache's joins and gathers run as one kernel each on Burn's CUDA backend
/// (the default: [`LayerKv::gather_rows`] here, and the join of a layer's memory and chunk
/// with its keys' RoPE in `mss-models`) or as Burn's operations, for every model in the
/// process. Both copy the same bits; the switch exists to check and compare the two.
pub fn use_kv_kernels(enabled: bool) {
    KV_KERNELS.store(enabled, Ordering::Relaxed);
}

/// Whether the KV kernels are on ([`use_kv_kernels`]).
pub fn kv_kernels_enabled() -> bool {
    KV_KERNELS.load(Ordering::Relaxed)
}

static GATHERS: AtomicUsize = AtomicUsize::new(0);

/// How many gathers this process has queued through the kernel ([`gather_rows`] and
/// [`keep_rows`]): a check
/// that compares the kernel with Burn's operations asks it, so that it cannot pass with both
/// sides on Burn's.
pub fn gather_kernel_launches() -> usize {
    GATHERS.load(Ordering::Relaxed)
}

/// The kernel, apart from Burn's prelude (whose `Tensor`, `Int` and `Float` are not CubeCL's).
mod kernel {
    use crate::cuda::strides::Strides;
    use cubecl::prelude::*;

    /// Output row `r` (head `r / kept`, entry `e = r % kept`) copies source row `s` of the
    /// heads' `len` entries laid end to end (head `s / len`, entry `s % len`; rows past the
    /// last are clamped to it): the head's own entry `e` for `e < start` (sinks kept whole),
    /// else `head · head_step + start + rows[head, e - start]` (`start` and `head_step` 0:
    /// `rows` names source rows; `head_step = len`: each head's candidates from `start` on).
    /// One unit per vector of a key and of a value, `CUBE_DIM_Y` rows a cube. Keys and values
    /// are read by their strides in vectors (along heads and entries; rows unit-strided),
    /// positions and rows by theirs; the outputs are contiguous. Arrays and scalars, not
    /// tensors: CubeCL uploads a tensor argument's shape and strides before each launch (a
    /// copy and a gap on the GPU, docs/results/gpu-prefill.md).
    #[allow(clippy::too_many_arguments)]
    #[cube(launch_unchecked)]
    pub(super) fn gather_rows_kernel<F: Float, I: Int, N: Size>(
        keys: &Array<Vector<F, N>>,
        values: &Array<Vector<F, N>>,
        positions: &Array<I>,
        rows: &Array<I>,
        keys_out: &mut Array<Vector<F, N>>,
        values_out: &mut Array<Vector<F, N>>,
        positions_out: &mut Array<I>,
        len: u32,
        kept: u32,
        start: u32,
        head_step: u32,
        key_width: u32,
        value_width: u32,
        source_rows: u32,
        out_rows: u32,
        key_strides: Strides,
        value_strides: Strides,
        position_strides: Strides,
        row_strides: Strides,
        #[comptime] _source: u64,
        #[define(F, I)] _dtypes: [StorageType; 2],
    ) {
        let (len, kept) = (len as usize, kept as usize);
        let (key_width, value_width) = (key_width as usize, value_width as usize);
        let out_rows = out_rows as usize;
        let r = (CUBE_POS_X * CUBE_DIM_Y + UNIT_POS_Y) as usize;
        if r < out_rows {
            let (head, entry) = (r / kept, r % kept);
            let mut source = head * len + entry;
            if entry >= start as usize {
                let chosen = rows[row_strides.at(head, entry - start as usize)];
                source = (head as u32 * head_step + start + u32::cast_from(chosen)) as usize;
            }
            let source = min(source, source_rows as usize - 1);
            let (h, t) = (source / len, source % len);
            let i = UNIT_POS_X as usize;
            if i < key_width {
                let row = key_strides.at(h, t);
                keys_out[r * key_width + i] = keys[row + i];
            }
            if i < value_width {
                let row = value_strides.at(h, t);
                values_out[r * value_width + i] = values[row + i];
            }
            if i == 0 {
                positions_out[r] = positions[position_strides.at(h, t)];
            }
        }
    }
}

/// Which rows a gather copies: the source rows themselves, or every head's first `start`
/// entries followed by chosen candidates of its own.
#[derive(Debug, Clone, Copy)]
enum Rows {
    /// `rows[h, j]` is a row of the heads' entries laid end to end.
    Absolute,
    /// `rows[h, j]` is candidate `j` of head `h`, counted from entry `start`.
    Candidates { start: usize },
}

/// [`LayerKv::gather_rows`] through one kernel, when `B` is Burn's CUDA backend, the KV
/// kernels are on ([`use_kv_kernels`]), keys, values and positions agree in shape, keys and
/// values share a float dtype, the positions and rows are i32 and every index fits 32 bits;
/// `None` otherwise (the caller then runs Burn's operations). Every row must name an entry:
/// where Burn's `select` would fail on a row past the last entry, the kernel reads the last
/// one.
///
/// # Shapes
/// - `kv`: keys `[1, heads, len, head_dim]`, values `[1, heads, len, value_dim]`, positions
///   `[heads, len]`
/// - `rows`: `[heads, kept]`; returns the entries `[1, heads, kept, ·]`
pub fn gather_rows<B: Backend>(kv: &LayerKv<B>, rows: &Tensor<B, 2, Int>) -> Option<LayerKv<B>> {
    gather(kv, rows, Rows::Absolute)
}

/// [`LayerKv::keep`] through the same kernel as [`gather_rows`], under the same conditions:
/// every head's first `start` entries, then its candidates (entries from `start` on) at
/// `kept`, with no rows built. Every index must name a candidate of its head: the kernel does
/// not check them (a negative or too large index reads another entry, clamped only to the
/// last of the last head), as a pruner's indices come from its selection.
///
/// # Shapes
/// - `kv`: as [`gather_rows`]'s, `len > start`
/// - `kept`: `[heads, k]`; returns the entries `[1, heads, start + k, ·]`
pub fn keep_rows<B: Backend>(
    kv: &LayerKv<B>,
    start: usize,
    kept: &Tensor<B, 2, Int>,
) -> Option<LayerKv<B>> {
    gather(kv, kept, Rows::Candidates { start })
}

fn gather<B: Backend>(kv: &LayerKv<B>, rows: &Tensor<B, 2, Int>, mode: Rows) -> Option<LayerKv<B>> {
    if !is_cuda::<B>() || !kv_kernels_enabled() {
        return None;
    }
    let [batch, heads, len, head_dim] = kv.keys.dims();
    let value_dim = kv.values.dims()[3];
    let [row_heads, chosen] = rows.dims();
    let start = mode.start();
    let kept = start + chosen;
    let dtype = kv.keys.dtype();
    // Every index the unchecked kernel computes, in CubeCL's 32-bit indexing: the operands'
    // elements (`LayerKv`'s fields are public: their shapes are checked here, not assumed).
    let indexable = |n: usize| u32::try_from(n).is_ok();
    let fits = batch == 1
        && heads > 0
        && row_heads == heads
        && len > start
        && chosen > 0
        && head_dim > 0
        && value_dim > 0
        && kv.values.dims() == [1, heads, len, value_dim]
        && kv.positions.dims() == [heads, len]
        && kv.values.dtype() == dtype
        && matches!(dtype, DType::BF16 | DType::F16 | DType::F32)
        && kv.positions.dtype() == DType::I32
        && rows.dtype() == DType::I32
        // One unit per vector of a row: at most a cube's 1024.
        && head_dim.max(value_dim) / widest_vector(dtype, &[head_dim, value_dim]) <= 1024
        && indexable(heads * len * head_dim.max(value_dim))
        && indexable(heads * kept * head_dim.max(value_dim));
    if !fits {
        return None;
    }
    let inputs = vec![
        fusion_primitive(&kv.keys)?,
        fusion_primitive(&kv.values)?,
        as_fusion(kv.positions.clone().into_primitive())?,
        as_fusion(rows.clone().into_primitive())?,
    ];
    let outputs = [
        (Shape::new([1, heads, kept, head_dim]), dtype),
        (Shape::new([1, heads, kept, value_dim]), dtype),
        (Shape::new([heads, kept]), DType::I32),
    ];
    let mut outputs = register_custom("mss_gather_rows", inputs, &outputs, |desc| GatherRows {
        desc,
        mode,
    })
    .into_iter();
    GATHERS.fetch_add(1, Ordering::Relaxed);
    let (keys, values, positions) = (outputs.next()?, outputs.next()?, outputs.next()?);
    Some(LayerKv {
        keys: float_tensor(keys)?,
        values: float_tensor(values)?,
        positions: int_tensor(positions)?,
    })
}

impl Rows {
    /// The entries of each head kept whole, before the chosen ones.
    fn start(self) -> usize {
        match self {
            Self::Absolute => 0,
            Self::Candidates { start } => start,
        }
    }
}

/// The registered operation: inputs keys, values, positions and rows; outputs the kept keys,
/// values and positions.
#[derive(Debug)]
struct GatherRows {
    desc: CustomOpIr,
    mode: Rows,
}

impl Operation<FusionCuda> for GatherRows {
    fn execute(&self, handles: &mut HandleContainer<<FusionCuda as FusionRuntime>::FusionHandle>) {
        let [keys, values, positions, rows] = [0, 1, 2, 3].map(|i| &self.desc.inputs[i]);
        let keys = handles.get_float_tensor::<Inner>(keys);
        let values = handles.get_float_tensor::<Inner>(values);
        let positions = handles.get_int_tensor::<Inner>(positions);
        let rows = handles.get_int_tensor::<Inner>(rows);
        let [keys, values, positions] = launch(keys, values, positions, rows, self.mode);
        let [k, v, p] = [0, 1, 2].map(|i| &self.desc.outputs[i].id);
        handles.register_float_tensor::<Inner>(k, keys);
        handles.register_float_tensor::<Inner>(v, values);
        handles.register_int_tensor::<Inner>(p, positions);
    }
}

/// Allocates the outputs and queues the kernel.
fn launch(
    keys: CubeTensor<CudaRuntime>,
    values: CubeTensor<CudaRuntime>,
    positions: CubeTensor<CudaRuntime>,
    rows: CubeTensor<CudaRuntime>,
    mode: Rows,
) -> [CubeTensor<CudaRuntime>; 3] {
    let [_, heads, len, head_dim] = keys.meta.shape().dims::<4>();
    let value_dim = values.meta.shape().dims::<4>()[3];
    let start = mode.start();
    let kept = start + rows.meta.shape().dims::<2>()[1];
    // Candidates are counted from each head's own entry `start`; absolute rows from row 0.
    let head_step = match mode {
        Rows::Absolute => 0,
        Rows::Candidates { .. } => len,
    };
    // The widest vector every key and value row holds whole; operands that do not read as
    // such vectors are copied contiguous first.
    let vector = widest_vector(keys.dtype, &[head_dim, value_dim]);
    let (keys, values) = (
        vector_readable(keys, vector),
        vector_readable(values, vector),
    );
    let count = |n: usize| u32::try_from(n).expect("checked by gather_rows");
    let (keys_strides, values_strides) =
        (keys.meta.strides().clone(), values.meta.strides().clone());
    let (positions_strides, rows_strides) = (
        positions.meta.strides().clone(),
        rows.meta.strides().clone(),
    );
    let (client, device, dtype) = (keys.client.clone(), keys.device.clone(), keys.dtype);
    let empty = |shape: Shape, dtype: DType| {
        empty_device_contiguous_dtype(client.clone(), device.clone(), shape, dtype)
    };
    let keys_out = empty(Shape::new([1, heads, kept, head_dim]), dtype);
    let values_out = empty(Shape::new([1, heads, kept, value_dim]), dtype);
    let positions_out = empty(Shape::new([heads, kept]), positions.dtype);
    let units = head_dim.max(value_dim) / vector;
    let rows_per_cube = (UNITS / units).max(1);
    let (float, int) = (dtype, positions.dtype);
    // Unchecked: every unit reads below its row's `head_dim` or `value_dim` of a source row
    // clamped below `heads · len` (laid out as the kernel says: `vector_readable`), and writes
    // that of output row `r < heads · kept` only.
    #[allow(unsafe_code)]
    unsafe {
        gather_rows_kernel::launch_unchecked::<CudaRuntime>(
            &client,
            CubeCount::Static(count((heads * kept).div_ceil(rows_per_cube)), 1, 1),
            CubeDim::new_2d(count(units), count(rows_per_cube)),
            vector,
            keys.into_array_arg(),
            values.into_array_arg(),
            positions.into_array_arg(),
            rows.into_array_arg(),
            keys_out.clone().into_array_arg(),
            values_out.clone().into_array_arg(),
            positions_out.clone().into_array_arg(),
            count(len),
            count(kept),
            count(start),
            count(head_step),
            count(head_dim / vector),
            count(value_dim / vector),
            count(heads * len),
            count(heads * kept),
            StridesLaunch::of(&keys_strides, 1, vector),
            StridesLaunch::of(&values_strides, 1, vector),
            StridesLaunch::of(&positions_strides, 0, 1),
            StridesLaunch::of(&rows_strides, 0, 1),
            SOURCE,
            [float.into(), int.into()],
        );
    }
    [keys_out, values_out, positions_out]
}
