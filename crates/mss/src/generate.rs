//! Greedy continuation of a prompt, streaming each new token.

use burn::prelude::*;
use mss_core::{ChunkPositions, Logits};

use crate::{DenseCache, Error, Result, Transformer};

/// How to continue a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// At most this many new tokens.
    pub max_new_tokens: usize,
    /// Tokens that end generation (not emitted). Defaults to none; use the model's
    /// `eos_token_ids`.
    pub stop_tokens: Vec<u32>,
    /// The prompt is fed in chunks of this many tokens.
    pub prefill_chunk: usize,
}

impl Default for Generation {
    fn default() -> Self {
        Self {
            max_new_tokens: 64,
            stop_tokens: Vec::new(),
            prefill_chunk: 512,
        }
    }
}

/// Feeds `prompt` into `cache` (chunk by chunk), then picks the most likely next token until
/// `max_new_tokens` or a stop token, calling `on_token` for each new token. Only new tokens are
/// fed after the prompt, each at its own document position. Returns the new tokens.
pub fn generate<B: Backend>(
    model: &Transformer<B>,
    cache: &mut DenseCache<B>,
    prompt: &[u32],
    options: &Generation,
    on_token: &mut dyn FnMut(u32),
) -> Result<Vec<u32>> {
    if prompt.is_empty() {
        return Err(Error::InvalidArgument {
            name: "prompt",
            reason: "is empty".into(),
        });
    }
    if options.prefill_chunk == 0 {
        return Err(Error::InvalidArgument {
            name: "prefill_chunk",
            reason: "must be positive".into(),
        });
    }
    model.check_tokens(prompt)?;
    let device = model.embed_tokens.device();
    let mut logits = None;
    for piece in prompt.chunks(options.prefill_chunk) {
        logits = Some(feed(model, cache, piece, &device)?);
    }
    let mut next = argmax(logits.expect("the prompt is not empty"));
    let mut out = Vec::new();
    while out.len() < options.max_new_tokens && !options.stop_tokens.contains(&next) {
        on_token(next);
        out.push(next);
        if out.len() == options.max_new_tokens {
            break;
        }
        next = argmax(feed(model, cache, &[next], &device)?);
    }
    Ok(out)
}

fn feed<B: Backend>(
    model: &Transformer<B>,
    cache: &mut DenseCache<B>,
    ids: &[u32],
    device: &B::Device,
) -> Result<Tensor<B, 1>> {
    let start = cache.consumed();
    let data: Vec<i32> = ids.iter().map(|&id| id as i32).collect();
    let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(data, [1, ids.len()]), device);
    let positions = ChunkPositions {
        document_start: start,
        rope_start: start,
    };
    let logits =
        mss_core::ChunkedModel::forward_chunk(model, tokens, positions, cache, Logits::Last)?;
    cache.advance(ids.len());
    Ok(logits.flatten(0, 2))
}

fn argmax<B: Backend>(logits: Tensor<B, 1>) -> u32 {
    logits.argmax(0).into_scalar().elem::<i64>() as u32
}
