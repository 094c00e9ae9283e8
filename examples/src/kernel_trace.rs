//! A timeline of the GPU's kernels and the API calls that launched them, through CUPTI's
//! activity API, written as CSV for `scripts/gpu/gaps.py`: where the GPU sits idle between
//! kernels and whether it waited for the host. Nsight Systems answers the same question, but the
//! GPU machines have no `nsys`; `libcupti` comes with the CUDA libraries they do have.
//!
//! CUPTI hands its records over in buffers this module lends it, on a thread of its own; they
//! are parsed as they come back and kept in a process-wide list, since CUPTI's buffer callbacks
//! carry no user data. One trace runs at a time.
//!
//! The kernel record's struct gains a version every few CUDA releases (`CUpti_ActivityKernel4`
//! to `13` in cudarc 0.19.10), and the version written is that of the `libcupti` loaded at run
//! time, not that of the bindings compiled in. Every version since the fourth begins with the
//! same fields, up to the kernel's name: records are read through that prefix (`KernelPrefix`),
//! whose offsets are checked against two versions at compile time. The same holds for copies
//! and fills (`CopyPrefix`); API calls have had a single record version (`CUpti_ActivityAPI`).
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::collections::BTreeMap;
use std::ffi::{CStr, c_char};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use cudarc::cupti::result::{CuptiError, activity};
use cudarc::cupti::sys::{self, CUpti_Activity, CUpti_ActivityKind, CUpti_CallbackDomain};
use cudarc::driver::sys::CUcontext;

/// The activity kinds a trace enables, and whether it fails without each: kernels (without
/// serialising them, as the plain `KERNEL` kind would) and driver calls (each launch's host
/// start and end, and the correlation id its kernel carries) are the trace; copies and fills
/// keep the GPU busy as kernels do; runtime calls and the driver's internal launches are where
/// a library such as cuBLAS may launch from instead of a public driver call.
const KINDS: [(CUpti_ActivityKind, bool); 6] = [
    (
        CUpti_ActivityKind::CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL,
        true,
    ),
    (CUpti_ActivityKind::CUPTI_ACTIVITY_KIND_DRIVER, true),
    (CUpti_ActivityKind::CUPTI_ACTIVITY_KIND_MEMCPY, false),
    (CUpti_ActivityKind::CUPTI_ACTIVITY_KIND_MEMSET, false),
    (CUpti_ActivityKind::CUPTI_ACTIVITY_KIND_RUNTIME, false),
    (
        CUpti_ActivityKind::CUPTI_ACTIVITY_KIND_INTERNAL_LAUNCH_API,
        false,
    ),
];

/// Bytes of each buffer lent to CUPTI: a few thousand kernel records, so that a prefill's tens
/// of thousands take few buffers.
const BUFFER_BYTES: usize = 4 << 20;
/// CUPTI wants its buffers aligned to 8 bytes (`ACTIVITY_RECORD_ALIGNMENT`).
const BUFFER_ALIGN: usize = 8;
/// `cuptiActivityFlushAll`'s flag that delivers buffers that are not full too
/// (`CUPTI_ACTIVITY_FLAG_FLUSH_FORCED`).
const FLUSH_FORCED: u32 = 1;

/// The fields every kernel record has begun with since `CUpti_ActivityKernel4` (CUDA 9):
/// `CUpti_ActivityKernel4` … `CUpti_ActivityKernel13` all share them, at the same offsets.
/// Enumerations are read as their `u32`, so that a value these bindings do not know is no
/// undefined behaviour.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(dead_code)] // Fields unread here keep the layout.
struct KernelPrefix {
    kind: u32,
    cache_config: u8,
    shared_memory_config: u8,
    registers_per_thread: u16,
    partitioned_global_cache_requested: u32,
    partitioned_global_cache_executed: u32,
    start: u64,
    end: u64,
    completed: u64,
    device_id: u32,
    context_id: u32,
    stream_id: u32,
    grid: [i32; 3],
    block: [i32; 3],
    static_shared_memory: i32,
    dynamic_shared_memory: i32,
    local_memory_per_thread: u32,
    local_memory_total: u32,
    correlation_id: u32,
    grid_id: i64,
    name: *const c_char,
}

