//! RMSNorm computed in f32, as Hugging Face's `LlamaRMSNorm`.

use burn::module::{Param, ParamId};
use burn::prelude::*;
use burn::tensor::FloatDType;

/// `weight * x / sqrt(mean(x²) + eps)`, normalised in f32 and cast back before the weight.
///
/// # Shapes
/// - `weight`: `[hidden]`
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    /// Per-channel gain.
    pub weight: Param<Tensor<B, 1>>,
    /// Added to the mean square.
    pub eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    /// A norm of gain `weight` `[hidden]`.
    pub fn new(weight: Tensor<B, 1>, eps: f64) -> Self {
        Self {
            weight: Param::initialized(ParamId::new(), weight),
            eps,
        }
    }

    /// Normalises the last axis.
    ///
    /// # Shapes
    /// - `x`: `[1, len, hidden]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let dtype = x.dtype();
        let x32 = x.cast(FloatDType::F32);
        let rms = x32
            .clone()
            .powi_scalar(2)
            .mean_dim(2)
            .add_scalar(self.eps)
            .sqrt();
        let normed = x32.div(rms).cast(dtype);
        normed.mul(self.weight.val().unsqueeze::<3>())
    }
}
