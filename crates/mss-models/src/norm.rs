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

    /// Normalises the last axis (one kernel on Burn's CUDA backend with feature `cuda`).
    ///
    /// # Shapes
    /// - `x`: `[1, len, hidden]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.add_and_forward(x, None).1
    }

    /// `x + delta` (the residual stream after a sublayer) and its norm: one kernel on Burn's
    /// CUDA backend with feature `cuda`, the whole region between a sublayer's last product and
    /// the next one's first; Burn's add and [`forward`](Self::forward) otherwise.
    ///
    /// # Shapes
    /// - `x`, `delta`: `[1, len, hidden]`; returns both `[1, len, hidden]`
    pub fn forward_after_add(
        &self,
        x: Tensor<B, 3>,
        delta: Tensor<B, 3>,
    ) -> (Tensor<B, 3>, Tensor<B, 3>) {
        self.add_and_forward(x, Some(delta))
    }

    /// `x + delta` (`x` without one) and its norm: [`forward_after_add`](Self::forward_after_add)
    /// and [`forward`](Self::forward) in one, for a residual stream whose sublayer output may be
    /// pending.
    pub(crate) fn add_and_forward(
        &self,
        x: Tensor<B, 3>,
        delta: Option<Tensor<B, 3>>,
    ) -> (Tensor<B, 3>, Tensor<B, 3>) {
        #[cfg(feature = "cuda")]
        if let Some(out) =
            crate::cuda::add_rms_norm(&x, delta.as_ref(), &self.weight.val(), self.eps)
        {
            return out;
        }
        let x = match delta {
            Some(delta) => x.add(delta),
            None => x,
        };
        (x.clone(), self.burn_forward(x))
    }

    /// [`forward`](Self::forward) through Burn's operations.
    fn burn_forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
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