/// The fields every copy and fill record begins with (`CUpti_ActivityMemcpy` … `7`,
/// `CUpti_ActivityMemset` … `5`): the four bytes after the kind are the copy's kinds and flags,
/// or the fill's value.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(dead_code)] // Fields unread here keep the layout.
struct CopyPrefix {
    kind: u32,
    detail: u32,
    bytes: u64,
    start: u64,
    end: u64,
    device_id: u32,
    context_id: u32,
    stream_id: u32,
    correlation_id: u32,
}

/// A driver or runtime API call, or an internal launch of the driver (`CUpti_ActivityAPI`, the
/// one version there is).
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(dead_code)] // Fields unread here keep the layout.
struct ApiRecord {
    kind: u32,
    cbid: u32,
    start: u64,
    end: u64,
    process_id: u32,
    thread_id: u32,
    correlation_id: u32,
    return_value: u32,
}

// The prefixes sit where cudarc's definitions put those fields, in the oldest and in a recent
// kernel record (the fourth, and the ninth of CUDA 12.0 – 13.x); the versions between and after
// repeat the same fields (read off cudarc 0.19.10's `cupti::sys`).
macro_rules! same_offsets {
    ($ours:ty, [$($theirs:ty),+], $fields:tt) => {
        $(same_offsets!($ours, $theirs, $fields);)+
    };
    ($ours:ty, $theirs:ty, ($(($a:ident, $b:ident)),+)) => {
        $(const _: () = assert!(
            std::mem::offset_of!($ours, $a) == std::mem::offset_of!($theirs, $b)
        );)+
        const _: () = assert!(size_of::<$ours>() <= size_of::<$theirs>());
    };
}
same_offsets!(
    KernelPrefix,
    [sys::CUpti_ActivityKernel4, sys::CUpti_ActivityKernel9],
    (
        (kind, kind),
        (registers_per_thread, registersPerThread),
        (start, start),
        (end, end),
        (stream_id, streamId),
        (grid, gridX),
        (block, blockX),
        (correlation_id, correlationId),
        (grid_id, gridId),
        (name, name)
    )
);
same_offsets!(
    CopyPrefix,
    sys::CUpti_ActivityMemcpy,
    (
        (bytes, bytes),
        (start, start),
        (end, end),
        (stream_id, streamId),
        (correlation_id, correlationId)
    )
);
same_offsets!(
    CopyPrefix,
    sys::CUpti_ActivityMemset,
    (
        (detail, value),
        (bytes, bytes),
        (start, start),
        (end, end),
        (stream_id, streamId),
        (correlation_id, correlationId)
    )
);
same_offsets!(
    ApiRecord,
    sys::CUpti_ActivityAPI,
    (
        (kind, kind),
        (cbid, cbid),
        (start, start),
        (end, end),
        (thread_id, threadId),
        (correlation_id, correlationId),
        (return_value, returnValue)
    )
);

/// What a record was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Kernel,
    Memcpy,
    Memset,
    Driver,
    Runtime,
    InternalLaunch,
}

