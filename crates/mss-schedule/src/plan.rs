//! [`Plan`]: the whole schedule of one prefill, computed up front by [`plan`].

use std::ops::Range;

use crate::limits::{MAX_CHUNKS, MAX_PLAN_ENTRIES, MAX_TOKENS, at_most};
use crate::{
    Budget, IncrementalType, LayerwiseCurve, MemoryType, Result, ScheduleConfig, ScheduleError,
    adaptive_budgets, decremental_chunks_for, fi_slices, num_chunks, standard_chunks,
};

/// One chunk step of a prefill.
///
/// Step `i` reads `sinks` sink entries and `memory_before` memory entries per layer, runs its
/// chunk `tokens` through the model, then keeps `memory_after` memory entries per layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The chunk index `i`.
    pub index: usize,
    /// The chunk's tokens in the prompt.
    pub tokens: Range<usize>,
    /// Sink entries read by this chunk: `min(S, tokens.start)`. The sinks are the prompt's
    /// first `S` tokens, so chunk 0 reads none and contains them.
    pub sinks: usize,
    /// New candidates this chunk adds: its tokens that are not sinks.
    pub fresh: usize,
    /// Memory entries (sinks excluded) read by this chunk: what the previous step kept.
    pub memory_before: Budget,
    /// The budget after this chunk: `M` (FM), the curve's `m_i` (IM), or the slices appended
    /// so far (FI). It equals `M` at the last step. Full attention's is the prompt length,
    /// no memory's 0 (see [`ScheduleConfig::for_prompt`]).
    pub budget: Budget,
    /// What the cache actually holds after this chunk. FM and IM keep
    /// `min(budget, memory_before + fresh)`: when the formula asks for more entries than there
    /// are candidates (early steps, or `M ≥ L`), everything is kept. FI keeps
    /// `memory_before + min(slice, fresh)`.
    pub memory_after: Budget,
    /// FI only: the slice of this chunk's candidates to append.
    pub fi_slice: Option<usize>,
}

impl Step {
    /// The number of tokens in the chunk.
    pub fn chunk_len(&self) -> usize {
        self.tokens.end.saturating_sub(self.tokens.start)
    }
}

/// The chunk ranges and per-step memory budgets of one prefill; see [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub(crate) config: ScheduleConfig,
    pub(crate) prompt_len: usize,
    pub(crate) steps: Vec<Step>,
    pub(crate) decremental_memory: Option<Vec<usize>>,
}

impl Plan {
    /// The configuration the plan follows: the one it was computed from, with the baselines'
    /// sizes set ([`ScheduleConfig::for_prompt`]).
    pub fn config(&self) -> &ScheduleConfig {
        &self.config
    }

    /// The prompt length `L`.
    pub fn prompt_len(&self) -> usize {
        self.prompt_len
    }

    /// The steps, in order; at least one.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The number of chunks, `ceil(L / C)` (also under decremental chunks).
    pub fn n_chunks(&self) -> usize {
        self.steps.len()
    }

    /// The chunk lengths, in order.
    pub fn chunk_lengths(&self) -> Vec<usize> {
        self.steps.iter().map(Step::chunk_len).collect()
    }

    /// Step `step`.
    ///
    /// # Errors
    /// [`ScheduleError::StepOutOfRange`].
    pub fn step(&self, step: usize) -> Result<&Step> {
        self.steps.get(step).ok_or(ScheduleError::StepOutOfRange {
            step,
            n_chunks: self.steps.len(),
        })
    }

    /// Under decremental chunks, the memory sequence the chunks balance (`c_i + m_{i−1}`
    /// constant): the IM curve's budgets, or their mean over layers for a layer-wise type.
    pub fn decremental_memory(&self) -> Option<&[usize]> {
        self.decremental_memory.as_deref()
    }

    /// The exact budget after `step`: the planned one, or for `adaptive` the one given by the
    /// per-layer running-average `retention` (read only where the budget depends on it; pass
    /// `&[]` elsewhere).
    ///
    /// # Errors
    /// [`ScheduleError::StepOutOfRange`], and those of [`adaptive_budgets`].
    pub fn resolve_budget(&self, step: usize, retention: &[f64]) -> Result<Budget> {
        let planned = &self.step(step)?.budget;
        if planned.is_exact() {
            return Ok(planned.clone());
        }
        let layers = self.config.num_layers.unwrap_or(0);
        let (n, memory) = (self.n_chunks(), self.config.memory);
        adaptive_budgets(step, n, memory, layers, retention).map(Budget::PerLayer)
    }

