//! Attention with the pruners' statistics (the last query's probabilities, each key's column
//! sum, the visible-query counts): what `snapkv`-like pruners score by, so a wrong figure
//! changes which entries are kept without any error. The blocked attention of `mss-core`
//! (heads broadcast per KV head) is the reference; it is checked first against the fused
//! kernel's output, then the model's own paths (one more cuBLAS product per block, or the
//! flash kernels' second pass from their log-sum-exp) against it, over the head layouts and
//! chunk lengths the models use.

use burn::prelude::*;
use mss::DefaultBackend as B;
use std::time::Instant;

use super::{host_f32, host_values, relative_error};

/// Checks that the attention which computes statistics (blocked, heads broadcast per KV head)
/// gives the fused kernel's output on this backend, in f32: 9 query heads over 3 KV heads,
/// 1024 queries over 2052 keys, in one block and in blocks of 256.
pub fn check_statistics_attention(device: &burn::tensor::Device<B>) -> anyhow::Result<()> {
    use burn::tensor::Distribution;
    use mss::core::AttentionNeeds;
    use mss::core::attention::attend;
    let random =
        |shape: [usize; 4]| Tensor::<B, 4>::random(shape, Distribution::Normal(0.0, 1.0), device);
    let (q, k, v) = (
        random([1, 9, 1024, 64]),
        random([1, 3, 2052, 64]),
        random([1, 3, 2052, 64]),
    );
    let needs = AttentionNeeds {
        last_query: true,
        column_sums: true,
        second_moments: true,
    };
    let (fused, _) = attend(
        q.clone(),
        k.clone(),
        v.clone(),
        None,
        AttentionNeeds::NONE,
        1024,
    );
    let fused: Vec<f32> = host_values(fused.into_data())?;
    for block in [1024, 256] {
        let (blocked, stats) = attend(q.clone(), k.clone(), v.clone(), None, needs, block);
        let blocked: Vec<f32> = host_values(blocked.into_data())?;
        let error = relative_error(&blocked, &fused);
        anyhow::ensure!(
            error < 1e-2,
            "blocked attention differs from the fused kernel: {error}"
        );
        // Every query's probabilities sum to one: the column sums of a KV head add up to
        // 3 heads × 1024 queries.
        let total: f32 = stats.column_sums.expect("asked").sum().into_scalar().elem();
        anyhow::ensure!(
            (total / (3.0 * 3.0 * 1024.0) - 1.0).abs() < 1e-3,
            "column sums add up to {total}"
        );
    }
    println!(
        "statistics attention equals the fused kernel on this device (blocks of 1024 and 256)\n"
    );
    Ok(())
}

