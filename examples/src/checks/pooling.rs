//! `snapkv`'s score pooling: one pooling operation of the backend replaced a sum of shifted
//! views, and the top-k after it must see exactly the scores it saw before (a last-bit
//! difference can flip a tied selection), so the two are compared bit for bit.

use burn::prelude::*;
use mss::DefaultBackend as B;

use super::host_values;

/// `snapkv`'s pooling (one pooling operation of the backend) against zero-padded shifted
/// views summed left to right, the way it was computed before: the top-k after it must see
/// the same scores, so they must agree to the bit.
pub fn check_pooling(device: &burn::tensor::Device<B>) -> anyhow::Result<()> {
    use burn::tensor::Distribution;
    let [heads, len, width] = [8, 2052, 5];
    let sums = Tensor::<B, 2>::random([heads, len], Distribution::Uniform(0.0, 300.0), device);
    let pooled: Vec<f32> = host_values(mss::pruners::avg_pool(sums.clone(), width).into_data())?;
    let zeros = Tensor::<B, 2>::zeros([heads, width / 2], device);
    let padded = Tensor::cat(vec![zeros.clone(), sums, zeros], 1);
    let shifted = (0..width)
        .map(|k| padded.clone().narrow(1, k, len))
        .reduce(|a, b| a.add(b))
        .expect("a width of 5")
        .div_scalar(width as f32);
    let shifted: Vec<f32> = host_values(shifted.into_data())?;
    let differ = pooled
        .iter()
        .zip(&shifted)
        .filter(|(p, s)| p.to_bits() != s.to_bits())
        .count();
    let largest = pooled
        .iter()
        .zip(&shifted)
        .map(|(p, s)| (p - s).abs())
        .fold(0.0f32, f32::max);
    println!(
        "snapkv pooling vs shifted sums: {differ} of {} scores differ, by at most {largest:.1e}",
        pooled.len()
    );
    anyhow::ensure!(
        differ == 0,
        "snapkv's pooling differs from the shifted sums in {differ} scores (at most {largest:.1e})"
    );
    Ok(())
}