impl Kind {
    /// The record's kind as the CSV names it.
    fn name(self) -> &'static str {
        match self {
            Self::Kernel => "kernel",
            Self::Memcpy => "memcpy",
            Self::Memset => "memset",
            Self::Driver => "driver",
            Self::Runtime => "runtime",
            Self::InternalLaunch => "internal_launch",
        }
    }

    /// The kind of a record whose kind field reads `kind`, if it is one a trace keeps.
    fn of(kind: u32) -> Option<Self> {
        use CUpti_ActivityKind as K;
        [
            (K::CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, Self::Kernel),
            (K::CUPTI_ACTIVITY_KIND_KERNEL, Self::Kernel),
            (K::CUPTI_ACTIVITY_KIND_MEMCPY, Self::Memcpy),
            (K::CUPTI_ACTIVITY_KIND_MEMSET, Self::Memset),
            (K::CUPTI_ACTIVITY_KIND_DRIVER, Self::Driver),
            (K::CUPTI_ACTIVITY_KIND_RUNTIME, Self::Runtime),
            (
                K::CUPTI_ACTIVITY_KIND_INTERNAL_LAUNCH_API,
                Self::InternalLaunch,
            ),
        ]
        .into_iter()
        .find(|&(k, _)| k as u32 == kind)
        .map(|(_, ours)| ours)
    }
}

/// One record kept: times in CUPTI's nanoseconds (kernels' device times brought onto the host's
/// clock by CUPTI, as its API records are).
#[derive(Clone, Debug)]
struct Record {
    kind: Kind,
    start: u64,
    end: u64,
    correlation_id: u32,
    /// The stream of a kernel, copy or fill; the callback id of an API call.
    stream_or_cbid: u32,
    /// The kernel's (mangled) name; empty for the others.
    name: String,
}

/// What the buffer callbacks collect, between a trace's start and its finish.
struct Collector {
    /// Whether a trace is collecting: buffers that come back otherwise are freed unread.
    active: bool,
    records: Vec<Record>,
    /// Records CUPTI dropped for want of buffer space.
    dropped: usize,
    /// Records of a kind not enabled, or cut off at the buffer's end.
    skipped: usize,
}

static COLLECTOR: Mutex<Collector> = Mutex::new(Collector {
    active: false,
    records: Vec::new(),
    dropped: 0,
    skipped: 0,
});

/// Whether a [`KernelTrace`] exists (one at a time: CUPTI's activity kinds are process-wide).
static RUNNING: AtomicBool = AtomicBool::new(false);

/// A running trace of the GPU's kernels, copies, fills and driver calls; [`KernelTrace::finish`]
/// writes it. Dropped unfinished, it stops collecting and discards what it had.
pub struct KernelTrace {
    /// The kinds enabled, to disable.
    enabled: Vec<CUpti_ActivityKind>,
    /// The optional kinds CUPTI refused, with its error.
    refused: Vec<String>,
    stopped: bool,
}

/// What a finished trace wrote.
#[derive(Clone, Debug, Default)]
pub struct TraceSummary {
    /// Kernel records.
    pub kernels: usize,
    /// Driver and runtime API calls and internal launches.
    pub api_calls: usize,
    /// Copies and fills.
    pub copies: usize,
    /// Records CUPTI dropped for want of buffer space (the trace has gaps where it is not 0).
    pub dropped: usize,
    /// Records left unread: of a kind not asked for, or cut off at a buffer's end (0 unless
    /// this module misreads CUPTI's buffers).
    pub skipped: usize,
    /// The optional kinds CUPTI would not trace, with its error.
    pub refused: Vec<String>,
}

impl std::fmt::Display for TraceSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} kernels, {} copies and fills, {} API calls",
            self.kernels, self.copies, self.api_calls
        )?;
        if self.dropped > 0 {
            write!(f, ", {} records DROPPED by CUPTI", self.dropped)?;
        }
        if self.skipped > 0 {
            write!(f, ", {} records not understood", self.skipped)?;
        }
        if !self.refused.is_empty() {
            write!(f, "; not traced: {}", self.refused.join(", "))?;
        }
        Ok(())
    }
}

/// A CUPTI error as a sentence; its name only (cudarc's `Debug` looks up a message and panics
/// where that lookup fails).
fn cupti_error(what: &str, error: CuptiError) -> String {
    format!("{what}: {:?}", error.0)
}

