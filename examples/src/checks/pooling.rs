//! `snapkv`'s score pooling: one pooling operation of the backend replaced a sum of shifted
//! views, and the top-k after it must see exactly the scores it saw before (a last-bit
//! difference can flip a tied selection), so the two are compared bit for bit.

use burn::prelude::*;
use mss::DefaultBackend as B;

use super::{differing, host_values};

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
    let differ = differing(&pooled, &shifted);
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

/// SnapKV's scores through the score kernel (`mss::pruners::use_score_kernel`) against Burn's
/// cut, pooling and division, on random column sums and the visible-query counts of a chunk
/// after a memory (memory keys seen by every query, chunk key `t` by `chunk - t`): the same
/// bits. The `kv` check compares the memories kept, which shows a score's last bit only where
/// it flips a choice; this compares the scores themselves. Leaves the kernel switched on.
#[cfg(feature = "cuda")]
pub fn check_score_kernel(device: &burn::tensor::Device<B>) -> anyhow::Result<()> {
    use burn::tensor::{Distribution, Int};
    use mss::core::{AttentionStats, LayerKv, PruneInput, Scorer};
    use mss::pruners::PooledAttention;

    let (heads, d) = (4, 8);
    let mut line = Vec::new();
    // (memory, chunk, start): no memory; sinks then memory; the 7B shape's FM step; a start
    // inside the memory (FI: the old memory kept whole).
    for (memory, chunk, start) in [(0, 256, 0), (256, 256, 4), (1028, 1024, 4), (512, 300, 260)] {
        let entries = memory + chunk;
        let visible: Vec<f32> = (0..heads * entries)
            .map(|i| i % entries)
            .map(|e| if e < memory { chunk } else { chunk - (e - memory) } as f32)
            .collect();
        let visible = Tensor::<B, 2>::from_data(TensorData::new(visible, [heads, entries]), device);
        let sums =
            Tensor::<B, 2>::random([heads, entries], Distribution::Uniform(0.0, 50.0), device);
        let keys = Tensor::<B, 4>::zeros([1, heads, entries, d], device);
        let positions = Tensor::<B, 1, Int>::arange(0..entries as i64, device)
            .unsqueeze::<2>()
            .repeat_dim(0, heads);
        let kv = LayerKv::new(keys.clone(), keys, positions)?;
        let stats = AttentionStats {
            column_sums: Some(sums),
            visible_queries: Some(visible),
            ..AttentionStats::none()
        };
        let from_memory = memory.saturating_sub(start);
        let input = PruneInput::new(0, 1, &kv, &stats, start, from_memory, chunk / 2)
            .ok_or_else(|| anyhow::anyhow!("start {start} past {entries} entries"))?;
        let mut scorer = PooledAttention::new(5).expect("an odd width");
        let mut score = |kernel: bool| {
            mss::pruners::use_score_kernel(kernel);
            host_values::<f32>(Scorer::<B>::score(&mut scorer, &input).into_data())
        };
        let before = mss::pruners::score_kernel_launches();
        let with = score(true);
        let ran = mss::pruners::score_kernel_launches() - before;
        let without = score(false);
        mss::pruners::use_score_kernel(true);
        let launched = mss::pruners::score_kernel_launches() - before;
        anyhow::ensure!(
            ran == 1 && launched == 1,
            "{entries} entries from {start}: the score kernel ran {ran} times switched on, \
             {} switched off (1 and 0 expected)",
            launched - ran
        );
        let (with, without) = (with?, without?);
        let differ = differing(&with, &without);
        anyhow::ensure!(
            differ == 0,
            "{entries} entries from {start}: the score kernel's {} scores differ from Burn's \
             {} in {differ}",
            with.len(),
            without.len()
        );
        line.push(format!(
            "{} scores of {entries} entries from {start}",
            with.len()
        ));
    }
    println!(
        "SnapKV's score kernel vs Burn's cut, pooling and division: the same bits ({})",
        line.join(", ")
    );
    Ok(())
}
