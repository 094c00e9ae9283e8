//! Bring your own model: a small decoder that is not one of `mss`'s (LayerNorm, GELU MLP, its
//! own RoPE, grouped-query attention), written as ordinary Burn modules, prefilled chunk by chunk
//! under FM and IMDC with two pruners.
//!
//! All the model does for `mss` is implement `ChunkedModel`; its attention layer hands the
//! queries, keys and values to `mss::core::attend_layer`, which takes care of the memory, the
//! step's RoPE positions, the statistics the pruner needs and the hook. The example checks what
//! it prints: chunked full attention equals one forward pass, and every pruned memory ends at
//! `sinks + M` entries per layer.
//!
//! ```sh
//! cargo run --release --example custom_model
//! ```

use anyhow::ensure;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;
use mss::core::{
    ChunkHook, ChunkPositions, ChunkedModel, Logits, ModelShape, WorkingSet, attend_layer,
};
use mss::pruners::PrunerKind;
use mss::schedule::DEFAULT_SINKS;
use mss::{Method, PrefillConfig, Prefiller};

use mss::DefaultBackend;

/// The decoder's sizes.
#[derive(Config, Debug)]
pub struct TinyDecoderConfig {
    /// Vocabulary size.
    #[config(default = 256)]
    pub vocab_size: usize,
    /// Width of the residual stream.
    #[config(default = 64)]
    pub hidden_size: usize,
    /// Number of layers.
    #[config(default = 2)]
    pub n_layers: usize,
    /// Query heads.
    #[config(default = 4)]
    pub n_heads: usize,
    /// Key/value heads (each serves `n_heads / n_kv_heads` query heads).
    #[config(default = 2)]
    pub n_kv_heads: usize,
    /// RoPE base.
    #[config(default = 10000.0)]
    pub rope_theta: f64,
}

impl TinyDecoderConfig {
    fn head_dim(&self) -> usize {
        self.hidden_size / self.n_heads
    }

    /// A decoder with Burn's default initialisation.
    pub fn init<B: Backend>(&self, device: &B::Device) -> TinyDecoder<B> {
        let (h, d) = (self.hidden_size, self.head_dim());
        let linear = |d_in, d_out| LinearConfig::new(d_in, d_out).init(device);
        let layers = (0..self.n_layers)
            .map(|index| Block {
                index,
                attention_norm: LayerNormConfig::new(h).init(device),
                q: linear(h, self.n_heads * d),
                k: linear(h, self.n_kv_heads * d),
                v: linear(h, self.n_kv_heads * d),
                o: linear(self.n_heads * d, h),
                mlp_norm: LayerNormConfig::new(h).init(device),
                up: linear(h, 4 * h),
                down: linear(4 * h, h),
                n_heads: self.n_heads,
                n_kv_heads: self.n_kv_heads,
                head_dim: d,
                rope_theta: self.rope_theta,
            })
            .collect();
        TinyDecoder {
            embedding: EmbeddingConfig::new(self.vocab_size, h).init(device),
            layers,
            norm: LayerNormConfig::new(h).init(device),
            head: linear(h, self.vocab_size),
            vocab_size: self.vocab_size,
        }
    }
}

/// Embedding, pre-norm blocks, final norm and LM head.
#[derive(Module, Debug)]
pub struct TinyDecoder<B: Backend> {
    embedding: Embedding<B>,
    layers: Vec<Block<B>>,
    norm: LayerNorm<B>,
    head: Linear<B>,
    vocab_size: usize,
}

/// One pre-norm block: attention through `attend_layer`, then a GELU MLP.
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    index: usize,
    attention_norm: LayerNorm<B>,
    q: Linear<B>,
    k: Linear<B>,
    v: Linear<B>,
    o: Linear<B>,
    mlp_norm: LayerNorm<B>,
    up: Linear<B>,
    down: Linear<B>,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
    rope_theta: f64,
}

impl<B: Backend> Block<B> {
    /// # Shapes
    /// - `x`: `[1, chunk_len, hidden]`; returns the same
    fn forward(
        &self,
        x: Tensor<B, 3>,
        positions: ChunkPositions,
        hook: &mut dyn ChunkHook<B>,
    ) -> mss::core::Result<Tensor<B, 3>> {
        let [_, c, _] = x.dims();
        let normed = self.attention_norm.forward(x.clone());
        let heads = |t: Tensor<B, 3>, n: usize| t.reshape([1, c, n, self.head_dim]).swap_dims(1, 2);
        let q = heads(self.q.forward(normed.clone()), self.n_heads);
        let k = heads(self.k.forward(normed.clone()), self.n_kv_heads);
        let v = heads(self.v.forward(normed), self.n_kv_heads);
        // Everything `mss` needs from this layer is in this one call.
        let out = attend_layer(hook, self.index, positions, q, k, v, |x, at| {
            rope(x, at, self.rope_theta)
        })?;
        let out = out
            .swap_dims(1, 2)
            .reshape([1, c, self.n_heads * self.head_dim]);
        let x = x + self.o.forward(out);
        let mlp = self
            .down
            .forward(gelu(self.up.forward(self.mlp_norm.forward(x.clone()))));
        Ok(x + mlp)
    }
}