impl KernelTrace {
    /// Starts collecting. Errs where no `libcupti` can be loaded, where CUPTI refuses (another
    /// CUPTI client such as Nsight Compute holds it), or while another trace runs.
    pub fn start() -> Result<Self, String> {
        // SAFETY: only tries to open the library by its candidate names.
        if !unsafe { sys::is_culib_present() } {
            return Err("no libcupti to load (scripts/gpu/env.sh finds one)".into());
        }
        if RUNNING
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err("a kernel trace is already running".into());
        }
        // From here on, dropping `trace` undoes whatever was done.
        let mut trace = Self {
            enabled: Vec::new(),
            refused: Vec::new(),
            stopped: false,
        };
        register_callbacks()?;
        {
            let mut collector = lock();
            collector.records.clear();
            collector.dropped = 0;
            collector.skipped = 0;
            collector.active = true;
        }
        for (kind, required) in KINDS {
            match activity::enable(kind) {
                Ok(()) => trace.enabled.push(kind),
                Err(e) => {
                    let error = cupti_error(&format!("enabling {kind:?}"), e);
                    if required {
                        trace.stop();
                        return Err(error);
                    }
                    trace.refused.push(error);
                }
            }
        }
        Ok(trace)
    }

    /// Stops collecting and writes the records to `path` as CSV, sorted by start time, one row
    /// each: `kind,start_ns,end_ns,correlation_id,stream_or_cbid,name`, where `kind` is
    /// `kernel`, `memcpy`, `memset`, `driver`, `runtime` or `internal_launch`, `stream_or_cbid`
    /// a kernel's, copy's or fill's stream or an API call's callback id, and `name` a kernel's
    /// mangled name or an API call's function (`cuLaunchKernel`). A kernel, copy or fill has
    /// the correlation id of the API call that queued it. Call it after the traced work has
    /// finished on the GPU: records of kernels still running are incomplete.
    pub fn finish(mut self, path: &Path) -> Result<TraceSummary, String> {
        let flushed = activity::flush_all(FLUSH_FORCED)
            .map_err(|e| cupti_error("flushing CUPTI's buffers", e));
        let collector = self.stop();
        flushed?;
        let mut records = collector.records;
        records.sort_by_key(|r| (r.start, r.end));
        let mut summary = TraceSummary {
            dropped: collector.dropped,
            skipped: collector.skipped,
            refused: std::mem::take(&mut self.refused),
            ..TraceSummary::default()
        };
        let mut api_names = BTreeMap::new();
        let mut csv = String::from("kind,start_ns,end_ns,correlation_id,stream_or_cbid,name\n");
        for record in &records {
            let name = match record.kind {
                Kind::Kernel => {
                    summary.kernels += 1;
                    record.name.as_str()
                }
                Kind::Memcpy | Kind::Memset => {
                    summary.copies += 1;
                    record.kind.name()
                }
                Kind::Driver | Kind::Runtime | Kind::InternalLaunch => {
                    summary.api_calls += 1;
                    api_names
                        .entry((record.kind.name(), record.stream_or_cbid))
                        .or_insert_with(|| api_function(record.kind, record.stream_or_cbid))
                        .as_str()
                }
            };
            // Writing to a String cannot fail.
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{}",
                record.kind.name(),
                record.start,
                record.end,
                record.correlation_id,
                record.stream_or_cbid,
                csv_field(name)
            );
        }
        std::fs::write(path, csv).map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(summary)
    }

    /// Disables the kinds, flushes what CUPTI still holds and takes the records; idempotent.
    fn stop(&mut self) -> Collector {
        let mut taken = Collector {
            active: false,
            records: Vec::new(),
            dropped: 0,
            skipped: 0,
        };
        if self.stopped {
            return taken;
        }
        self.stopped = true;
        for kind in self.enabled.drain(..) {
            // Nothing to do about an error here: the kind stays enabled, and the next trace
            // starts by clearing what it collected.
            let _ = activity::disable(kind);
        }
        // Records made between the caller's flush and the disabling; errors change nothing here.
        let _ = activity::flush_all(FLUSH_FORCED);
        {
            let mut collector = lock();
            collector.active = false;
            std::mem::swap(&mut *collector, &mut taken);
        }
        RUNNING.store(false, Ordering::Release);
        taken
    }
}