    /// The budget of `layer` after `step` (see [`resolve_budget`](Plan::resolve_budget)):
    /// what the prefill loop asks the pruner to keep.
    ///
    /// # Errors
    /// [`ScheduleError::LayerOutOfRange`] for a layer beyond the configured count, and those
    /// of [`resolve_budget`](Plan::resolve_budget).
    pub fn layer_budget(&self, step: usize, layer: usize, retention: &[f64]) -> Result<usize> {
        let num_layers = self.config.num_layers.unwrap_or(usize::MAX);
        let out_of_range = ScheduleError::LayerOutOfRange { layer, num_layers };
        if layer >= num_layers {
            return Err(out_of_range);
        }
        self.resolve_budget(step, retention)?
            .layer(layer)
            .ok_or(out_of_range)
    }
}

/// The plan of a prefill of `prompt_len` tokens under `config`: chunk ranges (standard or
/// decremental) and, per step, the memory budget and what the cache holds.
///
/// # Errors
/// Those of [`ScheduleConfig::validate`], [`ScheduleError::EmptyPrompt`],
/// [`ScheduleError::TooLarge`] for absurd sizes, [`ScheduleError::NonPositiveChunk`] when
/// decremental chunks cannot be formed.
pub fn plan(config: &ScheduleConfig, prompt_len: usize) -> Result<Plan> {
    config.validate()?;
    at_most("prompt length", prompt_len, MAX_TOKENS)?;
    let config = &config.for_prompt(prompt_len);
    let n = num_chunks(prompt_len, config.chunk)?;
    at_most("number of chunks", n, MAX_CHUNKS)?;
    let layers = config.num_layers.unwrap_or(1);
    let entries = if config.is_layerwise() {
        n.saturating_mul(layers)
    } else {
        n
    };
    at_most("chunks × layers", entries, MAX_PLAN_ENTRIES)?;

    let budgets = (0..n)
        .map(|i| target(config, n, i))
        .collect::<Result<Vec<_>>>()?;
    let slices = match config.memory_type {
        MemoryType::Fi => Some(fi_slices(config.memory, n)?),
        _ => None,
    };
    let decremental_memory = match config.decremental {
        true => Some(decremental_memory(config, n)?),
        false => None,
    };
    let lengths = match &decremental_memory {
        Some(memory) => decremental_chunks_for(prompt_len, memory)?,
        None => standard_chunks(prompt_len, config.chunk)?,
    };

    let mut steps = Vec::with_capacity(n);
    let (mut start, mut before) = (0, Budget::Uniform(0));
    for (index, (len, budget)) in lengths.into_iter().zip(budgets).enumerate() {
        let end = start + len;
        let sinks = config.sinks.min(start);
        let fresh = len - (config.sinks.min(end) - sinks);
        let fi_slice = slices.as_ref().and_then(|s| s.get(index).copied());
        let memory_after = after(&budget, &before, fresh, fi_slice);
        steps.push(Step {
            index,
            tokens: start..end,
            sinks,
            fresh,
            memory_before: before,
            budget,
            memory_after: memory_after.clone(),
            fi_slice,
        });
        (start, before) = (end, memory_after);
    }
    let plan = Plan {
        config: config.clone(),
        prompt_len,
        steps,
        decremental_memory,
    };
    plan.validate()?;
    Ok(plan)
}

/// What the cache holds after a step (see [`Step::memory_after`]).
pub(crate) fn after(
    budget: &Budget,
    before: &Budget,
    fresh: usize,
    fi_slice: Option<usize>,
) -> Budget {
    match (fi_slice, before) {
        (Some(slice), Budget::Uniform(k)) => Budget::Uniform(k + slice.min(fresh)),
        _ => budget.keep(before, fresh),
    }
}

/// The planned budget after step `step` of `n`.
pub(crate) fn target(config: &ScheduleConfig, n: usize, step: usize) -> Result<Budget> {
    let memory = config.memory;
    Ok(match (config.memory_type, config.incremental) {
        // The baselines' sizes are set by `ScheduleConfig::for_prompt`.
        (MemoryType::Fm | MemoryType::Full | MemoryType::Local, _) => Budget::Uniform(memory),
        (MemoryType::Fi, _) => {
            let (base, extra) = (memory / n, memory % n);
            Budget::Uniform(base * (step + 1) + extra.min(step + 1))
        }
        (MemoryType::Im, IncrementalType::Uniform(curve)) => {
            Budget::Uniform(curve.budget(step, n, memory))
        }
        (MemoryType::Im, IncrementalType::Layerwise(curve)) => {
            let layers = config.num_layers.unwrap_or(1);
            curve.planned(step, n, memory, layers)?
        }
    })
}

/// The memory sequence decremental chunks balance (see [`Plan::decremental_memory`]).
pub(crate) fn decremental_memory(config: &ScheduleConfig, n: usize) -> Result<Vec<usize>> {
    match config.incremental {
        IncrementalType::Uniform(curve) => curve.budgets(n, config.memory),
        IncrementalType::Layerwise(curve) => {
            let layers = config.num_layers.unwrap_or(1);
            LayerwiseCurve::mean_budgets(curve, n, config.memory, layers)
        }
    }
}
