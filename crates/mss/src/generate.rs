//! Continuing a prefilled prompt, one new token at a time, streaming each.

use burn::prelude::*;
use mss_core::ChunkedModel;

use crate::sampling::Sampler;
use crate::{Error, Prefill, Result, Sampling};

/// How to continue a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// At most this many new tokens.
    pub max_new_tokens: usize,
    /// Tokens that end generation (not emitted); typically the model's `eos_token_ids`.
    pub stop_tokens: Vec<u32>,
    /// Greedy or sampled.
    pub sampling: Sampling,
}

impl Default for Generation {
    fn default() -> Self {
        Self {
            max_new_tokens: 64,
            stop_tokens: Vec::new(),
            sampling: Sampling::Greedy,
        }
    }
}

/// Continues from `prefill`'s memory: picks a token from `next_logits`, streams it to `on_token`,
/// feeds only that token (at the next document position; its RoPE position follows the memory's
/// position mode) and repeats, until `max_new_tokens` or a stop token. The memory grows by one
/// entry per token and is not pruned while decoding. `prefill` is left ready to continue.
pub fn generate<B: Backend>(
    model: &impl ChunkedModel<B>,
    prefill: &mut Prefill<B>,
    options: &Generation,
    on_token: &mut dyn FnMut(u32),
) -> Result<Vec<u32>> {
    let mut sampler = Sampler::new(options.sampling)?;
    let mut out = Vec::new();
    while out.len() < options.max_new_tokens {
        let logits: Vec<f32> = prefill
            .next_logits
            .to_data()
            .convert::<f32>()
            .to_vec()
            .map_err(|e| Error::InvalidArgument {
                name: "next_logits",
                reason: format!("{e:?}"),
            })?;
        let next = sampler.next(&logits);
        if options.stop_tokens.contains(&next) {
            break;
        }
        on_token(next);
        out.push(next);
        prefill.append(model, &[next])?;
    }
    Ok(out)
}
