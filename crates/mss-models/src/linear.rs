//! A bias-optional linear projection stored as `[in, out]`.

use burn::module::{Param, ParamId};
use burn::prelude::*;

/// `y = x W + b`.
///
/// # Shapes
/// - `weight`: `[d_in, d_out]`
/// - `bias`: `[d_out]`
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    /// Weight, already transposed from Hugging Face's `[out, in]`: a transposed copy, or a
    /// transposed view of that storage where cuBLAS multiplies faster so (on Burn's CUDA
    /// backend, the projections [`keep_weights_as_stored`](crate::keep_weights_as_stored)
    /// names; docs/decisions.md §32).
    pub weight: Param<Tensor<B, 2>>,
    /// Optional bias.
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Linear<B> {
    /// A projection of `weight` `[d_in, d_out]` and an optional `bias` `[d_out]`.
    pub fn new(weight: Tensor<B, 2>, bias: Option<Tensor<B, 1>>) -> Self {
        Self {
            weight: Param::initialized(ParamId::new(), weight),
            bias: bias.map(|b| Param::initialized(ParamId::new(), b)),
        }
    }

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
            Some(b) => y.add(b.val().unsqueeze::<3>()),
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
    if let Some(ys) = crate::cuda::products(&x, &linears.map(|l| l.weight.val()).each_ref()) {
        let mut ys = ys.into_iter().zip(linears).map(|(y, l)| l.add_bias(y));
        return std::array::from_fn(|_| ys.next().expect("one output per projection"));
    }
    linears.map(|l| l.add_bias(x.clone().matmul(l.weight.val().unsqueeze::<3>())))
}
