//! Top-k on the device: the pruners keep exactly the entries the host's `top_k` keeps (the
//! paper's selection, ties broken by position), so the device's choice — through the crate's
//! CUDA kernels and through Burn's operations — is compared with the host's exactly, on rows
//! built to stress the ordering (ties, NaN, infinities, signed zeros) and on lengths that take
//! each of the kernels' paths.

use burn::prelude::*;
use mss::DefaultBackend as B;
use mss::pruners::{rank_top_k, top_k, top_k_mask};

use super::host_values;

/// Checks, before timing anything, that top-k on this backend's device chooses exactly what the
/// host would: random score rows with many ties (and NaN, −∞, −0.0 beside 0.0), the candidate
/// counts of a short row, of a `C = M = 1024` step and of two long rows (the second past the
/// one-cube kernel's reach, so the two-kernel path runs too), as indices and as a mask; with
/// `--features cuda` both the crate's kernels and Burn's operations. Leaves the kernels
/// switched as `burn_top_k` says (`prefill_timing --burn-top-k`).
pub fn check_selection(device: &burn::tensor::Device<B>, burn_top_k: bool) -> anyhow::Result<()> {
    let heads = 3;
    let mut cases = 0;
    for kernels in [true, false] {
        #[cfg(feature = "cuda")]
        mss::pruners::use_top_k_kernel(kernels);
        #[cfg(not(feature = "cuda"))]
        if kernels {
            continue;
        }
        for (seed, len) in [
            (0, 2052),
            (1, 2052),
            (2, 2052),
            (3, 8195),
            (4, 37),
            (5, 17000),
        ] {
            let ids = crate::random::ids(heads * len, 64, seed);
            let values: Vec<f32> = ids
                .iter()
                .enumerate()
                .map(|(n, &i)| match (n % 97, n % 89, n % 83) {
                    (0, _, _) => f32::NAN,
                    (_, 0, _) => f32::NEG_INFINITY,
                    (_, _, 0) => -0.0,
                    _ => i as f32 / 8.0,
                })
                .collect();
            let contiguous =
                Tensor::<B, 2>::from_data(TensorData::new(values.clone(), [heads, len]), device);
            // The same scores as a transposed view (strides 1 and `heads`): the kernels read
            // their operand by its strides.
            let columns: Vec<f32> = (0..len)
                .flat_map(|i| (0..heads).map(move |h| (h, i)))
                .map(|(h, i)| values[h * len + i])
                .collect();
            let strided = Tensor::<B, 2>::from_data(TensorData::new(columns, [len, heads]), device)
                .transpose();
            for (scores, budget) in [contiguous, strided].into_iter().flat_map(|scores| {
                [1, 1024, 2047, len - 1, len + 5].map(move |budget| (scores.clone(), budget))
            }) {
                let want: Vec<Vec<usize>> = values
                    .chunks_exact(len)
                    .map(|row| top_k(row, budget))
                    .collect();
                let got: Vec<i64> = host_values(rank_top_k(scores.clone(), budget).into_data())?;
                let want_indices: Vec<i64> = want.iter().flatten().map(|&i| i as i64).collect();
                let mut want_mask = vec![0i64; heads * len];
                for (head, kept) in want.iter().enumerate() {
                    for &i in kept {
                        want_mask[head * len + i] = 1;
                    }
                }
                let mask: Vec<i64> =
                    host_values(top_k_mask(scores.clone(), budget).int().into_data())?;
                anyhow::ensure!(
                    got == want_indices && mask == want_mask,
                    "device top-k differs from the host's (kernels {kernels}, seed {seed}, \
                     {len} candidates, budget {budget})"
                );
                cases += 1;
            }
        }
    }
    #[cfg(feature = "cuda")]
    mss::pruners::use_top_k_kernel(!burn_top_k);
    #[cfg(not(feature = "cuda"))]
    let _ = burn_top_k;
    println!(
        "device top-k equals the host's in {cases} cases (3 heads, 37, 2052, 8195 or 17000 \
         candidates, many ties, NaN and infinities; indices and masks)\n"
    );
    Ok(())
}
