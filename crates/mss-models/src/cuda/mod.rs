//! The CUDA path's linear layers and attention through cuBLAS (feature `cuda`; only the pure
//! operand description and score blocks are compiled without it).
//!
//! Burn 0.21's CubeCL matrix product reached about 184 TFLOP/s on a 4096³ bf16 product on an
//! H200, where cuBLAS reaches about 780 (docs/results/gpu-prefill.md): the linear layers of a
//! 7B-shaped chunk took ~72 ms instead of ~17 ms. On Burn's CUDA backend (`Fusion` over
//! `CubeBackend<CudaRuntime>`) a [`Linear`](crate::Linear) therefore hands its product to cuBLAS
//! as a fusion custom operation (`op::product`), when cuBLAS can be loaded and the operands are
//! bf16 or f32; any other backend, dtype or shape, or a missing `libcublas`, runs Burn's own
//! matrix product as before. Attention without statistics or a sliding window runs the same
//! way: two cuBLAS products per block of queries around one CubeCL softmax kernel
//! (`attention`, `softmax`), and where a pruner needs column sums or the last query's row, one
//! more product per block from the same probabilities (`statistics`), unless the flash kernels
//! run it (`flash`) or, asked for, cuDNN's fused attention (`cudnn`); RoPE is one CubeCL kernel
//! (`rope`), and so are the element-wise regions between a layer's products: the residual add
//! with the RMSNorm after it (`rms_norm`) and the MLP's gating (`gating`).
//!
//! A product is queued as a task on CubeCL's CUDA server thread, which runs tasks in order: by
//! then every earlier kernel is launched. CubeCL 0.10 keeps its CUDA streams private; the task
//! finds the stream of its stream id once through CUPTI (`cubecl_stream`) and queues the
//! product there, ordered by the stream alone. Without CUPTI, on drivers ≥ 12.5 the product
//! runs on cuBLAS's own stream, ordered on the GPU by events: an event records all the
//! context's work so far, cuBLAS's stream waits for it, and the context waits for the
//! product's event before anything queued later (`cuCtxRecordEvent`, `cuCtxWaitEvent`);
//! neither the caller nor CubeCL's thread waits. Older drivers synchronise the context before
//! the product and wait for it after (`cublas_lane::Ordering`, [`ProductOrdering`]).

#[cfg(feature = "cuda")]
mod attention;
#[cfg(feature = "cuda")]
mod cudnn;
#[cfg(feature = "cuda")]
mod flash;
#[cfg(feature = "cuda")]
mod gating;
#[cfg(feature = "cuda")]
mod gemm;
#[cfg(feature = "cuda")]
mod join;
#[cfg(feature = "cuda")]
mod op;
mod operand;
#[cfg(feature = "cuda")]
mod rms_norm;
#[cfg(feature = "cuda")]
mod rope;
mod score_blocks;
#[cfg(feature = "cuda")]
mod softmax;
#[cfg(feature = "cuda")]
mod statistics;

#[cfg(feature = "cuda")]
mod caches;
#[cfg(feature = "cuda")]
mod cubecl_stream;
#[cfg(feature = "cuda")]
mod cublas_lane;
#[cfg(feature = "cuda")]
mod pool;
#[cfg(feature = "cuda")]
mod scratch;

#[cfg(feature = "cuda")]
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

#[cfg(feature = "cuda")]
pub use caches::{KERNEL_CACHE_ENV, persist_kernel_caches};
#[cfg(feature = "cuda")]
pub use pool::{
    DevicePool, device_free_memory, device_pool, exact_size_allocations, release_after_queued_work,
    release_unused_device_memory,
};

#[cfg(feature = "cuda")]
pub(crate) use attention::{causal_attention, causal_attention_with_statistics};
#[cfg(feature = "cuda")]
pub use cudnn::{
    CudnnPlans, cudnn_attention_available, cudnn_attention_enabled, cudnn_attention_runs,
    cudnn_attention_supported, cudnn_plans, cudnn_version, use_cudnn_attention,
};
#[cfg(feature = "cuda")]
pub(crate) use gating::gated;
#[cfg(feature = "cuda")]
pub use join::join_kernel_launches;
#[cfg(feature = "cuda")]
pub(crate) use join::join_rotated;
#[cfg(feature = "cuda")]
pub(crate) use op::products;
#[cfg(feature = "cuda")]
pub(crate) use rms_norm::add_rms_norm;
#[cfg(feature = "cuda")]
pub(crate) use rope::rotate;
#[cfg(feature = "cuda")]
pub use score_blocks::{DEFAULT_SCORE_BLOCK_ELEMENTS, set_attention_score_block};

#[cfg(feature = "cuda")]
/// A thread's lane of a CUDA library (its handle and what goes with it), made on first use; a
/// failure to make it is kept, and said each time after.
type LaneCell<L> = std::cell::RefCell<Option<Result<L, String>>>;