/// Rotate-half RoPE at explicit positions, computed on the fly.
///
/// # Shapes
/// - `x`: `[1, heads, len, head_dim]`, `positions`: `[heads, len]`; returns the same as `x`
fn rope<B: Backend>(x: Tensor<B, 4>, positions: Tensor<B, 2, Int>, theta: f64) -> Tensor<B, 4> {
    let [_, heads, len, dim] = x.dims();
    let half = dim / 2;
    let device = x.device();
    let inverse_frequencies = Tensor::<B, 1, Int>::arange(0..half as i64, &device)
        .float()
        .mul_scalar(-2.0 * theta.ln() / dim as f64)
        .exp()
        .reshape([1, 1, half]);
    let angles = positions.float().reshape([heads, len, 1]) * inverse_frequencies;
    let angles = Tensor::cat(vec![angles.clone(), angles], 2).unsqueeze::<4>();
    let first = x.clone().narrow(3, 0, half);
    let second = x.clone().narrow(3, half, half);
    let rotated = Tensor::cat(vec![second.neg(), first], 3);
    x * angles.clone().cos() + rotated * angles.sin()
}

impl<B: Backend> ChunkedModel<B> for TinyDecoder<B> {
    fn shape(&self) -> ModelShape {
        let block = &self.layers[0];
        let hidden = block.n_heads * block.head_dim;
        ModelShape {
            n_layers: self.layers.len(),
            n_heads: block.n_heads,
            n_kv_heads: block.n_kv_heads,
            head_dim: block.head_dim,
            vocab_size: self.vocab_size,
            max_position_embeddings: 1 << 16,
            rope_scaled: false,
            hidden_size: hidden,
            dtype_bytes: 4,
            // What Burn's operations hold per chunk token, roughly: the residual, the
            // normed input, q/k/v, the MLP's 4× expansion, all f32.
            working_set: WorkingSet {
                activation_bytes_per_token: 10 * hidden * 4,
                layer_bytes_per_entry: None,
                probability_blocks: true,
            },
        }
    }

    fn device(&self) -> B::Device {
        self.head.weight.device()
    }

    fn forward_chunk(
        &self,
        tokens: Tensor<B, 2, Int>,
        positions: ChunkPositions,
        hook: &mut dyn ChunkHook<B>,
        logits: Logits,
    ) -> mss::core::Result<Tensor<B, 3>> {
        let c = tokens.dims()[1];
        let mut x = self.embedding.forward(tokens);
        for block in &self.layers {
            x = block.forward(x, positions, hook)?;
        }
        let x = match logits {
            Logits::All => x,
            Logits::Last => x.narrow(1, c - 1, 1),
        };
        Ok(self.head.forward(self.norm.forward(x)))
    }
}

/// `n` token ids below `vocab` that do not repeat in a short period (the model is random: any
/// ids would do).
fn token_ids(n: usize, vocab: usize) -> Vec<u32> {
    (0..n).map(|i| ((i * 7919 + 17) % vocab) as u32).collect()
}

fn main() -> std::process::ExitCode {
    mss_examples::exit::run(run)
}

fn run() -> anyhow::Result<()> {
    const TOKENS: usize = 512;
    const CHUNK: usize = 64;
    const MEMORY: usize = 96;
    let device = Default::default();
    DefaultBackend::seed(&device, 0);
    let config = TinyDecoderConfig::new();
    let model = config.init::<DefaultBackend>(&device);
    let tokens = token_ids(TOKENS, config.vocab_size);

    let perplexity = |config: PrefillConfig| -> anyhow::Result<(f64, Vec<usize>)> {
        let prefill = Prefiller::<DefaultBackend>::new(config)?
            .with_nll(true)
            .prefill(&model, &tokens)?;
        let ppl = prefill.perplexity().expect("the NLL was asked for");
        let kept = prefill
            .steps
            .last()
            .expect("one step at least")
            .memory
            .clone();
        Ok((ppl, kept))
    };

    println!(
        "a {}-layer decoder of our own, {TOKENS} tokens, chunks of {CHUNK}, M = {MEMORY}",
        config.n_layers
    );
    println!("| pruner | memory type | perplexity | entries kept per layer |");
    println!("| --- | --- | --- | --- |");
    let (one_pass, kept) = perplexity(PrefillConfig::full_attention(TOKENS))?;
    println!("| — | full, one chunk | {one_pass:.4} | {kept:?} |");
    let (chunked, kept) = perplexity(PrefillConfig::full_attention(CHUNK))?;
    println!("| — | full, chunks of {CHUNK} | {chunked:.4} | {kept:?} |");
    ensure!(
        (one_pass - chunked).abs() <= 1e-4 * one_pass,
        "chunked full attention ({chunked}) differs from one pass ({one_pass})"
    );
    for pruner in [PrunerKind::StreamingLlm, PrunerKind::SnapKv] {
        for method in [Method::Fm, Method::Imdc] {
            let config = PrefillConfig::from_method(pruner, method, CHUNK, MEMORY);
            let (ppl, kept) = perplexity(config)?;
            println!("| {pruner} | {method} | {ppl:.4} | {kept:?} |");
            ensure!(ppl.is_finite(), "{pruner} {method}: perplexity {ppl}");
            ensure!(
                kept.iter().all(|&n| n == DEFAULT_SINKS + MEMORY),
                "{pruner} {method}: the memory should end at sinks + M, not {kept:?}"
            );
        }
    }
    println!("chunked full attention equals one pass; every memory ends at sinks + M");
    Ok(())
}
