//! Causal attention of a chunk over `[memory; chunk]` through cuDNN's fused attention engine
//! (its backend API, loaded at run time), with each row's log-sum-exp for the pruners'
//! statistics kernel.
//!
//! On the 7B shape's step (1024 queries over 2048 keys, 32 heads of 128, bf16) cuDNN's engine
//! took 58.9 µs on an H200 where the crate's flash kernel takes about 125
//! (docs/results/gpu-prefill.md). cuDNN 9.14–9.19 has no single op for a causal mask aligned at
//! the bottom right, so the graph is the composite one cuDNN's frontend builds for those
//! versions (`spec`, as plain data with table tests; made descriptors in `graph`;
//! docs/notes/cudnn-attention.md). A plan is compiled once per shape and layout (about a
//! second), the first time the shape is met, and kept beside CubeCL's kernel caches for later
//! processes (`saved`); where cuDNN is missing or older than 9.11, the chunk has fewer than 64
//! queries, or cuDNN builds no plan, the flash kernel runs the attention instead. Plans live on
//! the thread that runs CubeCL's CUDA server (`lane`); the attention is queued on CubeCL's own
//! stream as the cuBLAS products are (`op`).
#![allow(unsafe_code)]

mod descriptor;
mod graph;
mod lane;
mod saved;
mod spec;

pub(crate) use saved::keep_plans_in;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use burn::prelude::Shape;
use burn::tensor::DType;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::Runtime;
use cubecl::cuda::CudaRuntime;
use cubecl::device::{Device, DeviceId};
use cubecl::device_handle::DeviceHandle;
use cubecl::server::ComputeServer;
use cubecl::stream_id::StreamId;

use self::graph::Addresses;
use self::spec::{Io, SdpaShape};
use super::op::submit_library_work;

/// The oldest cuDNN the graph is for: its reductions say whether they must be deterministic,
/// an attribute of 9.11 on (cuDNN's frontend sets it from there), which also leaves out 9.10.0
/// and 9.10.1, whose bf16 / f16 attention the frontend refuses ("known bugs"), and the
/// versions below 9.6, which take a causal mask at the bottom right only for lengths that are
/// multiples of 64.
const OLDEST: usize = 91100;

/// Fewer queries than this take the flash kernel: a token at a time (generation) each step
/// has a new number of keys, a new plan to build for a few microseconds of attention.
const MIN_QUERIES: usize = 64;

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Whether attention runs through cuDNN's fused attention where cuDNN (≥ 9.11) is found and
/// builds a plan for the shape (the default; the flash kernel otherwise), or always through the
/// flash kernel, for every model in the process. On an H200 cuDNN's Hopper kernel takes about
/// half the flash kernel's time and agrees with it within bf16 rounding
/// (docs/results/gpu-prefill.md; `device_check`'s attention and statistics checks compare the
/// two whatever this switch says). The flash kernels must also be on
/// ([`use_flash_attention`](super::use_flash_attention)): the pruners' statistics are the
/// flash statistics kernel's, from cuDNN's log-sum-exp.
pub fn use_cudnn_attention(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Whether [`use_cudnn_attention`] is on (whether cuDNN is found: [`cudnn_version`]).
pub fn cudnn_attention_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The version of the cuDNN found (`91400` for 9.14.0), if one can be loaded.
pub fn cudnn_version() -> Option<usize> {
    static VERSION: OnceLock<Option<usize>> = OnceLock::new();
    *VERSION.get_or_init(|| {
        // SAFETY: only opens the library by its candidate names, then asks its version.
        unsafe { cudarc::cudnn::sys::is_culib_present() }
            .then(|| unsafe { cudarc::cudnn::sys::cudnnGetVersion() })
    })
}

/// Whether a cuDNN the attention graph is for (≥ 9.11) is found, switched on or not.
pub fn cudnn_attention_supported() -> bool {
    cudnn_version().is_some_and(|v| v >= OLDEST)
}

/// Whether cuDNN's attention may run: switched on, and a cuDNN ≥ 9.11 found (a shape it builds
/// no plan for still runs through the flash kernel).
pub fn cudnn_attention_available() -> bool {
    cudnn_attention_enabled() && cudnn_attention_supported()
}

static RUNS: AtomicU64 = AtomicU64::new(0);

/// How many attentions cuDNN has been given in this process (the checks tell by it whether
/// cuDNN ran a case or the flash kernel stood in).
pub fn cudnn_attention_runs() -> u64 {
    RUNS.load(Ordering::Relaxed)
}

static PLANS_BUILT: AtomicU64 = AtomicU64::new(0);
static PLANS_LOADED: AtomicU64 = AtomicU64::new(0);
static PLAN_MICROS: AtomicU64 = AtomicU64::new(0);

fn record_plan(took: Duration, loaded: bool) {
    let count = if loaded { &PLANS_LOADED } else { &PLANS_BUILT };
    count.fetch_add(1, Ordering::Relaxed);
    PLAN_MICROS.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
}

/// The cuDNN attention plans of this process so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CudnnPlans {
    /// Built (their kernels compiled) in this process.
    pub built: u64,
    /// Read back from an earlier process's (`persist_kernel_caches`'s folder).
    pub loaded: u64,
    /// The time building and reading them took.
    pub took: Duration,
}

/// The cuDNN attention plans this process built or read back, and the time they took.
pub fn cudnn_plans() -> CudnnPlans {
    CudnnPlans {
        built: PLANS_BUILT.load(Ordering::Relaxed),
        loaded: PLANS_LOADED.load(Ordering::Relaxed),
        took: Duration::from_micros(PLAN_MICROS.load(Ordering::Relaxed)),
    }
}

