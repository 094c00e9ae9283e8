//! The CUDA backend's device memory pool, as CubeCL accounts for it, and what the driver has
//! free beside it.
#![allow(unsafe_code)]

use std::sync::Mutex;

use burn_fusion::client::GlobalFusionClient;
use cubecl::MemoryAllocationMode;
use cubecl::Runtime;
use cubecl::client::ComputeClient;
use cubecl::cuda::{CudaDevice, CudaRuntime};
use mss_core::cuda::FusionCuda;

/// One reading of a device's memory pool, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePool {
    /// Held by live tensors (what has been handed out and not given back).
    pub in_use: u64,
    /// Reserved from the driver. The pool keeps pages until it is asked to release them, so
    /// after [`release_unused_device_memory`] and some work, this is that work's high-water
    /// mark in whole pages (an upper bound on its peak of live bytes). Operations Burn's fusion
    /// stream still holds have not allocated yet: read it after a read-back.
    pub reserved: u64,
}

/// The pool of `device` now; `None` when CubeCL cannot say.
pub fn device_pool(device: &CudaDevice) -> Option<DevicePool> {
    let usage = CudaRuntime::client(device).memory_usage().ok()?;
    Some(DevicePool {
        in_use: usage.bytes_in_use,
        reserved: usage.bytes_reserved,
    })
}

/// Gives the pool's unused pages of `device` back to the driver, so that the next reading of
/// [`DevicePool::reserved`] starts from the live tensors.
pub fn release_unused_device_memory(device: &CudaDevice) {
    CudaRuntime::client(device).memory_cleanup();
}

/// Gives the pool's free pages of `device` back once everything the calling thread queued on
/// Burn's fusion stream has reached CubeCL (a drain of that queue on the host; CubeCL frees
/// with `cuMemFreeAsync` on its stream, so the device is not waited for while its
/// asynchronous allocator serves it), and returns the reserved bytes just before: the pool's
/// high-water mark since the previous release, in pages. Called after each step of a prefill,
/// it keeps pages that a shape left behind (IMDC's growing memory passes through several of
/// CubeCL's page sizes) from staying reserved for the rest of the prefill.
pub fn release_after_queued_work(device: &CudaDevice) -> Option<u64> {
    after_queued_work(device, |client| {
        let reserved = client.memory_usage().ok().map(|usage| usage.bytes_reserved);
        client.memory_cleanup();
        reserved
    })
}

/// Whether the pool of `device` hands out exact-size buffers (CubeCL's persistent pool) to the
/// work the calling thread queues from now on, instead of slices of shared pages, in order with
/// the work it queued before. Exact-size buffers are given back only by an explicit release
/// ([`release_after_queued_work`]), and while the persistent pool holds a free buffer of a size
/// it serves that size whatever the mode: switch this on for a prefill only, with a release
/// after each step; switching it off releases once more. No effect where CubeCL's configuration
/// sets `persistent_memory` to `disabled` or `enforced`.
pub fn exact_size_allocations(device: &CudaDevice, enabled: bool) {
    let mode = if enabled {
        MemoryAllocationMode::Persistent
    } else {
        MemoryAllocationMode::Auto
    };
    after_queued_work(device, move |client| {
        // SAFETY: CubeCL's only caveats are leaks and threads: the call is queued, in order
        // after the calling thread's work, to CubeCL's server under that thread's stream, so
        // it changes how that stream's later allocations are placed and nothing else; the
        // exact-size buffers it leads to are released below and by the caller's releases.
        unsafe { client.allocation_mode(mode) };
        if !enabled {
            client.memory_cleanup();
        }
    });
}

/// Runs `task` with the CubeCL client of `device` once everything the calling thread queued on
/// Burn's fusion stream has reached CubeCL: on CubeCL's server, in order after that work and
/// under the calling thread's stream, so what `task` asks of the pool applies to that stream.
fn after_queued_work<R: Send + 'static>(
    device: &CudaDevice,
    task: impl FnOnce(ComputeClient<CudaRuntime>) -> R + Send + 'static,
) -> R {
    let owned = device.clone();
    GlobalFusionClient::<FusionCuda>::load(device).sync(move || task(CudaRuntime::client(&owned)))
}

/// Bytes a prefill on `device` can still allocate: what the driver has free, plus the pool's
/// reserved pages that no tensor holds; `None` when the driver or CubeCL cannot say.
///
/// The driver is asked on the calling thread, with the device's primary context (the one
/// CubeCL works in) made current here, so nothing waits on CubeCL's device thread: a task sent
/// to that thread for this never answered on an H200 (docs/decisions.md §23).
pub fn device_free_memory(device: &CudaDevice) -> Option<u64> {
    let pool = device_pool(device)?;
    let free = driver_free_memory(device.index)?;
    Some(free + pool.reserved.saturating_sub(pool.in_use))
}

/// The driver's free bytes on device `ordinal`, asked on this thread.
fn driver_free_memory(ordinal: usize) -> Option<u64> {
    use cudarc::driver::result as driver;
    // One retain per device for the process: the primary context lives as long as CubeCL's
    // anyway, and releasing it here could end it if CubeCL had not retained it yet.
    static RETAINED: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
    let mut retained = RETAINED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let context = match retained.iter().find(|(index, _)| *index == ordinal) {
        Some(&(_, context)) => context as cudarc::driver::sys::CUcontext,
        None => {
            driver::init().ok()?;
            let device = driver::device::get(i32::try_from(ordinal).ok()?).ok()?;
            // SAFETY: `device` was just returned by the driver; the primary context is retained
            // once and never released, so the pointer stays valid for the process.
            let context = unsafe { driver::primary_ctx::retain(device) }.ok()?;
            retained.push((ordinal, context as usize));
            context
        }
    };
    drop(retained);
    // SAFETY: the context is retained above for the life of the process; making it current
    // only affects this thread's later driver calls, which are all of this kind.
    unsafe { driver::ctx::set_current(context) }.ok()?;
    let (free, _total) = driver::mem_get_info().ok()?;
    Some(free as u64)
}
