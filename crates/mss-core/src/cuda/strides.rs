//! A kernel argument for the strides of a `[heads, entries, ·]` operand read as an array.
//!
//! CubeCL uploads every tensor argument's shape and strides to the GPU before its kernel's
//! launch (a host-to-device copy, and a gap on the stream: docs/results/gpu-prefill.md), while
//! a kernel's scalars travel with the launch itself. Kernels that read a few strided operands
//! take them as arrays with these strides instead of as tensors.

// CubeCL's derive and `#[cube]` generate the launch and expansion types, undocumented.
#![allow(missing_docs)]

use cubecl::prelude::*;

/// The strides along heads and along entries of a `[heads, entries, ·]` operand, in the units
/// its kernel indexes by (vectors for rows read as vectors, elements otherwise).
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub struct Strides {
    head: usize,
    entry: usize,
}

#[cube]
impl Strides {
    /// Where entry `entry` of head `head` starts.
    pub fn at(&self, head: usize, entry: usize) -> usize {
        head * self.head + entry * self.entry
    }
}

impl<R: Runtime> StridesLaunch<R> {
    /// The strides of axes `first` (heads) and `first + 1` (entries) of `strides`, divided by
    /// `unit` (whole units along every axis that is ever stepped).
    pub fn of(strides: &[usize], first: usize, unit: usize) -> Self {
        Self::new(strides[first] / unit, strides[first + 1] / unit)
    }
}
