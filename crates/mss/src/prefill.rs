//! The chunked prefill loop: chunk by chunk, every layer's `[memory; chunk]` is pruned into the
//! memory the next chunk attends to.

use std::ops::Range;

use burn::prelude::*;
use mss_core::{ChunkedModel, Logits, MemoryObserver, Pruner};
use mss_pruners::MemoryPolicy;
use mss_schedule::{IncrementalType, LayerwiseCurve, MemoryType, Plan};

use crate::step::{Retention, StepHook};
use crate::{Error, Memory, PrefillConfig, Result};

/// What one step did, for progress display and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// Step index.
    pub step: usize,
    /// Number of steps.
    pub steps: usize,
    /// The chunk's tokens.
    pub tokens: Range<usize>,
    /// Entries per KV head kept in each layer after the step (sinks included).
    pub memory: Vec<usize>,
}

/// The outcome of a prefill.
#[derive(Debug, Clone)]
pub struct Prefill<B: Backend> {
    /// The memory after the last chunk, ready for generation.
    pub memory: Memory<B>,
    /// Logits (f32) of the prompt's last token: the distribution of the first new token.
    ///
    /// # Shapes
    /// `[vocab]`
    pub next_logits: Tensor<B, 1>,
    /// `-log p(token_{i+1} | prefix)` for every `i < L - 1`, when asked for.
    pub nll: Option<Vec<f32>>,
    /// The schedule used (`None` for `no_compress` and `local_window`, which need none).
    pub plan: Option<Plan>,
    /// One report per step.
    pub steps: Vec<StepReport>,
}

impl<B: Backend> Prefill<B> {
    /// `exp` of the mean NLL, when the NLL was asked for and the prompt has two tokens or more.
    pub fn perplexity(&self) -> Option<f64> {
        let nll = self.nll.as_ref().filter(|n| !n.is_empty())?;
        Some((nll.iter().map(|&x| x as f64).sum::<f64>() / nll.len() as f64).exp())
    }
}

/// Called after every step.
type StepCallback = Box<dyn FnMut(&StepReport)>;

/// Prefills prompts under one [`PrefillConfig`].
pub struct Prefiller<B: Backend> {
    config: PrefillConfig,
    pruner: Box<dyn Pruner<B>>,
    policy: MemoryPolicy,
    nll: bool,
    memory_cap: Option<u64>,
    on_step: Option<StepCallback>,
}

impl<B: Backend> std::fmt::Debug for Prefiller<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefiller")
            .field("config", &self.config)
            .field("pruner", &self.pruner.name())
            .finish()
    }
}

impl<B: Backend> Prefiller<B> {
    /// A prefiller with the configured pruner.
    pub fn new(config: PrefillConfig) -> Result<Self> {
        let pruner = config.pruner.build::<B>(config.seed);
        let policy = config.pruner.memory_policy();
        Self::with_pruner(config, pruner, policy)
    }

    /// A prefiller with a pruner of your own (its memory is pruned within the schedule).
    pub fn with_pruner(
        config: PrefillConfig,
        pruner: Box<dyn Pruner<B>>,
        policy: MemoryPolicy,
    ) -> Result<Self> {
        if config.chunk == 0 {
            return Err(Error::InvalidArgument {
                name: "chunk",
                reason: "must be positive".into(),
            });
        }
        if policy == MemoryPolicy::Pruned {
            config.schedule(1).validate()?;
        }
        Ok(Self {
            config,
            pruner,
            policy,
            nll: false,
            memory_cap: None,
            on_step: None,
        })
    }

    /// Also computes the negative log-likelihood of every prompt token after the first
    /// (logits of every chunk, boundaries included).
    pub fn with_nll(mut self, nll: bool) -> Self {
        self.nll = nll;
        self
    }

    /// Refuses, before running, a schedule whose predicted peak working set (KV of sinks,
    /// memory and chunk over all layers, attention scratch, activations, logits; weights not
    /// counted) exceeds `bytes`. See [`mss_schedule::check_fits`].
    pub fn with_memory_cap(mut self, bytes: u64) -> Self {
        self.memory_cap = Some(bytes);
        self
    }

