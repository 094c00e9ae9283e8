//! One cuBLAS product on raw device pointers, ordered against CubeCL's kernels.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::OnceLock;

use burn::tensor::DType;
use cudarc::cublas::result as blas;
use cudarc::cublas::sys::{
    cublasComputeType_t, cublasGemmAlgo_t, cublasHandle_t, cublasOperation_t, cudaDataType,
};
use cudarc::driver::result as driver;
use cudarc::driver::sys;

use super::operand::{Operand, Transpose};
use super::scratch::Scratch;
use super::{LaneCell, with_lane};
use crate::cublas_workspace::{CublasWorkspace, cublas_workspace};

/// Whether a `libcublas` can be loaded (looked for once).
pub(super) fn library_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: only tries to open the library by its candidate names.
    *PRESENT.get_or_init(|| unsafe { cudarc::cublas::sys::is_culib_present() })
}

/// The element type of a product's operands and result (all three alike), with the cuBLAS
/// types that go with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Precision {
    Bf16,
    F16,
    /// Full f32 arithmetic (not TF32): the f32 path is the one results are checked on.
    F32,
}

impl Precision {
    /// The precision of a dtype cuBLAS serves here; `None` for any other.
    pub fn of(dtype: DType) -> Option<Self> {
        match dtype {
            DType::BF16 => Some(Self::Bf16),
            DType::F16 => Some(Self::F16),
            DType::F32 => Some(Self::F32),
            _ => None,
        }
    }

    fn data_type(self) -> cudaDataType {
        match self {
            Self::Bf16 => cudaDataType::CUDA_R_16BF,
            Self::F16 => cudaDataType::CUDA_R_16F,
            Self::F32 => cudaDataType::CUDA_R_32F,
        }
    }
}

/// `C_i = alpha A_i B_i + beta C_i` for `batch` row-major products `A_i` (`m × k`), `B_i` (`k × n`) into
/// `C_i` (`m × n`, rows `ldc` apart), matrix `i` of each operand `batch_strides` elements after
/// matrix `i - 1`; accumulated in f32. `A` and `B` share one precision, `C` may have another (f32
/// attention scores from bf16 queries and keys).
#[derive(Debug, Clone, Copy)]
pub(super) struct Gemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub inputs: Precision,
    pub output: Precision,
    pub alpha: f32,
    /// 0 overwrites `C` (its old contents are never read), 1 adds to it.
    pub beta: f32,
    pub a: (u64, Operand),
    pub b: (u64, Operand),
    /// The result's address and row stride.
    pub c: (u64, usize),
    pub batch: usize,
    /// Elements between consecutive matrices of `A`, `B` and `C` (unused for a batch of one).
    pub batch_strides: [usize; 3],
}

impl Gemm {
    /// One product `C = A B` of one precision into a contiguous `C`.
    pub fn single(
        [m, n, k]: [usize; 3],
        precision: Precision,
        a: (u64, Operand),
        b: (u64, Operand),
        c: u64,
    ) -> Self {
        Self {
            m,
            n,
            k,
            inputs: precision,
            output: precision,
            alpha: 1.0,
            beta: 0.0,
            a,
            b,
            c: (c, n),
            batch: 1,
            batch_strides: [0; 3],
        }
    }
}

/// How a product is ordered against CubeCL's kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ordering {
    /// Queued on the CUDA stream CubeCL queues the same stream id's kernels on
    /// (`cubecl_stream`): ordered by the stream alone, with nothing to hand over.
    Stream,
    /// Through events on the GPU (driver ≥ 12.5, `cuCtxRecordEvent` / `cuCtxWaitEvent`): the
    /// product waits for everything already queued in the context, and everything queued
    /// later waits for the product. The host never waits.
    Events,
    /// The host synchronises the context before the product and waits for it after.
    Synchronised,
}

/// The CUDA driver version that records and waits on events for a whole context.
const CONTEXT_EVENTS_DRIVER: i32 = 12050;

/// What one thread's products run on: a cuBLAS handle, bound to CubeCL's stream or to a stream
/// of its own, and two events that fence its own stream against the rest of the context.
struct Lane {
    handle: cublasHandle_t,
    /// The lane's own stream (events and synchronised ordering).
    stream: sys::CUstream,
    /// The stream the handle is bound to now.
    bound: sys::CUstream,
    before: sys::CUevent,
    after: sys::CUevent,
    ordering: Ordering,
    /// The workspace handed to cuBLAS where [`cublas_workspace`] asks for one of the lane's
    /// own.
    workspace: Scratch,
}

