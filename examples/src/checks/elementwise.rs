//! The layer's element-wise regions as kernels (CUDA builds): the residual add with the RMSNorm
//! after it, and the MLP's gating, each one kernel in place of Burn's fused operations between
//! two products. Both must compute what Burn's operations compute: the sum to the bit (one
//! rounding of the same add), the norm and the gating within bf16 rounding (the mean square's
//! order of summation, the exponential's implementation).

use burn::prelude::*;
use mss::DefaultBackend as B;

use super::{host_f32, relative_error};

/// Checks `RmsNorm::forward_after_add`, `RmsNorm::forward` and `Mlp::gating` with the crate's
/// kernels (`use_cublas(true)`) against Burn's operations (`use_cublas(false)`) in bf16, for
/// 300 tokens of the 7B shape (hidden 4096, intermediate 11008) and of SmolLM2's (576, 1536).
/// Leaves the crate's kernels switched on.
pub fn check_elementwise_kernels(device: &burn::tensor::Device<B>) -> anyhow::Result<()> {
    use burn::tensor::{DType, Distribution};
    use mss::models::{Mlp, RmsNorm, use_cublas};
    for (hidden, intermediate) in [(4096, 11008), (576, 1536)] {
        let random = |shape: [usize; 3], std: f64| {
            Tensor::<B, 3>::random(shape, Distribution::Normal(0.0, std), device).cast(DType::BF16)
        };
        let (x, delta) = (random([1, 300, hidden], 1.0), random([1, 300, hidden], 0.5));
        let (gate, up) = (
            random([1, 300, intermediate], 3.0),
            random([1, 300, intermediate], 1.0),
        );
        let weight = Tensor::<B, 1>::random([hidden], Distribution::Uniform(0.5, 1.5), device)
            .cast(DType::BF16);
        let norm = RmsNorm::new(weight, 1e-5);
        let run = |kernels: bool| -> anyhow::Result<[Vec<f32>; 4]> {
            use_cublas(kernels);
            let (sum, normed) = norm.forward_after_add(x.clone(), delta.clone());
            let alone = norm.forward(x.clone());
            let gated = Mlp::gating(gate.clone(), up.clone());
            Ok([
                host_f32(sum)?,
                host_f32(normed)?,
                host_f32(alone)?,
                host_f32(gated)?,
            ])
        };
        let want = run(false)?;
        let got = run(true)?;
        let [sum, normed, alone, gated] = [0, 1, 2, 3].map(|i| relative_error(&got[i], &want[i]));
        anyhow::ensure!(
            sum == 0.0 && normed < 1e-2 && alone < 1e-2 && gated < 1e-2,
            "the element-wise kernels differ from Burn's operations at hidden {hidden}: sum \
             {sum}, norm after the add {normed}, norm alone {alone}, gating {gated}"
        );
        println!(
            "add + RMSNorm and gating kernels vs Burn's operations (bf16, hidden {hidden}): sum \
             {sum:.1e}, norm after the add {normed:.1e}, norm alone {alone:.1e}, gating {gated:.1e}"
        );
    }
    println!();
    Ok(())
}
