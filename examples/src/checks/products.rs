//! The linear layers' cuBLAS products (CUDA builds): each product against Burn's own, and a
//! chain of them against host-synchronised products. cuBLAS runs outside Burn's stream
//! bookkeeping, so besides the layouts (a transposed view as loaded from Hugging Face must not
//! be read as contiguous) its ordering against Burn's kernels around it — events on the GPU or
//! host synchronisations — is checked: a product that runs before its input is written, or is
//! read before it is done, changes the result by the values' whole scale.
//!
//! Cheap beside the other checks (a few products per dtype), and the guard on every cuBLAS
//! figure: `prefill_timing` runs them even with `--no-checks`.

use burn::prelude::*;
use mss::DefaultBackend as B;

use super::max_abs;

/// Checks that a linear layer's cuBLAS product equals Burn's own on this device: f32 and bf16,
/// a contiguous weight and a transposed view (as loaded from Hugging Face's `[out, in]`), an
/// odd row count. Leaves cuBLAS switched as `cublas` says.
pub fn check_linear_products(device: &burn::tensor::Device<B>, cublas: bool) -> anyhow::Result<()> {
    use burn::tensor::{DType, Distribution};
    use mss::models::{Linear, use_cublas};
    if !mss::models::cublas_available() {
        return Ok(());
    }
    let (m, k, n) = (1001, 576, 1536);
    for dtype in [DType::F32, DType::BF16] {
        let x =
            Tensor::<B, 3>::random([1, m, k], Distribution::Normal(0.0, 1.0), device).cast(dtype);
        let random = |shape| Tensor::<B, 2>::random(shape, Distribution::Normal(0.0, 1.0), device);
        for (layout, weight) in [
            ("contiguous", random([k, n])),
            ("transposed", random([n, k]).transpose()),
        ] {
            let linear = Linear::new(weight.cast(dtype), None);
            use_cublas(true);
            let got = linear.forward(x.clone()).cast(DType::F32);
            use_cublas(false);
            let want = linear.forward(x.clone()).cast(DType::F32);
            let scale = max_abs(want.clone());
            let error = max_abs(got - want);
            // Burn's f32 product on CUDA rounds its inputs to TF32 (10-bit mantissas); cuBLAS
            // here computes in full f32. A wrong layout would differ by the whole scale.
            let bound = if dtype == DType::F32 { 5e-3 } else { 3e-2 };
            anyhow::ensure!(
                error <= bound * scale,
                "cuBLAS differs from Burn's product ({dtype:?}, {layout} weight): {error} of {scale}"
            );
            println!(
                "cuBLAS vs Burn's product, {dtype:?}, {layout} weight: max |diff| {error:.2e} of {scale:.1}"
            );
        }
    }
    use_cublas(cublas);
    println!();
    Ok(())
}

/// Checks that cuBLAS products stay ordered against Burn's kernels around them: a chain of
/// eight pairs of products (each pair one cuBLAS operation, as q/k/v and gate/up are), each
/// reading the previous pair through `tanh` and a product of the two, with intermediates
/// dropped as they go (so that the pool hands their memory to later kernels). Products ordered
/// by events must give exactly what host-synchronised ones give (same cuBLAS products, same
/// order), and so must products on CubeCL's own stream: a product that ran before its input
/// was written, or whose output a later kernel read too early, changes the result by its
/// scale. Burn's products are a looser second reference (its f32 product rounds inputs to
/// TF32, and the chain amplifies that). Leaves cuBLAS switched as `cublas` says, ordered on
/// CubeCL's stream.
pub fn check_product_chain(device: &burn::tensor::Device<B>, cublas: bool) -> anyhow::Result<()> {
    use burn::tensor::{DType, Distribution};
    use mss::models::{Linear, ProductOrdering, order_cublas, project, use_cublas};
    if !mss::models::cublas_available() {
        return Ok(());
    }
    let (m, k) = (1001, 576);
    for (dtype, burn_bound) in [(DType::F32, 5e-2), (DType::BF16, 1e-1)] {
        let x =
            Tensor::<B, 3>::random([1, m, k], Distribution::Normal(0.0, 1.0), device).cast(dtype);
        let linears: Vec<Linear<B>> = (0..8)
            .map(|i| {
                let weight = if i % 2 == 0 {
                    Tensor::<B, 2>::random([k, k], Distribution::Normal(0.0, 0.05), device)
                } else {
                    Tensor::<B, 2>::random([k, k], Distribution::Normal(0.0, 0.05), device)
                        .transpose()
                };
                Linear::new(weight.cast(dtype), None)
            })
            .collect();
        let chain = |cublas: bool, ordering: ProductOrdering| {
            use_cublas(cublas);
            order_cublas(ordering);
            let mut y = x.clone();
            for (i, linear) in linears.iter().enumerate() {
                let [a, b] = project(y, [linear, &linears[(i + 1) % linears.len()]]);
                y = burn::tensor::activation::tanh(a).mul(b.add_scalar(0.5));
            }
            y.cast(DType::F32)
        };
        let synchronised = chain(true, ProductOrdering::Synchronised);
        let burn = chain(false, ProductOrdering::Synchronised);
        let scale = max_abs(burn.clone());
        let max_diff = |a: &Tensor<B, 3>, b: &Tensor<B, 3>| max_abs(a.clone() - b.clone());
        for asked in [ProductOrdering::CubeclStream, ProductOrdering::Events] {
            let ordered = chain(true, asked);
            let (versus_sync, versus_burn) =
                (max_diff(&ordered, &synchronised), max_diff(&ordered, &burn));
            // Read once the differences have run the chain: the ordering is chosen when a
            // product runs, not when it is asked for.
            let ordering = mss::models::cublas_ordering().unwrap_or("-");
            anyhow::ensure!(
                versus_sync <= 1e-6 * scale && versus_burn <= burn_bound * scale,
                "a chain of cuBLAS products ({ordering}) differs ({dtype:?}): by {versus_sync} \
                 from host-synchronised products, by {versus_burn} from Burn's, of {scale}"
            );
            println!(
                "chain of 8 product pairs, {dtype:?}: cuBLAS ordered by {ordering} vs \
                 host-synchronised max |diff| {versus_sync:.1e}, vs Burn's {versus_burn:.1e}, of \
                 {scale:.2}"
            );
        }
    }
    use_cublas(cublas);
    order_cublas(ProductOrdering::CubeclStream);
    println!();
    Ok(())
}
