//! Peak memory on the GPU: CubeCL's memory pool statistics. The pool keeps the pages it
//! reserved until it is cleaned, so after cleaning before a run, the bytes it reserves after the
//! run are the run's high-water mark (in pool pages, so slightly above the bytes in use).

/// Releases the pool's unused pages; returns the bytes still reserved, if known.
#[cfg(feature = "cuda")]
pub fn clean() -> Option<u64> {
    use cubecl::Runtime;
    let client = cubecl::cuda::CudaRuntime::client(&Default::default());
    client.memory_cleanup();
    reserved()
}

/// Bytes the pool reserves on the device now, if known.
#[cfg(feature = "cuda")]
pub fn reserved() -> Option<u64> {
    use cubecl::Runtime;
    let client = cubecl::cuda::CudaRuntime::client(&Default::default());
    client.memory_usage().ok().map(|u| u.bytes_reserved)
}

/// No GPU in this build.
#[cfg(not(feature = "cuda"))]
pub fn clean() -> Option<u64> {
    None
}

/// No GPU in this build.
#[cfg(not(feature = "cuda"))]
pub fn reserved() -> Option<u64> {
    None
}
