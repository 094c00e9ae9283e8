//! The device checks: each of the project's own kernels (and each switch between a kernel and
//! Burn's operations) compared on the build's backend against the path it replaces, before
//! anything is timed. A kernel that is fast but wrong would make every timing after it
//! meaningless, and a fresh GPU, driver or CubeCL version can break one that passed elsewhere;
//! so `prefill_timing` runs them before its timings (`--checks`) and `device_check` runs them
//! all, one PASS / FAIL line each, for the record in docs/results/.
//!
//! One file per family, each comparing against the existing path:
//!
//! - [`pooling`]: `snapkv`'s score pooling against the shifted sums it replaced (to the bit).
//! - [`selection`]: top-k on the device (the crate's kernels and Burn's operations) against
//!   the host's, as indices and as masks (exactly).
//! - `products` (CUDA builds): the linear layers' cuBLAS products against Burn's, and their
//!   ordering against Burn's kernels around them.
//! - [`rope`]: the RoPE kernel against Burn's operations.
//! - `elementwise` (CUDA builds): the residual add with its RMSNorm and the MLP's gating, each
//!   one kernel, against Burn's operations.
//! - [`attention`]: the fused and flash attentions against blocked products, up to chunks
//!   longer than 4096 queries.
//! - [`statistics`]: the attention that computes the pruners' statistics (products and flash
//!   kernels) against blocked products.
//! - `model` (CUDA builds): the whole model through the crate's CUDA kernels against Burn's
//!   operations.
//! - `kv` (CUDA builds): the KV cache's join (with the keys' RoPE) and gather kernels against
//!   Burn's operations, through whole prefills (to the bit).
//!
//! [`suite`] runs them all in order with a verdict each. The checks print their own figures
//! (their lines are compared across runs, so their wording stays put) and fail with an error
//! that says what differed and by how much. They run on [`mss::DefaultBackend`]; the helpers
//! below are what they share.

pub mod attention;
#[cfg(feature = "cuda")]
pub mod elementwise;
#[cfg(feature = "cuda")]
pub mod kv;
#[cfg(feature = "cuda")]
pub mod model;
pub mod pooling;
#[cfg(feature = "cuda")]
pub mod products;
pub mod rope;
pub mod selection;
pub mod statistics;
pub mod suite;

use burn::prelude::*;
use burn::tensor::DType;
use mss::DefaultBackend as B;

pub use attention::check_long_chunks;
#[cfg(feature = "cuda")]
pub use elementwise::check_elementwise_kernels;
#[cfg(feature = "cuda")]
pub use kv::check_kv_kernels;
#[cfg(feature = "cuda")]
pub use model::check_model_kernels;
pub use pooling::check_pooling;
#[cfg(feature = "cuda")]
pub use pooling::check_score_kernel;
#[cfg(feature = "cuda")]
pub use products::{check_linear_products, check_product_chain};
pub use rope::check_rope;
pub use selection::check_selection;
pub use statistics::{check_model_statistics, check_statistics_attention};

/// A group of device checks that `prefill_timing --checks` selects (its values are that
/// command line's; `suite::Family` is `device_check`'s finer split).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Check {
    /// The device top-k against the host's.
    TopK,
    /// The fused and flash attentions against blocked products.
    Attention,
    /// The RoPE kernel against Burn's operations.
    Rope,
    /// The attention statistics (products and flash kernels) against blocked products.
    Statistics,
}

impl Check {
    /// Every group, in the order `prefill_timing` runs them.
    pub const ALL: [Check; 4] = [
        Check::TopK,
        Check::Attention,
        Check::Rope,
        Check::Statistics,
    ];
}

/// A tensor's values read back as `E`.
pub fn host_values<E: burn::tensor::Element>(data: TensorData) -> anyhow::Result<Vec<E>> {
    data.convert::<E>()
        .to_vec()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
}

/// A tensor of any float dtype read back as f32 (cast on the device first: bf16 has no host
/// conversion of its own here).
pub fn host_f32<const D: usize>(tensor: Tensor<B, D>) -> anyhow::Result<Vec<f32>> {
    host_values(tensor.cast(DType::F32).into_data())
}

/// How many values differ in their bits (all of them when the lengths differ): the measure
/// of the checks whose two paths must give the same bits.
pub fn differing(a: &[f32], b: &[f32]) -> usize {
    if a.len() != b.len() {
        return a.len().max(b.len());
    }
    a.iter()
        .zip(b)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count()
}

/// The largest absolute value of a tensor (of a difference, the largest absolute error), read
/// back as one scalar.
pub fn max_abs<const D: usize>(tensor: Tensor<B, D>) -> f32 {
    tensor.abs().max().into_scalar().elem()
}

/// The largest absolute difference between `actual` and `expected`, relative to the largest
/// absolute value of `expected`: one bound for values of any scale. The same measure as
/// `mss-testkit`'s, which the workspace's tests use (a dev-dependency there; the layering
/// rules keep this crate's library off it, and a unit test keeps the two equal).
///
/// # Panics
///
/// If the slices differ in length.
pub fn relative_error(actual: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(
        actual.len(),
        expected.len(),
        "compared slices differ in length"
    );
    let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = actual
        .iter()
        .zip(expected)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relative_error_is_the_test_kits() {
        let cases: [(&[f32], &[f32]); 4] = [
            (&[1.0, 2.0], &[1.0, 2.0]),
            (&[1.0, 2.5], &[1.0, 2.0]),
            (&[-3.0, 0.5, 7.0], &[-2.0, 0.25, 8.0]),
            (&[1.0], &[0.0]),
        ];
        for (actual, expected) in cases {
            let (ours, kits) = (
                relative_error(actual, expected),
                mss_testkit::relative_error(actual, expected),
            );
            assert!(ours.to_bits() == kits.to_bits(), "{ours} vs {kits}");
        }
    }

    #[test]
    fn differing_counts_bit_differences_and_length_mismatches() {
        assert_eq!(differing(&[1.0, 2.0], &[1.0, 2.0]), 0);
        assert_eq!(differing(&[0.0, 2.0], &[-0.0, 2.5]), 2);
        assert_eq!(differing(&[1.0], &[1.0, 2.0]), 2);
    }

    #[test]
    fn max_abs_and_host_values_read_what_was_written() {
        let device = Default::default();
        let tensor = Tensor::<B, 2>::from_data(
            TensorData::new(vec![1.5f32, -4.0, 2.0, 0.0], [2, 2]),
            &device,
        );
        assert_eq!(max_abs(tensor.clone()), 4.0);
        assert_eq!(host_f32(tensor).unwrap(), vec![1.5, -4.0, 2.0, 0.0]);
    }
}