impl Lane {
    /// A lane on the current context; events if the driver has context-wide events.
    fn new() -> Result<Self, String> {
        let handle = blas::create_handle().map_err(|e| format!("creating a cuBLAS handle: {e}"))?;
        let stream = driver::stream::create(driver::stream::StreamKind::NonBlocking)
            .map_err(|e| format!("creating cuBLAS's stream: {e}"))?;
        let event = || {
            driver::event::create(sys::CUevent_flags::CU_EVENT_DISABLE_TIMING)
                .map_err(|e| format!("creating an event: {e}"))
        };
        let (before, after) = (event()?, event()?);
        // SAFETY: the handle and the stream were just created on this thread's context.
        unsafe { blas::set_stream(handle, stream.cast()) }
            .map_err(|e| format!("setting cuBLAS's stream: {e}"))?;
        let ordering = match driver_version() {
            Some(version) if version >= CONTEXT_EVENTS_DRIVER => Ordering::Events,
            _ => Ordering::Synchronised,
        };
        let mut lane = Self {
            handle,
            stream,
            bound: stream,
            before,
            after,
            ordering,
            workspace: Scratch::new("cuBLAS"),
        };
        lane.set_workspace()?;
        Ok(lane)
    }

    /// Binds the handle to `stream` (cuBLAS queues its products there).
    fn bind(&mut self, stream: sys::CUstream) -> Result<(), String> {
        if self.bound != stream {
            // SAFETY: the handle is this lane's; the stream is alive (CubeCL never destroys
            // its streams, and the lane's own lives as long as the lane).
            unsafe { blas::set_stream(self.handle, stream.cast()) }
                .map_err(|e| format!("setting cuBLAS's stream: {e}"))?;
            self.bound = stream;
            // Setting the stream gives the handle back cuBLAS's own workspace pool.
            self.set_workspace()?;
        }
        Ok(())
    }

    /// Hands cuBLAS the workspace [`cublas_workspace`] asks for: none, or the lane's own
    /// allocation (made the first time, kept for the lane's life), or nothing to do for
    /// cuBLAS's own pool.
    fn set_workspace(&mut self) -> Result<(), String> {
        let workspace = cublas_workspace();
        let (address, bytes) = match workspace.allocation_bytes() {
            Some(bytes) => self.workspace.at_least(bytes)?,
            None if workspace == CublasWorkspace::None => (0, 0),
            None => return Ok(()),
        };
        // SAFETY: the handle is this lane's; the allocation (or none) outlives its use: it is
        // freed only after a synchronisation, when a larger one replaces it.
        let status = unsafe {
            cudarc::cublas::sys::cublasSetWorkspace_v2(self.handle, address as *mut c_void, bytes)
        };
        status
            .result()
            .map_err(|e| format!("setting cuBLAS's workspace ({workspace}): {e}"))
    }

    /// Runs `gemms` one after another, on `cubecl_stream` where given (the caller gives one
    /// only when [`ProductOrdering::CubeclStream`](super::ProductOrdering) is asked for), else
    /// ordered as this lane orders products; a failure of the event calls switches the lane to
    /// synchronising for good and runs the product that way.
    ///
    /// # Safety
    /// As [`Gemm::run_ordered`].
    unsafe fn run(
        &mut self,
        gemms: &[Gemm],
        cubecl_stream: Option<sys::CUstream>,
    ) -> Result<Ordering, String> {
        if let Some(stream) = cubecl_stream {
            self.bind(stream)?;
            for gemm in gemms {
                // SAFETY: forwarded from the caller; the stream orders the products after
                // CubeCL's kernels queued before them and before those queued after.
                unsafe { gemm.launch(self.handle) }?;
            }
            return Ok(Ordering::Stream);
        }
        self.bind(self.stream)?;
        let synchronise = super::product_ordering() == super::ProductOrdering::Synchronised;
        if self.ordering == Ordering::Events && !synchronise {
            // SAFETY: forwarded from the caller.
            match unsafe { self.run_between_events(gemms) } {
                Ok(()) => return Ok(Ordering::Events),
                Err(Fallback::Events(error)) => {
                    eprintln!(
                        "mss: ordering cuBLAS by events failed ({error}); synchronising instead"
                    );
                    self.ordering = Ordering::Synchronised;
                }
                Err(Fallback::Product(error)) => return Err(error),
            }
        }
        driver::ctx::synchronize().map_err(|e| format!("synchronising before it: {e}"))?;
        for gemm in gemms {
            // SAFETY: forwarded from the caller.
            unsafe { gemm.launch(self.handle) }?;
        }
        // SAFETY: the stream is this lane's own and alive.
        unsafe { driver::stream::synchronize(self.stream) }
            .map_err(|e| format!("synchronising after it: {e}"))?;
        Ok(Ordering::Synchronised)
    }

