//! What one thread's cuBLAS products run on (a handle, its stream, its workspace, two events),
//! and how they are ordered against CubeCL's kernels.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::c_void;

use cudarc::cublas::result as blas;
use cudarc::cublas::sys::cublasHandle_t;
use cudarc::driver::result as driver;
use cudarc::driver::sys;

use super::gemm::Gemm;
use super::scratch::Scratch;
use super::{LaneCell, with_lane};
use crate::cublas_workspace::{CublasWorkspace, cublas_workspace};

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
    /// As [`run_ordered`].
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