    /// Calls `f` after every step (progress bars).
    pub fn on_step(mut self, f: impl FnMut(&StepReport) + 'static) -> Self {
        self.on_step = Some(Box::new(f));
        self
    }

    /// The configuration.
    pub fn config(&self) -> &PrefillConfig {
        &self.config
    }

    /// Prefills `tokens` chunk by chunk.
    ///
    /// # Errors
    /// An empty prompt, token ids outside the vocabulary, a schedule that cannot be formed.
    pub fn prefill(&mut self, model: &impl ChunkedModel<B>, tokens: &[u32]) -> Result<Prefill<B>> {
        self.run(model, tokens, None)
    }

    /// [`prefill`](Prefiller::prefill), reporting every layer's memory rewrite to `observer`
    /// (memory probes). The observer's statistics are computed in addition to the pruner's.
    pub fn prefill_observed(
        &mut self,
        model: &impl ChunkedModel<B>,
        tokens: &[u32],
        observer: &mut dyn MemoryObserver<B>,
    ) -> Result<Prefill<B>> {
        self.run(model, tokens, Some(observer))
    }

    fn run(
        &mut self,
        model: &impl ChunkedModel<B>,
        tokens: &[u32],
        mut observer: Option<&mut dyn MemoryObserver<B>>,
    ) -> Result<Prefill<B>> {
        let shape = model.shape();
        if tokens.is_empty() {
            return Err(Error::InvalidArgument {
                name: "tokens",
                reason: "the prompt is empty".into(),
            });
        }
        check_vocabulary(tokens, shape.vocab_size)?;
        let plan = self.plan(&shape, tokens.len())?;
        if let (Some(cap), Some(plan)) = (self.memory_cap, &plan) {
            mss_schedule::check_fits(plan, &self.cost_model(&shape), cap)?;
        }
        let chunks: Vec<Range<usize>> = match &plan {
            Some(plan) => plan.steps().iter().map(|s| s.tokens.clone()).collect(),
            None => mss_schedule::standard_chunks(tokens.len(), self.config.chunk)?
                .into_iter()
                .scan(0, |start, len| {
                    let range = *start..*start + len;
                    *start += len;
                    Some(range)
                })
                .collect(),
        };
        let adaptive = matches!(
            self.config.incremental,
            IncrementalType::Layerwise(LayerwiseCurve::Adaptive)
        ) && self.config.memory_type == MemoryType::Im;
        let mut retention = Retention::new(shape.n_layers);
        let mut memory = Memory::new(shape.n_layers, self.config.positions);
        let mut nll = self.nll.then(Vec::new);
        let mut reports = Vec::with_capacity(chunks.len());
        let mut next_logits = None;
        let device = model.device();
        let needs = match observer.as_deref() {
            Some(observer) => self.pruner.needs().union(observer.needs()),
            None => self.pruner.needs(),
        };
        if let Some(observer) = observer.as_deref_mut() {
            observer.start(tokens.len(), shape.n_layers);
        }
        self.pruner.reset();
        for (step, range) in chunks.iter().enumerate() {
            let budgets = match &plan {
                Some(plan) => self.budgets(plan, step, shape.n_layers, &mut retention)?,
                None => vec![0; shape.n_layers],
            };
            let positions = memory.next_chunk();
            let ids = &tokens[range.clone()];
            let data: Vec<i32> = ids.iter().map(|&id| id as i32).collect();
            let input =
                Tensor::<B, 2, Int>::from_data(TensorData::new(data, [1, ids.len()]), &device);
            let mut hook = StepHook {
                n_heads: shape.n_heads,
                query_blocks: self.config.query_blocks,
                memory: &mut memory,
                pruner: self.pruner.as_mut(),
                policy: self.policy,
                needs,
                sinks: self.config.sinks,
                fixed_history: self.config.memory_type == MemoryType::Fi,
                budgets,
                step,
                retention: adaptive.then_some(&mut retention),
                chunk: range.clone(),
                observer: observer.as_deref_mut(),
            };
            let logits = match nll.as_mut() {
                Some(nll) => {
                    let targets = &tokens[range.start + 1..(range.end + 1).min(tokens.len())];
                    let (scores, last) =
                        model.forward_chunk_nll(input, positions, &mut hook, targets)?;
                    nll.extend(scores);
                    last
                }
                None => model.forward_chunk(input, positions, &mut hook, Logits::Last)?,
            };
            memory.advance(ids.len());
            next_logits = Some(logits);
            let report = StepReport {
                step,
                steps: chunks.len(),
                tokens: range.clone(),
                memory: memory.lens(),
            };
            if let Some(f) = self.on_step.as_mut() {
                f(&report);
            }
            reports.push(report);
        }
        let vocab = shape.vocab_size;
        let next_logits = next_logits
            .expect("the prompt is not empty")
            .reshape([vocab]);
        Ok(Prefill {
            memory,
            next_logits,
            nll,
            plan,
            steps: reports,
        })
    }

