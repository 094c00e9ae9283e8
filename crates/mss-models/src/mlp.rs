//! The SwiGLU feed-forward block.

use burn::prelude::*;
use burn::tensor::FloatDType;

use crate::linear::{Linear, project};

/// `down(silu(gate(x)) * up(x))`, named as in Hugging Face checkpoints.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// Gate projection.
    pub gate_proj: Linear<B>,
    /// Up projection.
    pub up_proj: Linear<B>,
    /// Down projection.
    pub down_proj: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    /// Applies the block.
    ///
    /// # Shapes
    /// - `x`: `[1, len, hidden]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [gate, up] = project(x, [&self.gate_proj, &self.up_proj]);
        self.down_proj.forward(Self::gating(gate, up))
    }

    /// `SiLU(gate) · up`, the region between the gate and up products and the down product:
    /// one kernel on Burn's CUDA backend with feature `cuda`, Burn's operations otherwise.
    ///
    /// # Shapes
    /// - `gate`, `up`: `[1, len, intermediate]`
    pub fn gating(gate: Tensor<B, 3>, up: Tensor<B, 3>) -> Tensor<B, 3> {
        #[cfg(feature = "cuda")]
        if let Some(h) = crate::cuda::gated(&gate, &up) {
            return h;
        }
        gated(gate, up)
    }
}

/// `silu(gate) * up`, SiLU as `g / (1 + e^-g)` in f32: Burn's `silu` in three operations fewer
/// (its sigmoid is `exp(-log(1 + e^-g))`, cast to and from f32), each of which the host pays
/// for as for a kernel on a GPU; the value is the same function, rounded once instead of twice.
///
/// # Shapes
/// - `gate`, `up`: `[1, len, intermediate]`
fn gated<B: Backend>(gate: Tensor<B, 3>, up: Tensor<B, 3>) -> Tensor<B, 3> {
    let dtype = gate.dtype();
    let g = gate.cast(FloatDType::F32);
    let silu = g.clone().div(g.neg().exp().add_scalar(1.0));
    silu.cast(dtype).mul(up)
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;
    use burn::tensor::activation::silu;

    use super::*;

    type B = burn::backend::Flex;

    #[test]
    fn gating_is_burns_silu_times_up() {
        let device = Default::default();
        let random = || Tensor::<B, 3>::random([1, 5, 64], Distribution::Normal(0.0, 4.0), &device);
        let (gate, up) = (random(), random());
        // Past the range where e^-g is finite in f32, and at 0.
        let edges = Tensor::<B, 3>::from_data([[[-200.0f32, -90.0, 0.0, 90.0]]], &device);
        for (gate, up) in [(gate, up), (edges.clone(), edges.ones_like())] {
            let expected: Vec<f32> = silu(gate.clone())
                .mul(up.clone())
                .into_data()
                .to_vec()
                .unwrap();
            let actual: Vec<f32> = gated(gate, up).into_data().to_vec().unwrap();
            for (a, e) in actual.iter().zip(&expected) {
                assert!((a - e).abs() <= 1e-6 * e.abs().max(1.0), "{a} vs {e}");
            }
        }
    }
}
