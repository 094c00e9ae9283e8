//! A device allocation that only grows: a library's workspace (cuDNN's, cuBLAS's).
#![allow(unsafe_code)]

use cudarc::driver::result as driver;
use cudarc::driver::sys::CUdeviceptr;

/// One allocation on the current context, replaced by a larger one when asked for more; never
/// freed otherwise (a lane keeps it for its life, as the thread's handles live as long).
pub(super) struct Scratch {
    /// Whose workspace it is, for errors.
    owner: &'static str,
    /// The allocation's address and bytes, once made.
    held: Option<(CUdeviceptr, usize)>,
}

impl Scratch {
    pub const fn new(owner: &'static str) -> Self {
        Self { owner, held: None }
    }

    /// An allocation of at least `bytes` (at least one), its address and size: the one held,
    /// or a new one after the smaller one held is freed once the GPU is done with it. Device
    /// allocations are 256-byte aligned, as cuBLAS and cuDNN want.
    pub fn at_least(&mut self, bytes: usize) -> Result<(CUdeviceptr, usize), String> {
        let bytes = bytes.max(1);
        match self.held {
            Some(held) if held.1 >= bytes => return Ok(held),
            Some((old, _)) => {
                driver::ctx::synchronize().map_err(|e| format!("synchronising: {e}"))?;
                // SAFETY: the old allocation is ours and no queued work reads it any more.
                unsafe { driver::free_sync(old) }
                    .map_err(|e| format!("freeing {}'s workspace: {e}", self.owner))?;
                self.held = None;
            }
            None => {}
        }
        // SAFETY: allocates on the current context.
        let address = unsafe { driver::malloc_sync(bytes) }.map_err(|e| {
            format!(
                "allocating {}'s workspace of {bytes} bytes: {e}",
                self.owner
            )
        })?;
        self.held = Some((address, bytes));
        Ok((address, bytes))
    }
}