    /// The predicted peak working set of a prefill of `n_tokens` tokens on `model` (weights
    /// excluded; see [`mss_schedule::predict`] for what is counted), without running it.
    /// `None` for the policies that need no schedule (`no_compress`, `local_window`).
    ///
    /// # Errors
    /// Those of the schedule for this prompt length (e.g. an empty prompt).
    pub fn predict(
        &self,
        model: &impl ChunkedModel<B>,
        n_tokens: usize,
    ) -> Result<Option<mss_schedule::Prediction>> {
        let shape = model.shape();
        let Some(plan) = self.plan(&shape, n_tokens)? else {
            return Ok(None);
        };
        Ok(Some(mss_schedule::predict(
            &plan,
            &self.cost_model(&shape),
        )?))
    }

    /// The schedule of an `n_tokens` prompt; `None` for the policies that need none.
    fn plan(&self, shape: &mss_core::ModelShape, n_tokens: usize) -> Result<Option<Plan>> {
        Ok(match self.policy {
            MemoryPolicy::Pruned => Some(mss_schedule::plan(
                &self.config.schedule(shape.n_layers),
                n_tokens,
            )?),
            _ => None,
        })
    }

    fn cost_model(&self, shape: &mss_core::ModelShape) -> mss_schedule::CostModel {
        let dims = mss_schedule::ModelDims {
            n_layers: shape.n_layers,
            n_heads: shape.n_heads,
            n_kv_heads: shape.n_kv_heads,
            head_dim: shape.head_dim,
            hidden_size: shape.hidden_size,
            vocab_size: shape.vocab_size,
        };
        let working = shape.working_set;
        let mut cost = mss_schedule::CostModel::new(dims, shape.dtype_bytes)
            .with_activation_bytes_per_token(working.activation_bytes_per_token);
        if let Some(bytes_per_entry) = working.layer_bytes_per_entry {
            cost = cost.with_layer_kv(mss_schedule::LayerKv::OneLayer { bytes_per_entry });
        }
        if working.probability_blocks && !self.pruner.needs().is_empty() {
            cost.attention = mss_schedule::AttentionMode::Statistics {
                blocks: self.config.query_blocks,
            };
        }
        cost.logits = if self.nll {
            mss_schedule::LogitRows::All
        } else {
            mss_schedule::LogitRows::Last
        };
        cost
    }

    fn budgets(
        &self,
        plan: &Plan,
        step: usize,
        n_layers: usize,
        retention: &mut Retention<B>,
    ) -> Result<Vec<usize>> {
        if self.config.memory_type == MemoryType::Fi {
            let slice = plan.step(step)?.fi_slice.unwrap_or(0);
            return Ok(vec![slice; n_layers]);
        }
        let means = retention.means();
        let budget = plan.resolve_budget(step, &means)?;
        (0..n_layers)
            .map(|layer| {
                budget.layer(layer).ok_or(Error::InvalidArgument {
                    name: "incremental",
                    reason: format!("the schedule has no budget for layer {layer}"),
                })
            })
            .collect()
    }
}

/// The first token id outside a vocabulary of `vocab_size`, as an error.
pub(crate) fn check_vocabulary(tokens: &[u32], vocab_size: usize) -> Result<()> {
    match tokens
        .iter()
        .enumerate()
        .find(|(_, id)| **id as usize >= vocab_size)
    {
        Some((index, &id)) => Err(Error::TokenOutOfVocabulary {
            id,
            index,
            vocab_size,
        }),
        None => Ok(()),
    }
}
