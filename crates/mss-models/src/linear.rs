//! A bias-optional linear projection stored as `[in, out]`.

use burn::prelude::*;

/// `y = x W + b`.
///
/// # Shapes
/// - `weight`: `[d_in, d_out]`
/// - `bias`: `[d_out]`
#[derive(Debug, Clone)]
pub struct Linear<B: Backend> {
    /// Weight, already transposed from Hugging Face's `[out, in]`.
    pub weight: Tensor<B, 2>,
    /// Optional bias.
    pub bias: Option<Tensor<B, 1>>,
}

impl<B: Backend> Linear<B> {
    /// Applies the projection.
    ///
    /// # Shapes
    /// - `x`: `[1, len, d_in]`, returns `[1, len, d_out]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [y] = project(x, [self]);
        y
    }

    fn add_bias(&self, y: Tensor<B, 3>) -> Tensor<B, 3> {
        match &self.bias {
            Some(b) => y.add(b.clone().unsqueeze::<3>()),
            None => y,
        }
    }
}

/// Applies several projections to one input. On the CUDA backend with cuBLAS the products run
/// as one operation (q/k/v, gate/up: one hand-over to cuBLAS instead of three or two);
/// elsewhere one after another.
///
/// # Shapes
/// - `x`: `[1, len, d_in]`, returns `[1, len, d_out_i]` for each projection
pub fn project<B: Backend, const N: usize>(
    x: Tensor<B, 3>,
    linears: [&Linear<B>; N],
) -> [Tensor<B, 3>; N] {
    #[cfg(feature = "cuda")]
    if let Some(ys) = crate::cuda::products(&x, &linears.map(|l| &l.weight)) {
        let mut ys = ys.into_iter().zip(linears).map(|(y, l)| l.add_bias(y));
        return std::array::from_fn(|_| ys.next().expect("one output per projection"));
    }
    linears.map(|l| l.add_bias(x.clone().matmul(l.weight.clone().unsqueeze::<3>())))
}
