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

mod buffers;
mod records;

use std::collections::BTreeMap;
use std::ffi::{CStr, c_char};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use cudarc::cupti::result::{CuptiError, activity};
use cudarc::cupti::sys::{self, CUpti_ActivityKind, CUpti_CallbackDomain};

use buffers::{Collector, lock, register_callbacks};
use records::Kind;

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

/// `cuptiActivityFlushAll`'s flag that delivers buffers that are not full too
/// (`CUPTI_ACTIVITY_FLAG_FLUSH_FORCED`).
const FLUSH_FORCED: u32 = 1;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_commas_are_quoted() {
        assert_eq!(csv_field("flash_attention_f16"), "flash_attention_f16");
        assert_eq!(
            csv_field("void k<int, float>(\"x\")"),
            "\"void k<int, float>(\"\"x\"\")\""
        );
    }
}
