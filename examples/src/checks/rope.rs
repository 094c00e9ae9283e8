//! RoPE: the crate's CUDA kernel reads each token's rows of the cos / sin table by position
//! and rotates a strided view in place of Burn's gathers, flip, copy and multiply-add; both
//! must rotate alike, for a range of positions (the compact memory's) and for per-head
//! positions (the original-position memory's).

use burn::prelude::*;
use mss::DefaultBackend as B;

use super::{host_f32, relative_error};

/// Checks RoPE (`mss::models::rope::RopeTable::rotate_range` and `rotate_at`, with
/// `--features cuda` through the crate's kernel, switched on for the check) against Burn's
/// operations (`apply_rope` on the table's rows) in bf16, on a strided input: 9 heads of 300
/// tokens at positions from 1000, and at random per-head positions.
pub fn check_rope(device: &burn::tensor::Device<B>) -> anyhow::Result<()> {
    use burn::tensor::{DType, Distribution};
    use mss::models::rope::{RopeScaling, RopeTable, apply_rope, inv_freq};
    let freq = inv_freq(10_000.0, 64, RopeScaling::None, 4095);
    let table = RopeTable::<B>::new(4096, &freq, DType::BF16, device);
    // A view with the strides of the projections' output: [1, tokens, heads, dim] swapped.
    let x = Tensor::<B, 4>::random([1, 300, 9, 64], Distribution::Normal(0.0, 1.0), device)
        .cast(DType::BF16)
        .swap_dims(1, 2);
    let positions =
        Tensor::<B, 2, Int>::random([9, 300], Distribution::Uniform(0.0, 4096.0), device);
    #[cfg(feature = "cuda")]
    let was_on = mss::models::rope_kernel_enabled();
    #[cfg(feature = "cuda")]
    mss::models::use_rope_kernel(true);
    let (cos, sin) = table.range(1000, 300);
    let range_error = relative_error(
        &host_f32(table.rotate_range(x.clone(), 1000))?,
        &host_f32(apply_rope(x.clone(), cos, sin))?,
    );
    let (cos, sin) = table.select(positions.clone());
    let at_error = relative_error(
        &host_f32(table.rotate_at(x.clone(), positions))?,
        &host_f32(apply_rope(x, cos, sin))?,
    );
    #[cfg(feature = "cuda")]
    mss::models::use_rope_kernel(was_on);
    anyhow::ensure!(
        range_error < 1e-2 && at_error < 1e-2,
        "RoPE differs from Burn's operations: {range_error} (a range of positions), {at_error} \
         (per-head positions)"
    );
    println!(
        "RoPE equals Burn's operations (bf16): a range of positions {range_error:.1e}, per-head positions {at_error:.1e}\n"
    );
    Ok(())
}