impl Drop for KernelTrace {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The collector, even if a thread panicked while holding it (its data stays usable).
fn lock() -> std::sync::MutexGuard<'static, Collector> {
    COLLECTOR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Registers the buffer callbacks, once per process (they are plain functions; the collector
/// decides what to keep).
fn register_callbacks() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            activity::register_callbacks(Some(buffer_requested), Some(buffer_completed))
                .map_err(|e| cupti_error("registering CUPTI's activity buffers", e))
        })
        .clone()
}

/// The function of an API call's callback id (`cuLaunchKernel`), or the record's kind where
/// CUPTI cannot say (internal launches have no callback id).
fn api_function(kind: Kind, cbid: u32) -> String {
    let domain = match kind {
        Kind::Driver => CUpti_CallbackDomain::CUPTI_CB_DOMAIN_DRIVER_API,
        Kind::Runtime => CUpti_CallbackDomain::CUPTI_CB_DOMAIN_RUNTIME_API,
        _ => return kind.name().into(),
    };
    let mut name: *const c_char = std::ptr::null();
    // SAFETY: CUPTI writes a pointer to a static string, or nothing, into `name`.
    let found = unsafe { sys::cuptiGetCallbackName(domain, cbid, &mut name) }.result();
    if found.is_err() || name.is_null() {
        return kind.name().into();
    }
    // SAFETY: non-null, and CUPTI's names are NUL-terminated static strings.
    unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

/// A CSV field: quoted where it holds a comma, quote or line break (demangled names do).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
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

/// Walks the records of `buffer` with `cuptiActivityGetNextRecord`, keeping kernels, copies,
/// fills and API calls.
///
/// # Safety
/// `buffer` must hold `valid` bytes of CUPTI's records.
unsafe fn read_records(buffer: *mut u8, valid: usize, collector: &mut Collector) {
    let mut record: *mut CUpti_Activity = std::ptr::null_mut();
    loop {
        // SAFETY: per this function's contract; `record` is null first, then CUPTI's previous
        // answer, as the iteration wants.
        if unsafe { activity::get_next_record(buffer, valid, &mut record) }.is_err() {
            // CUPTI_ERROR_MAX_LIMIT_REACHED: no more records (any other error ends the walk too).
            break;
        }
        let offset = (record as usize).wrapping_sub(buffer as usize);
        // Never read past the valid bytes, whatever a record's real size.
        let fits = |bytes: usize| offset.checked_add(bytes).is_some_and(|end| end <= valid);
        if record.is_null() || !fits(size_of::<u32>()) {
            break;
        }
        // SAFETY: within the buffer's valid bytes (checked above); records are 8-byte aligned.
        let kind = Kind::of(unsafe { record.cast::<u32>().read_unaligned() });
        let parsed = match kind {
            Some(Kind::Kernel) => fits(size_of::<KernelPrefix>()).then(|| {
                // SAFETY: a kernel record (any version since the fourth) starts with the prefix,
                // within the valid bytes (checked).
                let k = unsafe { record.cast::<KernelPrefix>().read_unaligned() };
                Record {
                    kind: Kind::Kernel,
                    start: k.start,
                    end: k.end,
                    correlation_id: k.correlation_id,
                    stream_or_cbid: k.stream_id,
                    // SAFETY: CUPTI's name of the kernel, NUL-terminated, shared by its records
                    // and alive while the buffer is handed back.
                    name: unsafe { kernel_name(k.name) },
                }
            }),
            Some(kind @ (Kind::Memcpy | Kind::Memset)) => {
                fits(size_of::<CopyPrefix>()).then(|| {
                    // SAFETY: every copy and fill record starts with the prefix, within the valid
                    // bytes (checked).
                    let c = unsafe { record.cast::<CopyPrefix>().read_unaligned() };
                    Record {
                        kind,
                        start: c.start,
                        end: c.end,
                        correlation_id: c.correlation_id,
                        stream_or_cbid: c.stream_id,
                        name: String::new(),
                    }
                })
            }
            Some(kind @ (Kind::Driver | Kind::Runtime | Kind::InternalLaunch)) => {
                fits(size_of::<ApiRecord>()).then(|| {
                    // SAFETY: these records are `CUpti_ActivityAPI`s, within the valid bytes
                    // (checked).
                    let a = unsafe { record.cast::<ApiRecord>().read_unaligned() };
                    Record {
                        kind,
                        start: a.start,
                        end: a.end,
                        correlation_id: a.correlation_id,
                        stream_or_cbid: a.cbid,
                        name: String::new(),
                    }
                })
            }
            None => None,
        };
        match parsed {
            Some(parsed) => collector.records.push(parsed),
            None => collector.skipped += 1,
        }
    }
}

/// A kernel's name as CUPTI gives it (mangled where the kernel is C++), `?` where there is none.
///
/// # Safety
/// `name` must be null or a NUL-terminated string.
unsafe fn kernel_name(name: *const c_char) -> String {
    if name.is_null() {
        return "?".into();
    }
    // SAFETY: per this function's contract.
    unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;

    /// The offsets `gaps.py` depends on, spelled out (the compile-time checks cover more).
    #[test]
    fn the_prefixes_read_the_fields_where_cupti_writes_them() {
        for (ours, theirs) in [
            (offset_of!(KernelPrefix, start), 16),
            (offset_of!(KernelPrefix, end), 24),
            (offset_of!(KernelPrefix, stream_id), 48),
            (offset_of!(KernelPrefix, correlation_id), 92),
            (offset_of!(KernelPrefix, name), 104),
            (offset_of!(sys::CUpti_ActivityKernel4, start), 16),
            (offset_of!(sys::CUpti_ActivityKernel4, correlationId), 92),
            (offset_of!(sys::CUpti_ActivityKernel4, name), 104),
            (offset_of!(sys::CUpti_ActivityKernel9, start), 16),
            (offset_of!(sys::CUpti_ActivityKernel9, end), 24),
            (offset_of!(sys::CUpti_ActivityKernel9, correlationId), 92),
            (offset_of!(sys::CUpti_ActivityKernel9, name), 104),
            (offset_of!(CopyPrefix, start), 16),
            (offset_of!(CopyPrefix, correlation_id), 44),
            (offset_of!(ApiRecord, start), 8),
            (offset_of!(ApiRecord, correlation_id), 32),
        ] {
            assert_eq!(ours, theirs);
        }
        assert_eq!(size_of::<sys::CUpti_ActivityAPI>(), size_of::<ApiRecord>());
    }

    #[test]
    fn record_kinds_are_read_from_their_numbers() {
        assert_eq!(Kind::of(10), Some(Kind::Kernel));
        assert_eq!(Kind::of(3), Some(Kind::Kernel));
        assert_eq!(Kind::of(4), Some(Kind::Driver));
        assert_eq!(Kind::of(5), Some(Kind::Runtime));
        assert_eq!(Kind::of(48), Some(Kind::InternalLaunch));
        assert_eq!(Kind::of(1), Some(Kind::Memcpy));
        assert_eq!(Kind::of(2), Some(Kind::Memset));
        assert_eq!(Kind::of(0), None);
        assert_eq!(Kind::of(0x7fff_fffe), None);
    }

    #[test]
    fn names_with_commas_are_quoted() {
        assert_eq!(csv_field("flash_attention_f16"), "flash_attention_f16");
        assert_eq!(
            csv_field("void k<int, float>(\"x\")"),
            "\"void k<int, float>(\"\"x\"\")\""
        );
    }
}
