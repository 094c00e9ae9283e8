//! The chunked prefill loop: chunk by chunk, every layer's `[memory; chunk]` is pruned into the
//! memory the next chunk attends to.

use std::ops::Range;

use burn::prelude::*;
use mss_core::{AttentionNeeds, ChunkedModel, Logits, MemoryObserver, ModelShape, Pruner};
use mss_schedule::{Plan, Step};

use crate::step::{Retention, StepHook};
use crate::tokens::check_prompt;
use crate::{Error, Memory, PositionMode, PrefillConfig, Result, out_of_memory};

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
    /// The schedule used.
    pub plan: Plan,
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
    ///
    /// # Errors
    /// A schedule that cannot be formed ([`mss_schedule::ScheduleConfig::validate`]).
    pub fn new(config: PrefillConfig) -> Result<Self> {
        let pruner = config.pruner.build::<B>(config.seed);
        Self::with_pruner(config, pruner)
    }

    /// A prefiller with a pruner of your own, called under FM, IM and FI within the schedule
    /// (`config.pruner` is not used).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_pruner(config: PrefillConfig, pruner: Box<dyn Pruner<B>>) -> Result<Self> {
        config.schedule(1).validate()?;
        Ok(Self {
            config,
            pruner,
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

    /// Whether the negative log-likelihood is computed ([`with_nll`](Self::with_nll)).
    pub fn nll(&self) -> bool {
        self.nll
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
    /// An empty prompt, token ids outside the vocabulary, a schedule that cannot be formed,
    /// positions past the trained window, a working set over the memory cap, and
    /// [`Error::OutOfMemory`] when the device runs out of memory on the way.
    pub fn prefill(&mut self, model: &impl ChunkedModel<B>, tokens: &[u32]) -> Result<Prefill<B>> {
        out_of_memory::guard(self, model, tokens.len(), |this| {
            this.run(model, tokens, None)
        })
    }

    /// [`prefill`](Prefiller::prefill), reporting every layer's memory rewrite to `observer`
    /// (memory probes). The observer's statistics are computed in addition to the pruner's.
    pub fn prefill_observed(
        &mut self,
        model: &impl ChunkedModel<B>,
        tokens: &[u32],
        observer: &mut dyn MemoryObserver<B>,
    ) -> Result<Prefill<B>> {
        out_of_memory::guard(self, model, tokens.len(), |this| {
            this.run(model, tokens, Some(observer))
        })
    }

    fn run(
        &mut self,
        model: &impl ChunkedModel<B>,
        tokens: &[u32],
        mut observer: Option<&mut dyn MemoryObserver<B>>,
    ) -> Result<Prefill<B>> {
        let shape = model.shape();
        check_prompt(tokens, shape.vocab_size)?;
        let plan = self.plan(&shape, tokens.len())?;
        self.check_positions(&shape, &plan)?;
        if let Some(cap) = self.memory_cap {
            mss_schedule::check_fits(&plan, &self.cost_model(&shape, &plan), cap)?;
        } else if let Some(free) = model.free_device_memory() {
            // A GPU's allocation failure never reaches this thread (CubeCL panics on its own
            // device thread): what cannot fit is refused here, before it is tried, for models
            // that can say what their device has free.
            let cost = self.cost_model(&shape, &plan);
            match mss_schedule::check_fits(&plan, &cost, free) {
                Err(mss_schedule::ScheduleError::ExceedsMemoryCap {
                    step,
                    predicted,
                    cap,
                    smaller_chunk,
                    smaller_memory,
                }) => {
                    return Err(Error::NotEnoughDeviceMemory {
                        predicted,
                        step,
                        free: cap,
                        smaller_chunk,
                        smaller_memory,
                    });
                }
                other => {
                    other?;
                }
            }
        }
        let needs = match observer.as_deref() {
            Some(observer) => self.pruner_needs(&plan).union(observer.needs()),
            None => self.pruner_needs(&plan),
        };
        if let Some(observer) = observer.as_deref_mut() {
            observer.start(tokens.len(), shape.n_layers);
        }
        self.pruner.reset();
        let mut memory = Memory::new(shape.n_layers, self.config.positions);
        let mut retention = Retention::new(shape.n_layers);
        let mut nll = self.nll.then(Vec::new);
        let mut reports = Vec::with_capacity(plan.n_chunks());
        let mut next_logits = None;
        for step in plan.steps() {
            let retention_means = match plan.measures_retention() {
                true => retention.means(),
                false => Vec::new(),
            };
            let mut hook = StepHook {
                n_heads: shape.n_heads,
                query_blocks: self.config.query_blocks,
                memory: &mut memory,
                pruner: self.pruner.as_mut(),
                needs,
                sinks: plan.config().sinks,
                rules: plan.retain(step.index, shape.n_layers, &retention_means)?,
                step: step.index,
                retention: plan.measures_retention().then_some(&mut retention),
                chunk: step.tokens.clone(),
                observer: observer.as_deref_mut(),
                positional_choice: None,
            };
            let logits = forward_step(model, tokens, step, &mut hook, nll.as_mut())?;
            next_logits = Some(logits);
            memory.advance(step.chunk_len());
            let report = StepReport {
                step: step.index,
                steps: plan.n_chunks(),
                tokens: step.tokens.clone(),
                memory: memory.lens(),
            };
            if let Some(f) = self.on_step.as_mut() {
                f(&report);
            }
            reports.push(report);
        }
        let next_logits = next_logits
            .expect("a plan has at least one step")
            .reshape([shape.vocab_size]);
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
    ///
    /// # Errors
    /// Those of the schedule for this prompt length (e.g. an empty prompt).
    pub fn predict(
        &self,
        model: &impl ChunkedModel<B>,
        n_tokens: usize,
    ) -> Result<mss_schedule::Prediction> {
        let shape = model.shape();
        let plan = self.plan(&shape, n_tokens)?;
        Ok(mss_schedule::predict(
            &plan,
            &self.cost_model(&shape, &plan),
        )?)
    }

    /// The schedule of an `n_tokens` prompt.
    fn plan(&self, shape: &ModelShape, n_tokens: usize) -> Result<Plan> {
        Ok(mss_schedule::plan(
            &self.config.schedule(shape.n_layers),
            n_tokens,
        )?)
    }

    /// Refuses a plan that rotates keys past the model's trained positions, unless its RoPE
    /// scales or the configuration allows it. Compact positions need `sinks + memory + chunk`
    /// at the largest step; original positions the prompt's length.
    fn check_positions(&self, shape: &ModelShape, plan: &Plan) -> Result<()> {
        if shape.rope_scaled || self.config.past_trained_positions {
            return Ok(());
        }
        let needed = plan
            .steps()
            .iter()
            .map(|step| match self.config.positions {
                PositionMode::Compact => {
                    step.sinks + step.memory_before.layer_max() + step.chunk_len()
                }
                PositionMode::Original => step.tokens.end,
            })
            .max()
            .unwrap_or(0);
        if needed <= shape.max_position_embeddings {
            return Ok(());
        }
        let remedy = match (self.config.positions, self.config.memory_type().prunes()) {
            (PositionMode::Compact, true) => {
                "use a smaller chunk and memory, a model with RoPE scaling, or allow it \
                 (`--past-trained-positions`, `PrefillConfig::with_past_trained_positions`)"
            }
            (PositionMode::Compact, false) => {
                "use a memory type that prunes (fm, im, imdc), a model with RoPE scaling, or \
                 allow it (`--past-trained-positions`, `PrefillConfig::with_past_trained_positions`)"
            }
            (PositionMode::Original, _) => {
                "use compact positions, a model with RoPE scaling, or allow it \
                 (`--past-trained-positions`, `PrefillConfig::with_past_trained_positions`)"
            }
        };
        Err(Error::PastTrainedPositions {
            needed,
            trained: shape.max_position_embeddings,
            remedy,
        })
    }

    /// The statistics the pruner reads; none when the schedule keeps everything or nothing.
    fn pruner_needs(&self, plan: &Plan) -> AttentionNeeds {
        match plan.config().memory_type.prunes() {
            true => self.pruner.needs(),
            false => AttentionNeeds::NONE,
        }
    }

    fn cost_model(&self, shape: &ModelShape, plan: &Plan) -> mss_schedule::CostModel {
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
        if working.probability_blocks && !self.pruner_needs(plan).is_empty() {
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
}

/// Runs `step`'s chunk through `model`: the logits of its last token, and when `nll` is asked
/// for, the NLL of each of its tokens' successors appended to it.
fn forward_step<B: Backend>(
    model: &impl ChunkedModel<B>,
    tokens: &[u32],
    step: &Step,
    hook: &mut StepHook<'_, '_, B>,
    nll: Option<&mut Vec<f32>>,
) -> Result<Tensor<B, 3>> {
    let ids = &tokens[step.tokens.clone()];
    let data: Vec<i32> = ids.iter().map(|&id| id as i32).collect();
    let input =
        Tensor::<B, 2, Int>::from_data(TensorData::new(data, [1, ids.len()]), &model.device());
    let positions = hook.memory.next_chunk();
    Ok(match nll {
        Some(nll) => {
            let end = (step.tokens.end + 1).min(tokens.len());
            let targets = &tokens[step.tokens.start + 1..end];
            let (scores, last) = model.forward_chunk_nll(input, positions, hook, targets)?;
            nll.extend(scores);
            last
        }
        None => model.forward_chunk(input, positions, hook, Logits::Last)?,
    })
}
