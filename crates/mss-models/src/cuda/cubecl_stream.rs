//! The CUDA stream that CubeCL's server queues a stream id's kernels on, found through CUPTI.
//!
//! CubeCL 0.10 keeps its CUDA streams private. A cuBLAS product queued on a stream of its own
//! must then be fenced against CubeCL's kernels by events, twice per product (`cublas_lane::Ordering`),
//! and the GPU waits at each hand-over. Queued on CubeCL's own stream instead, a product is
//! ordered by the stream alone, as PyTorch orders its products.
//!
//! The stream is found once per thread and stream id: while asking the server to synchronise
//! that stream id, a CUPTI callback on the driver's `cuEventRecord` sees the stream the server
//! records its fence on. Without CUPTI (no `libcupti`, or another CUPTI client such as Nsight
//! Compute holding its callbacks) nothing is found and the products keep to events.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Mutex, OnceLock};

use cubecl::Runtime;
use cubecl::cuda::CudaRuntime;
use cubecl::future::block_on;
use cubecl::server::ComputeServer;
use cubecl::stream_id::StreamId;
use cudarc::cupti::result as cupti;
use cudarc::cupti::sys::{
    CUpti_ApiCallbackSite, CUpti_CallbackData, CUpti_CallbackDomain, CUpti_CallbackId,
    CUpti_driver_api_trace_cbid_enum, cuEventRecord_params,
};
use cudarc::driver::sys::CUstream;

type Server = <CudaRuntime as Runtime>::Server;

thread_local! {
    /// What each stream id of this thread resolved to (`None`: not found, ask no more).
    static FOUND: RefCell<HashMap<StreamId, Option<CUstream>>> = RefCell::new(HashMap::new());
}

/// The CUDA stream `server` queues `stream_id`'s work on, if CUPTI can tell; looked for once
/// per thread and stream id. Synchronises that stream the first time (the GPU finishes the
/// work queued so far); a failure is reported once on standard error.
pub(super) fn cubecl_stream(server: &mut Server, stream_id: StreamId) -> Option<CUstream> {
    if let Some(found) = FOUND.with(|found| found.borrow().get(&stream_id).copied()) {
        return found;
    }
    let found = match find(server, stream_id) {
        Ok(stream) => Some(stream),
        Err(why) => {
            static SAID: OnceLock<()> = OnceLock::new();
            SAID.get_or_init(|| {
                eprintln!("mss: CubeCL's CUDA stream not found ({why}); cuBLAS ordered by events")
            });
            None
        }
    };
    FOUND.with(|map| map.borrow_mut().insert(stream_id, found));
    found
}

/// Whether a `libcupti` can be loaded (looked for once).
fn library_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: only tries to open the library by its candidate names.
    *PRESENT.get_or_init(|| unsafe { cudarc::cupti::sys::is_culib_present() })
}

/// Synchronises `stream_id` on `server` with a CUPTI callback listening to `cuEventRecord`,
/// and returns the one stream the server recorded on.
fn find(server: &mut Server, stream_id: StreamId) -> Result<CUstream, String> {
    if !library_present() {
        return Err("no libcupti".into());
    }
    let recorded: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    let mut subscriber = std::ptr::null_mut();
    // SAFETY: the callback reads its user data as the `Mutex` above, which outlives the
    // subscription (unsubscribed below, before `recorded` is dropped).
    unsafe {
        cupti::subscribe(
            &mut subscriber,
            Some(on_event_record),
            (&raw const recorded).cast_mut().cast::<c_void>(),
        )
    }
    .map_err(|e| format!("subscribing to CUPTI: {e:?}"))?;
    // SAFETY: the subscriber was just created.
    let enabled = unsafe {
        cupti::enable_callback(
            1,
            subscriber,
            CUpti_CallbackDomain::CUPTI_CB_DOMAIN_DRIVER_API,
            CUpti_driver_api_trace_cbid_enum::CUPTI_DRIVER_TRACE_CBID_cuEventRecord as u32,
        )
    }
    .map_err(|e| format!("enabling CUPTI's callback: {e:?}"));
    let synced = enabled.and_then(|()| {
        block_on(server.sync(stream_id)).map_err(|e| format!("synchronising: {e:?}"))
    });
    // SAFETY: the subscriber is ours; no callback runs after this returns.
    let unsubscribed = unsafe { cupti::unsubscribe(subscriber) }
        .map_err(|e| format!("unsubscribing from CUPTI: {e:?}"));
    synced.and(unsubscribed)?;
    let mut streams = recorded.into_inner().map_err(|e| e.to_string())?;
    streams.sort_unstable();
    streams.dedup();
    match streams[..] {
        [stream] if stream != 0 => Ok(stream as CUstream),
        _ => Err(format!("the server recorded on {} streams", streams.len())),
    }
}

/// CUPTI's callback: keeps the stream of each `cuEventRecord` as it is entered.
unsafe extern "C" fn on_event_record(
    userdata: *mut c_void,
    _domain: CUpti_CallbackDomain,
    _cbid: CUpti_CallbackId,
    data: *const c_void,
) {
    // SAFETY: CUPTI passes the driver domain's callback data, whose parameters for the one
    // enabled callback are `cuEventRecord`'s; the user data is `find`'s `Mutex`.
    let (data, recorded) = unsafe {
        (
            &*data.cast::<CUpti_CallbackData>(),
            &*userdata.cast::<Mutex<Vec<usize>>>(),
        )
    };
    if data.callbackSite != CUpti_ApiCallbackSite::CUPTI_API_ENTER {
        return;
    }
    // SAFETY: as above.
    let params = unsafe { &*data.functionParams.cast::<cuEventRecord_params>() };
    if let Ok(mut recorded) = recorded.lock() {
        recorded.push(params.hStream as usize);
    }
}
