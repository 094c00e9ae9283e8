//! RoPE on CUDA: one CubeCL kernel reads the table rows of each token's position and rotates,
//! where Burn's operations select the cosine and sine rows (two gathers), swap the halves (a
//! flip and a copy) and multiply-add (a fused kernel).

use std::any::TypeId;

use burn::prelude::*;
use burn::tensor::DType;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_fusion::FusionRuntime;
use burn_fusion::stream::Operation;
use burn_ir::{CustomOpIr, HandleContainer};
use cubecl::cuda::CudaRuntime;
use cubecl::prelude::{CubeCount, CubeDim};

use self::kernel::rope_kernel;
use mss_core::cuda::vectors::{vector_readable, widest_vector};

/// This file's source, hashed: a compile-time argument of its kernels, so that a changed
/// kernel misses CubeCL's persistent cache (`mss_core::source_hash`).
const SOURCE: u64 = mss_core::source_hash(include_str!("rope.rs"));

use mss_core::cuda::{
    FusionCuda, Inner, Primitive, as_fusion, float_tensor, fusion_primitive, register_custom,
};

/// The kernels, apart from Burn's prelude (whose `Tensor`, `Int` and `Float` are not CubeCL's).
pub(super) mod kernel {
    use cubecl::prelude::*;

    /// `out[h, t, i] = x[h, t, i] cos[p, i] + x[h, t, (i + d/2) mod d] signed_sin[p, i]` with
    /// `p = positions[h, t]` (`per_head`) or `start + t`, computed in f32: one cube per token
    /// and `CUBE_DIM_Y` heads, one unit per vector of `N` pairs `(i, i + d/2)`, which reads its
    /// two vectors once for both outputs (16-byte loads at `N` = 8 in bf16). `x` has unit
    /// stride along `d` and other strides of whole vectors, the tables' rows are whole vectors
    /// and unit-strided, `out` is contiguous; the positions may have any strides.
    #[allow(clippy::too_many_arguments)]
    #[cube(launch_unchecked)]
    pub(super) fn rope_kernel<F: Float, I: Int, N: Size>(
        x: &Tensor<Vector<F, N>>,
        cos: &Tensor<Vector<F, N>>,
        signed_sin: &Tensor<Vector<F, N>>,
        positions: &Tensor<I>,
        out: &mut Tensor<Vector<F, N>>,
        start: u32,
        #[comptime] per_head: bool,
        #[comptime] _source: u64,
        #[define(F, I)] _dtypes: [StorageType; 2],
    ) {
        let n = x.vector_size();
        let d = out.shape(3) / n;
        let half = d / 2;
        let i = UNIT_POS_X as usize;
        let t = CUBE_POS_X as usize;
        let h = (CUBE_POS_Y * CUBE_DIM_Y + UNIT_POS_Y) as usize;
        if h < out.shape(1) {
            let mut p = start as usize + t;
            if per_head {
                p = u32::cast_from(positions[h * positions.stride(0) + t * positions.stride(1)])
                    as usize;
            }
            let row = (h * x.stride(1) + t * x.stride(2)) / n;
            let (cos_row, sin_row) = (p * cos.stride(0) / n, p * signed_sin.stride(0) / n);
            let (ra, rb) = rotate_pair::<F, N>(
                x[row + i],
                x[row + i + half],
                cos[cos_row + i],
                cos[cos_row + i + half],
                signed_sin[sin_row + i],
                signed_sin[sin_row + i + half],
            );
            let o = (h * out.shape(2) + t) * d;
            out[o + i] = ra;
            out[o + i + half] = rb;
        }
    }

    /// The vectors `a` (pairs' first halves, at `i`) and `b` (their second halves, at `i +
    /// d/2`) of a row rotated with their table entries: `(a cos_a + b sin_a, b cos_b + a
    /// sin_b)` (`sin` signed), computed in f32 and rounded once. Every RoPE kernel rotates
    /// through this, so their results are the same bits.
    #[cube]
    pub(in crate::cuda) fn rotate_pair<F: Float, N: Size>(
        a: Vector<F, N>,
        b: Vector<F, N>,
        cos_a: Vector<F, N>,
        cos_b: Vector<F, N>,
        sin_a: Vector<F, N>,
        sin_b: Vector<F, N>,
    ) -> (Vector<F, N>, Vector<F, N>) {
        let (a, b) = (
            Vector::<f32, N>::cast_from(a),
            Vector::<f32, N>::cast_from(b),
        );
        let c_a = Vector::<f32, N>::cast_from(cos_a);
        let c_b = Vector::<f32, N>::cast_from(cos_b);
        let s_a = Vector::<f32, N>::cast_from(sin_a);
        let s_b = Vector::<f32, N>::cast_from(sin_b);
        (
            Vector::<F, N>::cast_from(a * c_a + b * s_a),
            Vector::<F, N>::cast_from(b * c_b + a * s_b),
        )
    }
}

