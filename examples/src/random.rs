//! Random-weight models and deterministic token ids: what the timings and the device checks
//! run on when no model is given. The work of a prefill does not depend on the weights or the
//! tokens, so nothing has to be carried to a GPU machine; seeded, the same binary builds the
//! same model and prompt on every run, and `prefill_timing` and `device_check` build the same
//! ones.

use burn::prelude::*;
use mss::{Transformer, TransformerConfig};

/// Random-weight model shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelShape {
    /// SmolLM2-135M, the default model.
    Smollm2,
    /// LLaMA-2-7B, the paper's model (13.5 GB of weights in bf16).
    #[value(name = "llama2-7b")]
    Llama2_7b,
}

impl ModelShape {
    /// The model's configuration.
    pub fn config(self) -> TransformerConfig {
        match self {
            Self::Smollm2 => TransformerConfig::smollm2_135m(),
            Self::Llama2_7b => TransformerConfig::llama2_7b(),
        }
    }
}

/// A model of `shape` with random weights in `dtype`, drawn after seeding the device's
/// generator with 0 (so the random tensors drawn after it follow one stream too), its position
/// range widened to `tokens` (past the trained length, random weights change only the
/// numbers).
pub fn model<B: Backend>(
    shape: ModelShape,
    tokens: usize,
    device: &B::Device,
    dtype: burn::tensor::DType,
) -> Transformer<B> {
    B::seed(device, 0);
    let mut config = shape.config();
    config.max_position_embeddings = config.max_position_embeddings.max(tokens);
    config.init::<B>(device, dtype)
}

/// `n` deterministic pseudo-random token ids below `vocab` (a 64-bit LCG seeded by `seed`):
/// `mss-testkit`'s generator, which the workspace's tests use (a dev-dependency there; a unit
/// test keeps the two equal). A shorter prompt of the same seed is a prefix of a longer one.
pub fn ids(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let step = |x: u64| {
        x.wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
    };
    let mut x = step(seed);
    (0..n)
        .map(|_| {
            x = step(x);
            ((x >> 33) % vocab as u64) as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ids_are_the_test_kits() {
        for (n, vocab, seed) in [(200, 50, 1), (3 * 2052, 64, 0), (1024, 49152, 1), (0, 7, 3)] {
            assert_eq!(ids(n, vocab, seed), mss_testkit::ids(n, vocab, seed));
        }
        assert_eq!(ids(768, 49152, 1), ids(8192, 49152, 1)[..768]);
    }

    #[test]
    fn each_shape_has_its_configuration() {
        assert_eq!(ModelShape::Smollm2.config().vocab_size, 49152);
        assert_eq!(ModelShape::Llama2_7b.config().vocab_size, 32000);
    }
}