#[cfg(feature = "cuda")]
/// Runs `run` on this thread's lane in `cell`, made by `new` the first time.
fn with_lane<L: 'static, R>(
    cell: &'static std::thread::LocalKey<LaneCell<L>>,
    new: fn() -> Result<L, String>,
    run: impl FnOnce(&mut L) -> Result<R, String>,
) -> Result<R, String> {
    cell.with(|lane| {
        let mut lane = lane.borrow_mut();
        let lane = lane
            .get_or_insert_with(new)
            .as_mut()
            .map_err(|e| e.clone())?;
        run(lane)
    })
}

#[cfg(feature = "cuda")]
static CUBLAS_ENABLED: AtomicBool = AtomicBool::new(true);

#[cfg(feature = "cuda")]
/// Whether the CUDA backend runs the crate's own kernels (the default) — cuBLAS products for
/// linear layers and attention, the softmax kernel, the residual add with its RMSNorm, the
/// MLP's gating (and RoPE's, when [`use_rope_kernel`] asks) — or Burn's operations, for every
/// model in the process. Both compute the same function; the switch exists to compare the two.
pub fn use_cublas(enabled: bool) {
    CUBLAS_ENABLED.store(enabled, Ordering::Relaxed);
}

#[cfg(feature = "cuda")]
/// Whether the crate's own kernels are on ([`use_cublas`]): the residual add with its RMSNorm
/// and the MLP's gating follow this switch alone.
fn crate_kernels_enabled() -> bool {
    CUBLAS_ENABLED.load(Ordering::Relaxed)
}

#[cfg(feature = "cuda")]
static ROPE_KERNEL: AtomicBool = AtomicBool::new(true);

#[cfg(feature = "cuda")]
/// Whether RoPE runs as one CubeCL kernel on the CUDA backend (reading each token's table rows
/// by position) instead of Burn's operations (two gathers, a flip, a copy, a multiply-add), for
/// every model in the process. On by default: it equals Burn's operations within bf16 rounding
/// on an H200 (`prefill_timing`'s RoPE check, docs/results/gpu-prefill.md). The crate's kernels
/// must also be on ([`use_cublas`]).
pub fn use_rope_kernel(enabled: bool) {
    ROPE_KERNEL.store(enabled, Ordering::Relaxed);
}

#[cfg(feature = "cuda")]
/// Whether RoPE runs as the crate's kernel ([`use_rope_kernel`] and [`use_cublas`]).
pub fn rope_kernel_enabled() -> bool {
    ROPE_KERNEL.load(Ordering::Relaxed) && crate_kernels_enabled()
}

#[cfg(feature = "cuda")]
static FLASH_ATTENTION: AtomicBool = AtomicBool::new(true);

#[cfg(feature = "cuda")]
/// Whether attention runs as one FlashAttention-2-style CubeCL kernel on the CUDA backend
/// (scores and probabilities kept in registers, online softmax, tensor-core `mma`), and the
/// pruners' statistics as a second pass from its log-sum-exp, instead of cuBLAS products
/// around a softmax kernel, for every model in the process (bf16 / f16, heads of 64 or 128;
/// other operands take the products either way). On by default: both compute the same
/// attention within bf16 rounding, and the GPU eval's perplexities through either differ by
/// at most 0.15 % (docs/results/eval.md). The crate's kernels must also be on
/// ([`use_cublas`]).
pub fn use_flash_attention(enabled: bool) {
    FLASH_ATTENTION.store(enabled, Ordering::Relaxed);
}

#[cfg(feature = "cuda")]
fn flash_attention_enabled() -> bool {
    FLASH_ATTENTION.load(Ordering::Relaxed)
}

#[cfg(feature = "cuda")]
static FLASH_ROW_TILES: AtomicUsize = AtomicUsize::new(2);

#[cfg(feature = "cuda")]
/// How many queries each plane (32 lanes) of the flash attention kernel holds, for every model
/// in the process: 32 (the default; 128 queries a cube, each `ldmatrix` of keys and values
/// feeding two row tiles' `mma`s, 254 registers a unit, two cubes per SM) or 16 (64 a cube,
/// 167 registers, three cubes per SM). At 32 a launch with fewer than 128 blocks of 128 queries
/// (heads × blocks; SmolLM2's nine heads at a chunk of 1024 make 72) still takes 16, so that
/// the GPU stays full. Returns whether `rows` is one of the two. Both compute every row the
/// same way, to the bit; 32 took the kernel from 155 to 133 µs and a 7B `streaming_llm` FM
/// prefill 2 % (docs/results/gpu-prefill.md).
pub fn set_flash_rows_per_plane(rows: usize) -> bool {
    store_row_tiles(&FLASH_ROW_TILES, rows)
}

