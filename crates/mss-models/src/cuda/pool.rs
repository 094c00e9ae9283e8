//! The CUDA backend's device memory pool, as CubeCL accounts for it.

use cubecl::Runtime;
use cubecl::cuda::{CudaDevice, CudaRuntime};

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