/// `x` rotated at per-head `positions` (`[heads, len]`), or at `start..start + len` for every
/// head, through one kernel, when `B` is Burn's CUDA backend, `x` and the tables share a float
/// dtype and the kernel is switched on (`use_rope_kernel`); `None` otherwise (the caller then
/// runs Burn's operations). Every position must be a row of the tables.
///
/// # Shapes
/// - `x`: `[1, heads, len, head_dim]`, `cos` and `signed_sin`: `[table_len, head_dim]`
/// - returns `[1, heads, len, head_dim]`
pub(crate) fn rotate<B: Backend>(
    x: &Tensor<B, 4>,
    cos: &Tensor<B, 2>,
    signed_sin: &Tensor<B, 2>,
    positions: Option<&Tensor<B, 2, Int>>,
    start: usize,
) -> Option<Tensor<B, 4>> {
    if TypeId::of::<B::FloatTensorPrimitive>() != TypeId::of::<Primitive>()
        || TypeId::of::<B::IntTensorPrimitive>() != TypeId::of::<Primitive>()
    {
        return None;
    }
    let [batch, heads, len, d] = x.dims();
    let dtype = x.dtype();
    let fits = batch == 1
        && len > 0
        && d > 0
        && d % 2 == 0
        && d <= 1024
        && cos.dims()[1] == d
        && signed_sin.dims() == cos.dims()
        && cos.dtype() == dtype
        && signed_sin.dtype() == dtype
        && matches!(dtype, DType::BF16 | DType::F16 | DType::F32)
        && positions.is_none_or(|p| p.dims() == [heads, len])
        // A range of positions must lie within the tables (the kernel reads unchecked); per-head
        // positions are the caller's promise (they live on the device).
        && (positions.is_some() || start + len <= cos.dims()[0]);
    if !fits || !super::rope_kernel_enabled() {
        return None;
    }
    let mut inputs = vec![
        fusion_primitive(x)?,
        fusion_primitive(cos)?,
        fusion_primitive(signed_sin)?,
    ];
    if let Some(positions) = positions {
        inputs.push(as_fusion(positions.clone().into_primitive())?);
    }
    let start = u32::try_from(start).ok()?;
    let out = (Shape::new([1, heads, len, d]), dtype);
    let out = register_custom("mss_rope", inputs, &[out], |desc| Rope { desc, start }).pop()?;
    float_tensor(out)
}

/// The registered operation: inputs `x`, `cos`, `signed_sin` and, per head, the positions;
/// output the rotated `x`, contiguous.
#[derive(Debug)]
struct Rope {
    desc: CustomOpIr,
    start: u32,
}

impl Operation<FusionCuda> for Rope {
    fn execute(&self, handles: &mut HandleContainer<<FusionCuda as FusionRuntime>::FusionHandle>) {
        let inputs = &self.desc.inputs;
        let [x, cos, signed_sin] = [0, 1, 2].map(|i| handles.get_float_tensor::<Inner>(&inputs[i]));
        let positions = inputs.get(3).map(|p| handles.get_int_tensor::<Inner>(p));
        let out = launch_rope(x, cos, signed_sin, positions, self.start);
        handles.register_float_tensor::<Inner>(&self.desc.outputs[0].id, out);
    }
}

/// Allocates the output and queues the kernel.
fn launch_rope(
    x: CubeTensor<CudaRuntime>,
    cos: CubeTensor<CudaRuntime>,
    signed_sin: CubeTensor<CudaRuntime>,
    positions: Option<CubeTensor<CudaRuntime>>,
    start: u32,
) -> CubeTensor<CudaRuntime> {
    let shape = x.meta.shape().clone();
    let [_, heads, len, d] = shape.dims::<4>();
    // The widest vector of pairs, at most 16 bytes, that every row holds whole; operands it
    // cannot read as such vectors are copied contiguous first.
    let vector = widest_vector(x.dtype, &[d / 2]);
    let readable = |t: CubeTensor<CudaRuntime>| vector_readable(t, vector);
    let (x, cos, signed_sin) = (readable(x), readable(cos), readable(signed_sin));
    let out =
        empty_device_contiguous_dtype(x.client.clone(), x.device.clone(), shape.clone(), x.dtype);
    let per_head = positions.is_some();
    // Without per-head positions the kernel never reads them; a one-element stand-in fills
    // the argument.
    let positions = positions.unwrap_or_else(|| {
        empty_device_contiguous_dtype(
            x.client.clone(),
            x.device.clone(),
            Shape::new([1, 1]),
            DType::I32,
        )
    });
    let count = |n: usize| u32::try_from(n).expect("fewer than 2^32 tokens, heads and dims");
    let (float, int) = (x.dtype, positions.dtype);
    // Vectors of a half row along x, as many heads as make 256 units along y.
    let units = d / 2 / vector;
    let heads_per_cube = (256 / units).clamp(1, heads);
    // Unchecked: every unit reads a vector of its token's row below `d / 2` and the one half a
    // row further, of operands laid out as the kernel says (`vectors_aligned`), table rows
    // below their length (`rotate`'s caller's promise), and writes those of `out`, for heads
    // below `heads` only.
    #[allow(unsafe_code)]
    unsafe {
        rope_kernel::launch_unchecked::<CudaRuntime>(
            &x.client.clone(),
            CubeCount::Static(count(len), count(heads.div_ceil(heads_per_cube)), 1),
            CubeDim::new_2d(count(units), count(heads_per_cube)),
            vector,
            x.into_tensor_arg(),
            cos.into_tensor_arg(),
            signed_sin.into_tensor_arg(),
            positions.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            start,
            per_head,
            SOURCE,
            [float.into(), int.into()],
        );
    }
    out
}
