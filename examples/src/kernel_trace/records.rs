//! CUPTI's activity records as this trace reads them: the prefixes every version of a kernel,
//! copy or fill record begins with (their offsets checked against cudarc's at compile time), and
//! the walk over a buffer of them.

use std::ffi::{CStr, c_char};

use cudarc::cupti::result::activity;
use cudarc::cupti::sys::{self, CUpti_Activity, CUpti_ActivityKind};

use super::buffers::Collector;

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
pub(super) enum Kind {
    Kernel,
    Memcpy,
    Memset,
    Driver,
    Runtime,
    InternalLaunch,
}

impl Kind {
    /// The record's kind as the CSV names it.
    pub(super) fn name(self) -> &'static str {
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
    pub(super) fn of(kind: u32) -> Option<Self> {
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
pub(super) struct Record {
    pub(super) kind: Kind,
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) correlation_id: u32,
    /// The stream of a kernel, copy or fill; the callback id of an API call.
    pub(super) stream_or_cbid: u32,
    /// The kernel's (mangled) name; empty for the others.
    pub(super) name: String,
}

/// Walks the records of `buffer` with `cuptiActivityGetNextRecord`, keeping kernels, copies,
/// fills and API calls.
///
/// # Safety
/// `buffer` must hold `valid` bytes of CUPTI's records.
pub(super) unsafe fn read_records(buffer: *mut u8, valid: usize, collector: &mut Collector) {
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
}