    /// Queues: the context's work so far → the products on the lane's stream → everything the
    /// context queues afterwards.
    unsafe fn run_between_events(&mut self, gemms: &[Gemm]) -> Result<(), Fallback> {
        let events = |what: &str, result: sys::CUresult| {
            result
                .result()
                .map_err(|e| Fallback::Events(format!("{what}: {e}")))
        };
        let context = driver::ctx::get_current()
            .map_err(|e| Fallback::Events(format!("the current context: {e}")))?
            .ok_or_else(|| Fallback::Events("no current context".into()))?;
        // SAFETY: the context is current; the events and the stream are this lane's own.
        unsafe {
            events(
                "recording the context's work",
                sys::cuCtxRecordEvent(context, self.before),
            )?;
            events(
                "waiting for it on cuBLAS's stream",
                sys::cuStreamWaitEvent(self.stream, self.before, 0),
            )?;
            for gemm in gemms {
                gemm.launch(self.handle).map_err(Fallback::Product)?;
            }
            events(
                "recording the product",
                sys::cuEventRecord(self.after, self.stream),
            )?;
            // Once the product is queued, a failure here would leave later kernels unordered
            // after it: the caller falls back to synchronising, which orders them.
            if let Err(error) = events(
                "making the context wait for the product",
                sys::cuCtxWaitEvent(context, self.after),
            ) {
                driver::stream::synchronize(self.stream)
                    .map_err(|e| Fallback::Product(format!("synchronising after it: {e}")))?;
                return Err(error);
            }
        }
        Ok(())
    }
}

/// Why the events path gave up: its own calls failed (synchronising will do), or the product.
enum Fallback {
    Events(String),
    Product(String),
}

/// The driver's CUDA version (12050 for 12.5), if it can be asked.
fn driver_version() -> Option<i32> {
    let mut version = 0;
    // SAFETY: writes one int.
    unsafe { sys::cuDriverGetVersion(&mut version) }
        .result()
        .ok()?;
    Some(version)
}

thread_local! {
    /// The lane of the thread that runs products: CubeCL's CUDA server thread, whose context
    /// is current.
    static LANE: LaneCell<Lane> = const { RefCell::new(None) };
}

/// Runs the products, in order, after every kernel already launched in the current context
/// (or on `cubecl_stream`, CubeCL's stream of the products' stream id, after every kernel
/// launched there), such that kernels launched afterwards see their results; returns how they
/// were ordered. With [`Ordering::Stream`] and [`Ordering::Events`] the host does not wait for
/// the GPU.
///
/// # Safety
/// The pointers must address live device allocations of the current context that hold the
/// operands and the results as described; the allocations must not be reused by work queued
/// before this call ends (work queued later is ordered after the products). Work on other
/// streams that touches them must be ordered against `cubecl_stream` by CubeCL.
pub(super) unsafe fn run_ordered(
    gemms: &[Gemm],
    cubecl_stream: Option<sys::CUstream>,
) -> Result<Ordering, String> {
    // SAFETY: forwarded from the caller.
    with_lane(&LANE, Lane::new, |lane| unsafe {
        lane.run(gemms, cubecl_stream)
    })
}

impl Gemm {
    /// Queues the product on `handle`'s stream.
    unsafe fn launch(&self, handle: cublasHandle_t) -> Result<(), String> {
        // Row-major C = A B is column-major Cᵀ = Bᵀ Aᵀ: cuBLAS gets B first, and m and n swap.
        let (inputs, output) = (self.inputs.data_type(), self.output.data_type());
        let dim = |x: usize| i32::try_from(x).map_err(|_| format!("{x} does not fit in i32"));
        let stride = |x: usize| i64::try_from(x).map_err(|_| format!("{x} does not fit in i64"));
        let (m, n, k) = (dim(self.m)?, dim(self.n)?, dim(self.k)?);
        let (lda, ldb, ldc) = (dim(self.a.1.ld)?, dim(self.b.1.ld)?, dim(self.c.1)?);
        let alpha = (&self.alpha as *const f32).cast::<c_void>();
        let beta = (&self.beta as *const f32).cast::<c_void>();
        let (a, b, c) = (
            self.a.0 as *const c_void,
            self.b.0 as *const c_void,
            self.c.0 as *mut c_void,
        );
        let (compute, algo) = (
            cublasComputeType_t::CUBLAS_COMPUTE_32F,
            cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        );
        let (op_b, op_a) = (operation(self.b.1), operation(self.a.1));
        // SAFETY: the caller vouches for the pointers.
        let result = if self.batch == 1 {
            unsafe {
                blas::gemm_ex(
                    handle, op_b, op_a, n, m, k, alpha, b, inputs, ldb, a, inputs, lda, beta, c,
                    output, ldc, compute, algo,
                )
            }
        } else {
            let [stride_a, stride_b, stride_c] = self.batch_strides;
            let (stride_a, stride_b, stride_c) =
                (stride(stride_a)?, stride(stride_b)?, stride(stride_c)?);
            unsafe {
                blas::gemm_strided_batched_ex(
                    handle,
                    op_b,
                    op_a,
                    n,
                    m,
                    k,
                    alpha,
                    b,
                    inputs,
                    ldb,
                    stride_b,
                    a,
                    inputs,
                    lda,
                    stride_a,
                    beta,
                    c,
                    output,
                    ldc,
                    stride_c,
                    dim(self.batch)?,
                    compute,
                    algo,
                )
            }
        };
        result.map_err(|e| format!("{self:?}: {e}"))
    }
}

/// The cuBLAS operation of an operand.
fn operation(operand: Operand) -> cublasOperation_t {
    match operand.op {
        Transpose::No => cublasOperation_t::CUBLAS_OP_N,
        Transpose::Yes => cublasOperation_t::CUBLAS_OP_T,
    }
}
