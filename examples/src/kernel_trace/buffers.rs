//! The buffers lent to CUPTI and the callbacks that take them back: records are parsed as they
//! come and kept in a process-wide collector, since CUPTI's buffer callbacks carry no user data.

use std::alloc::Layout;
use std::sync::{Mutex, OnceLock};

use cudarc::cupti::result::activity;
use cudarc::driver::sys::CUcontext;

use super::cupti_error;
use super::records::{Record, read_records};

/// Bytes of each buffer lent to CUPTI: a few thousand kernel records, so that a prefill's tens
/// of thousands take few buffers.
const BUFFER_BYTES: usize = 4 << 20;
/// CUPTI wants its buffers aligned to 8 bytes (`ACTIVITY_RECORD_ALIGNMENT`).
const BUFFER_ALIGN: usize = 8;

/// What the buffer callbacks collect, between a trace's start and its finish.
pub(super) struct Collector {
    /// Whether a trace is collecting: buffers that come back otherwise are freed unread.
    pub(super) active: bool,
    pub(super) records: Vec<Record>,
    /// Records CUPTI dropped for want of buffer space.
    pub(super) dropped: usize,
    /// Records of a kind not enabled, or cut off at the buffer's end.
    pub(super) skipped: usize,
}

static COLLECTOR: Mutex<Collector> = Mutex::new(Collector {
    active: false,
    records: Vec::new(),
    dropped: 0,
    skipped: 0,
});

/// The collector, even if a thread panicked while holding it (its data stays usable).
pub(super) fn lock() -> std::sync::MutexGuard<'static, Collector> {
    COLLECTOR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Registers the buffer callbacks, once per process (they are plain functions; the collector
/// decides what to keep).
pub(super) fn register_callbacks() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            activity::register_callbacks(Some(buffer_requested), Some(buffer_completed))
                .map_err(|e| cupti_error("registering CUPTI's activity buffers", e))
        })
        .clone()
}

fn buffer_layout() -> Option<Layout> {
    Layout::from_size_align(BUFFER_BYTES, BUFFER_ALIGN).ok()
}

/// CUPTI asks for a buffer to fill: one of [`BUFFER_BYTES`], 8-byte aligned, as many records
/// as fit. Where none can be had, CUPTI is given none and drops records (counted).
unsafe extern "C" fn buffer_requested(
    buffer: *mut *mut u8,
    size: *mut usize,
    max_records: *mut usize,
) {
    // SAFETY: the layout's size is not zero.
    let lent = buffer_layout().map_or(std::ptr::null_mut(), |layout| unsafe {
        std::alloc::alloc(layout)
    });
    // SAFETY: CUPTI passes three valid pointers to write the answer to.
    unsafe {
        *buffer = lent;
        *size = if lent.is_null() { 0 } else { BUFFER_BYTES };
        *max_records = 0;
    }
}

/// CUPTI hands a buffer back, `valid` bytes of it records: keeps what a trace wants, counts
/// what CUPTI dropped, and frees the buffer.
unsafe extern "C" fn buffer_completed(
    context: CUcontext,
    stream_id: u32,
    buffer: *mut u8,
    _size: usize,
    valid: usize,
) {
    if buffer.is_null() {
        return;
    }
    let mut dropped = 0usize;
    // SAFETY: CUPTI passes the context and stream of the buffer (or null and 0 for its global
    // buffers), and `dropped` is a valid place for the count.
    let _ = unsafe { activity::get_num_dropped_records(context, stream_id, &mut dropped) };
    {
        let mut collector = lock();
        if collector.active {
            collector.dropped += dropped;
            // SAFETY: `buffer` is one of ours with `valid` bytes of records, and stays
            // allocated until freed below.
            unsafe { read_records(buffer, valid, &mut collector) };
        }
    }
    if let Some(layout) = buffer_layout() {
        // SAFETY: `buffer_requested` allocated it with this layout, and CUPTI is done with it.
        unsafe { std::alloc::dealloc(buffer, layout) };
    }
}