/// Checks the statistics of the model's attention (`mss::models::attend`: on CUDA, one more
/// cuBLAS product per block from the softmax's probabilities) against `mss_core`'s blocked
/// products, in f32 and bf16, 9 query heads over 3 KV heads: the output, the column sums, the
/// last query's row and the visible-query counts, for a few queries after memory, a 1024-query
/// chunk after 1024 entries, a 4608-query chunk (several query blocks) after 1024, heads of
/// 128 off the flash kernels' 64-row blocks and one query head per KV head with and without
/// memory; bf16 through the flash kernels too, at 16 and 32 keys a plane of the statistics
/// kernel, and through cuDNN's attention before that kernel where cuDNN is found. Every case
/// runs; the failures are reported together. Leaves the flash kernels switched as
/// `flash_timed` says (`prefill_timing` without `--no-flash`).
pub fn check_model_statistics(
    device: &burn::tensor::Device<B>,
    flash_timed: bool,
) -> anyhow::Result<()> {
    use burn::tensor::{DType, Distribution};
    use mss::core::AttentionNeeds;
    let needs = AttentionNeeds {
        last_query: true,
        column_sums: true,
        second_moments: false,
    };
    let started = Instant::now();
    // Every case runs; the failures are reported together at the end.
    let mut failures = Vec::new();
    // Burn's f32 products on this GPU round about as TF32 does (`check_linear_products`: ~1e-3
    // of the largest value), so the f32 reference is itself that far off.
    // bf16 three times: through the products around a softmax, then through the flash kernels
    // with 16 and 32 keys a plane of the statistics kernel.
    #[cfg(feature = "cuda")]
    let statistics_rows = mss::models::statistics_rows_per_plane();
    // bf16 a fourth time with cuDNN's attention before the flash statistics kernel (its
    // log-sum-exp feeding the kernel), where cuDNN is found.
    #[cfg(feature = "cuda")]
    let cudnn_asked = mss::models::cudnn_attention_enabled();
    #[cfg(feature = "cuda")]
    let cudnn_found = mss::models::cudnn_attention_supported();
    #[cfg(not(feature = "cuda"))]
    let cudnn_found = false;
    for (dtype, tolerance, flash, plane_keys, cudnn) in [
        (DType::F32, 1e-2, false, 16, false),
        (DType::BF16, 3e-2, false, 16, false),
        (DType::BF16, 3e-2, true, 16, false),
        (DType::BF16, 3e-2, true, 32, false),
        (DType::BF16, 3e-2, true, 16, true),
    ]
    .into_iter()
    .filter(|&(_, _, flash, _, cudnn)| {
        (!flash || cfg!(feature = "cuda")) && (!cudnn || cudnn_found)
    }) {
        #[cfg(feature = "cuda")]
        {
            mss::models::use_flash_attention(flash);
            mss::models::set_statistics_rows_per_plane(plane_keys);
            mss::models::use_cudnn_attention(cudnn);
        }
        #[cfg(feature = "cuda")]
        let cudnn_runs = mss::models::cudnn_attention_runs();
        let random = |shape: [usize; 4]| {
            Tensor::<B, 4>::random(shape, Distribution::Normal(0.0, 1.0), device).cast(dtype)
        };
        let mut errors = Vec::new();
        for (chunk, memory, head_dim, heads, kv_heads) in [
            (7, 300, 64, 3, 3),
            (7, 300, 64, 9, 9),
            (7, 300, 64, 9, 3),
            (64, 300, 64, 9, 3),
            (1024, 1024, 64, 9, 3),
            (4608, 1024, 64, 9, 3),
            (100, 37, 128, 9, 3),
            // The 7B shape's heads (one query head per KV head, 128 wide), without memory and
            // after a memory that is no whole number of 64-key blocks.
            (1024, 0, 128, 4, 4),
            (200, 1000, 128, 4, 4),
        ] {
            let (q, k, v) = (
                random([1, heads, chunk, head_dim]),
                random([1, kv_heads, memory + chunk, head_dim]),
                random([1, kv_heads, memory + chunk, head_dim]),
            );
            let (out, stats) =
                mss::models::attend(q.clone(), k.clone(), v.clone(), None, needs, 1024);
            let (reference, expected) = mss::core::attention::attend(q, k, v, None, needs, 1024);
            let flat = |t: Tensor<B, 4>| {
                let [a, b, c, d] = t.dims();
                t.reshape([a * b * c, d])
            };
            let pairs = [
                ("output", flat(out), flat(reference)),
                (
                    "column sums",
                    stats.column_sums.expect("asked"),
                    expected.column_sums.expect("asked"),
                ),
                (
                    "last query",
                    stats.last_query.expect("asked"),
                    expected.last_query.expect("asked"),
                ),
                (
                    "visible queries",
                    stats.visible_queries.expect("asked"),
                    expected.visible_queries.expect("asked"),
                ),
            ];
            let mut line = Vec::new();
            for (what, actual, expected) in pairs {
                let [rows, width] = actual.dims();
                let (actual, expected) = (host_f32(actual)?, host_f32(expected)?);
                let error = relative_error(&actual, &expected);
                if error >= tolerance {
                    failures.push(describe_failure(
                        &actual,
                        &expected,
                        [rows, width],
                        format!(
                            "{what} of a {chunk}-query chunk after {memory} entries ({heads} heads \
                             over {kv_heads}, head {head_dim}, {dtype:?}, flash kernels: {flash}, \
                             cuDNN: {cudnn}) \
                             differ from the blocked products: {error}"
                        ),
                    ));
                }
                line.push(format!("{what} {error:.1e}"));
            }
            errors.push(format!(
                "{chunk} after {memory} ({heads}/{kv_heads} heads of {head_dim}): {}",
                line.join(", ")
            ));
        }
        // cuDNN must have run the cases long enough for it, else the flash kernel stood in.
        #[cfg(feature = "cuda")]
        if cudnn && mss::models::cudnn_attention_runs() == cudnn_runs {
            failures.push(format!(
                "cuDNN {:?} was found but ran none of the statistics cases",
                mss::models::cudnn_version()
            ));
        }
        let path = match (flash, cudnn) {
            (true, true) => format!("cuDNN's attention, statistics {plane_keys} keys a plane"),
            (true, false) => format!("flash kernels, statistics {plane_keys} keys a plane"),
            (false, _) => "products".to_owned(),
        };
        println!(
            "model attention with statistics vs blocked ({dtype:?}, {path}): {} [{:.0} s]",
            errors.join("; "),
            started.elapsed().as_secs_f64()
        );
    }
    #[cfg(feature = "cuda")]
    {
        mss::models::use_flash_attention(flash_timed);
        mss::models::set_statistics_rows_per_plane(statistics_rows);
        mss::models::use_cudnn_attention(cudnn_asked);
    }
    #[cfg(not(feature = "cuda"))]
    let _ = flash_timed;
    println!();
    anyhow::ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// One failed comparison of [`check_model_statistics`] in words: `what` differed, then where
/// it goes wrong — each row's total, and the worst entry.
///
/// # Shapes
///
/// `actual` and `expected`: `[rows, width]`, row-major, as read back from the device.
fn describe_failure(
    actual: &[f32],
    expected: &[f32],
    [rows, width]: [usize; 2],
    what: String,
) -> String {
    let totals =
        |x: &[f32]| -> Vec<f32> { x.chunks(width.max(1)).map(|r| r.iter().sum()).collect() };
    let worst = (0..actual.len())
        .max_by(|&a, &b| {
            let d = |i: usize| (actual[i] - expected[i]).abs();
            d(a).total_cmp(&d(b))
        })
        .unwrap_or(0);
    format!(
        "{what}; {rows} rows of {width}, totals {:?} (expected {:?}); worst at row {}, column \
         {}: {} (expected {})",
        totals(actual),
        totals(expected),
        worst / width.max(1),
        worst % width.max(1),
        actual.get(worst).copied().unwrap_or(0.0),
        expected.get(worst).copied().unwrap_or(0.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_reads_as_it_did_before_the_move() {
        let (actual, expected) = ([1.0f32, 2.0, 3.0, 9.0], [1.0f32, 2.0, 3.0, 4.0]);
        let (what, chunk, memory, heads, kv_heads, head_dim, error) =
            ("column sums", 7, 300, 9, 3, 64, 0.5f32);
        let (dtype, flash) = (burn::tensor::DType::BF16, true);
        let (rows, width) = (2, 2);
        let described = describe_failure(
            &actual,
            &expected,
            [rows, width],
            format!(
                "{what} of a {chunk}-query chunk after {memory} entries ({heads} heads \
                 over {kv_heads}, head {head_dim}, {dtype:?}, flash kernels: {flash}) \
                 differ from the blocked products: {error}"
            ),
        );
        // The message as `prefill_timing` wrote it in one piece.
        let before = format!(
            "{what} of a {chunk}-query chunk after {memory} entries ({heads} heads \
             over {kv_heads}, head {head_dim}, {dtype:?}, flash kernels: {flash}) \
             differ from the blocked products: {error}; {rows} rows of {width}, \
             totals {:?} (expected {:?}); worst at row {}, column {}: {} \
             (expected {})",
            vec![3.0f32, 12.0],
            vec![3.0f32, 7.0],
            1,
            1,
            9.0f32,
            4.0f32,
        );
        assert_eq!(described, before);
    }
}
