//! Peak memory on the GPU: CubeCL's memory pool statistics. The pool keeps the pages it
//! reserved until it is cleaned, so after cleaning before a run, the bytes it reserves after the
//! run are the run's high-water mark — in whole pool pages, too coarse to tell FM from IMDC.
//! The finer figure is the bytes *in use* (live tensors), which CubeCL reports only as a
//! snapshot: [`InUsePeak`] samples it at every layer's memory rewrite.

use burn::prelude::Backend;
use mss::core::{MemoryEvent, MemoryObserver};

/// The largest in-use byte count seen at the layers' memory rewrites of a prefill. A
/// snapshot is taken when a layer's `[memory; chunk]` and its pruned memory are both live,
/// which is where the KV working set peaks; the attention and MLP blocks' temporaries are
/// freed by then, so the true peak is higher by about one layer's activations. Under Burn's
/// operation fusion, operations still queued have not allocated yet: a lower bound.
#[derive(Debug, Default)]
pub struct InUsePeak {
    /// The largest sample, bytes (0 before the first).
    pub peak: u64,
}

impl InUsePeak {
    /// Takes one sample.
    pub fn sample(&mut self) {
        if let Some(bytes) = in_use() {
            self.peak = self.peak.max(bytes);
        }
    }
}

impl<B: Backend> MemoryObserver<B> for InUsePeak {
    fn on_memory(&mut self, _event: &MemoryEvent<'_, B>) {
        self.sample();
    }
}

/// Releases the pool's unused pages (no GPU in this build: nothing to do).
pub fn clean() {
    #[cfg(feature = "cuda")]
    mss::models::release_unused_device_memory(&Default::default());
}

/// Bytes the pool reserves on the device now, if known.
pub fn reserved() -> Option<u64> {
    pool().map(|p| p.reserved)
}

/// Bytes of live tensors on the device now (allocations the pool has handed out and not got
/// back; no padding), if known. Operations the fusion stream still holds have not allocated,
/// so this can miss some of the latest ones.
pub fn in_use() -> Option<u64> {
    pool().map(|p| p.in_use)
}

#[cfg(feature = "cuda")]
fn pool() -> Option<mss::models::DevicePool> {
    mss::models::device_pool(&Default::default())
}

/// No GPU in this build.
#[cfg(not(feature = "cuda"))]
fn pool() -> Option<Pool> {
    None
}

/// The fields read from the pool, for builds without it.
#[cfg(not(feature = "cuda"))]
struct Pool {
    reserved: u64,
    in_use: u64,
}
