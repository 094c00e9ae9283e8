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
        #[cfg(feature = "cuda")]
        let y = match crate::cuda::product(&x, &self.weight) {
            Some(y) => y,
            None => x.matmul(self.weight.clone().unsqueeze::<3>()),
        };
        #[cfg(not(feature = "cuda"))]
        let y = x.matmul(self.weight.clone().unsqueeze::<3>());
        match &self.bias {
            Some(b) => y.add(b.clone().unsqueeze::<3>()),
            None => y,
        }
    }
}