#[cfg(feature = "cuda")]
/// Stores the row tiles of 16 a plane that `rows` (16 or 32) makes; whether it is one of them.
fn store_row_tiles(switch: &AtomicUsize, rows: usize) -> bool {
    let tiles = match rows {
        16 => 1,
        32 => 2,
        _ => return false,
    };
    switch.store(tiles, Ordering::Relaxed);
    true
}

#[cfg(feature = "cuda")]
fn flash_row_tiles() -> usize {
    FLASH_ROW_TILES.load(Ordering::Relaxed)
}

#[cfg(feature = "cuda")]
static STATISTICS_ROW_TILES: AtomicUsize = AtomicUsize::new(1);

#[cfg(feature = "cuda")]
/// How many keys each plane (32 lanes) of the flash statistics kernel holds, for every model in
/// the process: 16 (the default; 64 keys a cube) or 32 (128 a cube, each `ldmatrix` of queries
/// feeding two row tiles' `mma`s). At 32 a launch with fewer than 128 blocks of 128 keys
/// (heads × blocks) still takes 16, so that the GPU stays full. Returns whether `rows` is one
/// of the two. Both compute every sum the same way, to the bit
/// (docs/results/gpu-prefill.md).
pub fn set_statistics_rows_per_plane(rows: usize) -> bool {
    store_row_tiles(&STATISTICS_ROW_TILES, rows)
}

#[cfg(feature = "cuda")]
/// The keys per plane [`set_statistics_rows_per_plane`] set last (16 unless set).
pub fn statistics_rows_per_plane() -> usize {
    16 * statistics_row_tiles()
}

#[cfg(feature = "cuda")]
fn statistics_row_tiles() -> usize {
    STATISTICS_ROW_TILES.load(Ordering::Relaxed)
}

#[cfg(feature = "cuda")]
/// How cuBLAS products are ordered against Burn's kernels on the CUDA backend. Each falls back
/// to the next where it is not available; all give the same results, bit for bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductOrdering {
    /// Queued on the CUDA stream CubeCL queues the same work's kernels on, found once through
    /// CUPTI (`libcupti`): ordered by the stream alone, as PyTorch orders its products. The
    /// default.
    CubeclStream,
    /// Queued on a stream of cuBLAS's own, fenced against the context's other work by events on
    /// the GPU (driver ≥ 12.5): two hand-overs per group of products, the host never waits.
    Events,
    /// Bracketed by host synchronisations.
    Synchronised,
}

#[cfg(feature = "cuda")]
static PRODUCT_ORDERING: AtomicU8 = AtomicU8::new(0);

#[cfg(feature = "cuda")]
/// How cuBLAS products are ordered from now on, for every model in the process (default
/// [`ProductOrdering::CubeclStream`]); the switch exists to compare the three.
pub fn order_cublas(ordering: ProductOrdering) {
    PRODUCT_ORDERING.store(ordering as u8, Ordering::Relaxed);
}

#[cfg(feature = "cuda")]
fn product_ordering() -> ProductOrdering {
    match PRODUCT_ORDERING.load(Ordering::Relaxed) {
        0 => ProductOrdering::CubeclStream,
        1 => ProductOrdering::Events,
        _ => ProductOrdering::Synchronised,
    }
}

#[cfg(feature = "cuda")]
/// Whether linear layers on the CUDA backend may use cuBLAS: switched on, and the library
/// found (looked for once per process).
pub fn cublas_available() -> bool {
    crate_kernels_enabled() && gemm::library_present()
}

#[cfg(feature = "cuda")]
/// How the last cuBLAS product was ordered: 0 none yet, 1 events, 2 synchronised, 3 CubeCL's
/// stream.
static LAST_ORDERING: AtomicU8 = AtomicU8::new(0);

#[cfg(feature = "cuda")]
fn record_ordering(ordering: cublas_lane::Ordering) {
    let code = match ordering {
        cublas_lane::Ordering::Events => 1,
        cublas_lane::Ordering::Synchronised => 2,
        cublas_lane::Ordering::Stream => 3,
    };
    LAST_ORDERING.store(code, Ordering::Relaxed);
}

#[cfg(feature = "cuda")]
/// How the last cuBLAS product was ordered against Burn's kernels, in words: `"CubeCL's
/// stream"`, `"events on the GPU"` (driver ≥ 12.5; the host never waits), `"host
/// synchronisation"`, or `None` before the first product.
pub fn cublas_ordering() -> Option<&'static str> {
    match LAST_ORDERING.load(Ordering::Relaxed) {
        1 => Some("events on the GPU"),
        2 => Some("host synchronisation"),
        3 => Some("CubeCL's stream"),
        _ => None,
    }
}