/// Whether a plan of each shape met so far on each device was built (asked once per shape,
/// device and process).
fn shapes() -> MutexGuard<'static, HashMap<(DeviceId, SdpaShape), bool>> {
    static SHAPES: OnceLock<Mutex<HashMap<(DeviceId, SdpaShape), bool>>> = OnceLock::new();
    let shapes = SHAPES.get_or_init(Default::default);
    shapes.lock().unwrap_or_else(|e| e.into_inner())
}

/// The shape of the attention of `q` over `k`, `v`: operands the flash kernel serves
/// (bf16 or f16, heads of 64 or 128, rows of whole 16-byte vectors; checked by the caller).
fn shape_of(
    q: &CubeTensor<CudaRuntime>,
    k: &CubeTensor<CudaRuntime>,
    v: &CubeTensor<CudaRuntime>,
) -> Option<SdpaShape> {
    let io = match q.dtype {
        DType::BF16 => Io::Bf16,
        DType::F16 => Io::F16,
        _ => return None,
    };
    let [_, heads, queries, head_dim] = q.meta.shape().dims::<4>();
    let [_, kv_heads, keys, _] = k.meta.shape().dims::<4>();
    let strides = |t: &CubeTensor<CudaRuntime>| {
        let s = t.meta.strides();
        [s[0], s[1], s[2]]
    };
    Some(SdpaShape {
        io,
        heads,
        kv_heads,
        head_dim,
        queries,
        keys,
        q: strides(q),
        k: strides(k),
        v: strides(v),
    })
}

/// The attention of `q` over `k`, `v` through cuDNN, as
/// [`flash_attention`](super::flash::flash_attention) gives it: the output, a new
/// `[1, chunk, heads, d]` tensor, and each row's log-sum-exp of the scaled scores,
/// `[heads, chunk]` f32; `None` where cuDNN does not run it (switched off, not found, fewer
/// than 64 queries, or no plan for the shape). The operands must be ones the flash kernel serves.
pub(super) fn cudnn_attention(
    q: &CubeTensor<CudaRuntime>,
    k: &CubeTensor<CudaRuntime>,
    v: &CubeTensor<CudaRuntime>,
    scale: f32,
) -> Option<(CubeTensor<CudaRuntime>, CubeTensor<CudaRuntime>)> {
    if !cudnn_attention_available() {
        return None;
    }
    let shape = shape_of(q, k, v).filter(|shape| shape.queries >= MIN_QUERIES)?;
    let server = DeviceHandle::<<CudaRuntime as Runtime>::Server>::new(q.device.to_id());
    if !prepared(&server, q, shape) {
        return None;
    }
    let (client, device) = (q.client.clone(), q.device.clone());
    let out = empty_device_contiguous_dtype(
        client.clone(),
        device.clone(),
        Shape::new([1, shape.queries, shape.heads, shape.head_dim]),
        q.dtype,
    );
    let lse = empty_device_contiguous_dtype(
        client,
        device,
        Shape::new([shape.heads, shape.queries]),
        DType::F32,
    );
    let bindings: Vec<_> = [q, k, v, &out, &lse]
        .map(|t| t.handle.clone().binding())
        .to_vec();
    submit_library_work(
        &q.device,
        bindings,
        "cuDNN's attention",
        move |ptrs, cubecl_stream| {
            let [q, k, v, out, lse] = [0, 1, 2, 3, 4].map(|i| ptrs[i]);
            let addresses = Addresses { q, k, v, out, lse };
            // SAFETY: the addresses are of the resources `submit_library_work` holds, which
            // hold the allocations the shape describes (16-byte aligned: the flash kernel's
            // vector alignment was checked), on this thread where the device's context is
            // current; work queued later is ordered after the attention by CubeCL's stream or
            // by the synchronisations.
            unsafe { lane::execute(&shape, addresses, scale, cubecl_stream) }
        },
    );
    RUNS.fetch_add(1, Ordering::Relaxed);
    Some((out, lse))
}

/// Whether the server thread holds a plan for `shape`, building (or reading back) it the first
/// time the shape is met on the device in the process (the caller waits for that); a shape
/// that builds none is said once on standard error and left to the flash kernel.
fn prepared(
    server: &DeviceHandle<<CudaRuntime as Runtime>::Server>,
    q: &CubeTensor<CudaRuntime>,
    shape: SdpaShape,
) -> bool {
    let key = (q.device.to_id(), shape);
    if let Some(&built) = shapes().get(&key) {
        return built;
    }
    // Built without holding the map: a build takes about a second, and other threads' known
    // shapes need not wait for it (two threads meeting a new shape at once both ask the
    // server, whose thread builds it once).
    let binding = q.handle.clone().binding();
    let stream = StreamId::current();
    let built = server
        .submit_blocking(move |server| {
            // Resolving a binding makes the device's context current on this thread.
            let _resource = server
                .get_resource(binding, stream)
                .map_err(|e| format!("CubeCL could not resolve the queries: {e:?}"))?;
            lane::prepare(&shape)
        })
        .map_err(|e| format!("CubeCL's server did not run the task: {e:?}"))
        .and_then(|built| built);
    let first = shapes().insert(key, built.is_ok()).is_none();
    if let (true, Err(error)) = (first, &built) {
        eprintln!("mss: no cuDNN attention plan for {shape:?}; the flash kernel runs it ({error})");
    }
    built.is_ok()
}
