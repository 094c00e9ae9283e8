//! Peak working-set prediction of a prefill plan, and the check against a memory cap.
//!
//! At step `i`, with chunk length `c`, `S_i` sinks read, and layer `l` reading `m_l` memory
//! entries (`keys_l = S_i + m_l + c` entries to attend over), the predicted working set is
//!
//! ```text
//! kv          = 2 · n_kv_heads · head_dim · bytes · Σ_l keys_l       K and V of every layer
//!   or, one layer at a time (LayerKv::OneLayer { bytes_per_entry }):
//!               2 · n_kv_heads · head_dim · bytes · Σ_l (S_i + m_l)  every layer's memory
//!             + bytes_per_entry · max_l keys_l                      the running layer's copies
//! attention   = n_heads · rows · max_l keys_l · 4                  statistics only; 0 fused
//!               (rows = QueryBlocks::rows(n_heads, c, max_l keys_l): the largest block)
//! activations = c · hidden · activation_factor · bytes              (or c · bytes per token)
//! logits      = rows · vocab · 4                                   rows = c, 1 or 0
//! total       = kv + attention + activations + logits
//! ```
//!
//! Weights are not counted: they are the same at every step. The KV term counts every layer
//! at `[memory; chunk]` at once, an upper bound whether a layer is pruned right after its
//! attention or after the whole forward. Under the `adaptive` curve the memory per layer is
//! known only as bounds, so the prediction uses them (the layers' mean never exceeds the
//! linear curve's budget).

use crate::{
    AttentionMode, CostModel, F32_BYTES, LayerKv, LogitRows, Plan, Result, ScheduleConfig,
    ScheduleError, Step,
};

/// The predicted working set of one step, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepCost {
    /// The step index.
    pub step: usize,
    /// Keys and values of sinks, memory and chunk, over all layers.
    pub kv_bytes: u64,
    /// The attention probability block (statistics path only).
    pub attention_bytes: u64,
    /// The chunk's activations.
    pub activation_bytes: u64,
    /// The chunk's logits.
    pub logits_bytes: u64,
    /// The sum.
    pub total_bytes: u64,
}

/// The predicted working set of every step of a plan, and its peak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    steps: Vec<StepCost>,
    peak_step: usize,
}

impl Prediction {
    /// One cost per step, in order (at least one).
    pub fn steps(&self) -> &[StepCost] {
        &self.steps
    }

    /// The index of the (first) step with the largest total.
    pub fn peak_step(&self) -> usize {
        self.peak_step
    }

    /// The cost of the peak step.
    pub fn peak(&self) -> StepCost {
        self.steps[self.peak_step]
    }

    /// The peak working set in bytes.
    pub fn peak_bytes(&self) -> u64 {
        self.peak().total_bytes
    }
}

fn overflow() -> ScheduleError {
    ScheduleError::Overflow {
        what: "working-set bytes",
    }
}

fn product(factors: &[u64]) -> Result<u64> {
    factors
        .iter()
        .try_fold(1u64, |acc, &f| acc.checked_mul(f))
        .ok_or_else(overflow)
}

/// The predicted working set of `step` (see the module doc).
///
/// # Errors
/// Those of [`CostModel::validate`], [`ScheduleError::LayerMismatch`] for per-layer budgets
/// of another layer count, [`ScheduleError::Overflow`] past `u64`.
pub fn step_cost(step: &Step, model: &CostModel) -> Result<StepCost> {
    model.validate()?;
    let d = &model.dims;
    let bytes = model.bytes_per_element as u64;
    let chunk = step.chunk_len() as u64;
    let per_layer = (step.sinks as u64)
        .checked_add(chunk)
        .ok_or_else(overflow)?;
    let keys_total = product(&[per_layer, d.n_layers as u64])?
        .checked_add(step.memory_before.total_max(d.n_layers)?)
        .ok_or_else(overflow)?;
    let keys_max = per_layer
        .checked_add(step.memory_before.layer_max() as u64)
        .ok_or_else(overflow)?;
    let entry_bytes = product(&[2, d.n_kv_heads as u64, d.head_dim as u64, bytes])?;
    let kv_bytes = match model.layer_kv {
        LayerKv::AllLayers => product(&[entry_bytes, keys_total])?,
        LayerKv::OneLayer { bytes_per_entry } => {
            let memories = product(&[step.sinks as u64, d.n_layers as u64])?
                .checked_add(step.memory_before.total_max(d.n_layers)?)
                .ok_or_else(overflow)?;
            product(&[entry_bytes, memories])?
                .checked_add(product(&[bytes_per_entry as u64, keys_max])?)
                .ok_or_else(overflow)?
        }
    };
    let attention_bytes = match model.attention {
        AttentionMode::Fused => 0,
        AttentionMode::Statistics { blocks } => {
            let keys = usize::try_from(keys_max).map_err(|_| overflow())?;
            let rows = blocks.rows(d.n_heads, step.chunk_len(), keys) as u64;
            product(&[d.n_heads as u64, rows, keys_max, F32_BYTES as u64])?
        }
    };
    let activation_bytes = match model.activation_bytes_per_token {
        Some(per_token) => product(&[chunk, per_token as u64])?,
        None => product(&[
            chunk,
            d.hidden_size as u64,
            model.activation_factor as u64,
            bytes,
        ])?,
    };
    let rows = match model.logits {
        LogitRows::None => 0,
        LogitRows::Last => 1,
        LogitRows::All => chunk,
    };
    let logits_bytes = product(&[rows, d.vocab_size as u64, F32_BYTES as u64])?;
    let total_bytes = [attention_bytes, activation_bytes, logits_bytes]
        .into_iter()
        .try_fold(kv_bytes, u64::checked_add)
        .ok_or_else(overflow)?;
    Ok(StepCost {
        step: step.index,
        kv_bytes,
        attention_bytes,
        activation_bytes,
        logits_bytes,
        total_bytes,
    })
}

/// The predicted working set of every step of `plan`.
///
/// # Errors
/// [`ScheduleError::LayerMismatch`] if the plan was configured for another number of layers
/// than the model has, and those of [`step_cost`].
pub fn predict(plan: &Plan, model: &CostModel) -> Result<Prediction> {
    if let Some(layers) = plan.config().num_layers
        && layers != model.dims.n_layers
    {
        return Err(ScheduleError::LayerMismatch {
            plan: layers,
            model: model.dims.n_layers,
        });
    }
    let steps = plan
        .steps()
        .iter()
        .map(|s| step_cost(s, model))
        .collect::<Result<Vec<_>>>()?;
    // The first step with the largest total (`max_by_key` would return the last).
    let peak_step = steps.iter().enumerate().fold(0, |best, (i, s)| {
        if s.total_bytes > steps[best].total_bytes {
            i
        } else {
            best
        }
    });
    Ok(Prediction { steps, peak_step })
}

/// The prediction of `plan`, if its peak fits `cap_bytes`.
///
/// # Errors
/// [`ScheduleError::ExceedsMemoryCap`] with the peak step, its predicted bytes, the cap and
/// the largest halved chunk and memory sizes that would fit, when it does not fit; and those
/// of [`predict`].
pub fn check_fits(plan: &Plan, model: &CostModel, cap_bytes: u64) -> Result<Prediction> {
    let prediction = predict(plan, model)?;
    let peak = prediction.peak();
    if peak.total_bytes > cap_bytes {
        let config = plan.config();
        let fits = |config: ScheduleConfig| {
            crate::plan(&config, plan.prompt_len())
                .and_then(|plan| predict(&plan, model))
                .is_ok_and(|p| p.peak_bytes() <= cap_bytes)
        };
        let smaller_chunk = halvings(config.chunk).find(|&chunk| {
            fits(ScheduleConfig {
                chunk,
                ..config.clone()
            })
        });
        let smaller_memory = match config.memory_type.prunes() {
            true => halvings(config.memory).find(|&memory| {
                fits(ScheduleConfig {
                    memory,
                    ..config.clone()
                })
            }),
            false => None,
        };
        return Err(ScheduleError::ExceedsMemoryCap {
            step: peak.step,
            predicted: peak.total_bytes,
            cap: cap_bytes,
            smaller_chunk,
            smaller_memory,
        });
    }
    Ok(prediction)
}

/// `n / 2, n / 4, ..., 1`.
fn halvings(n: usize) -> impl Iterator<Item = usize> {
    std::iter::successors(Some(n / 2), |&k| Some(k / 2)).take_while(|&k| k > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QueryBlocks;
    use crate::{MemoryType, ModelDims, plan};

    fn model() -> CostModel {
        let dims = ModelDims {
            n_layers: 2,
            n_heads: 4,
            n_kv_heads: 2,
            head_dim: 8,
            hidden_size: 32,
            vocab_size: 100,
        };
        CostModel::new(dims, 2)
            .with_attention(AttentionMode::Statistics {
                blocks: QueryBlocks::fixed(2),
            })
            .with_logits(LogitRows::All)
    }

    /// FM, L=10, C=4, M=3, one sink: chunks 4, 4, 2; memory read 0, 3, 3; sinks 0, 1, 1.
    /// One KV entry of one layer is 2 · 2 heads · 8 · 2 bytes = 64 bytes.
    ///
    /// | step | keys/layer | kv | attention | activations | logits | total |
    /// |---|---|---|---|---|---|---|
    /// | 0 | 0+0+4 = 4 | 64·8 = 512 | 4·2·4·4 = 128 | 4·32·8·2 = 2048 | 4·100·4 = 1600 | 4288 |
    /// | 1 | 1+3+4 = 8 | 64·16 = 1024 | 4·2·8·4 = 256 | 2048 | 1600 | 4928 |
    /// | 2 | 1+3+2 = 6 | 64·12 = 768 | 4·2·6·4 = 192 | 2·32·8·2 = 1024 | 800 | 2784 |
    #[test]
    fn hand_computed_example() {
        let config = ScheduleConfig::new(MemoryType::Fm, 4, 3).with_sinks(1);
        let plan = plan(&config, 10).unwrap();
        let prediction = predict(&plan, &model()).unwrap();
        let totals: Vec<u64> = prediction.steps().iter().map(|s| s.total_bytes).collect();
        assert_eq!(totals, [4288, 4928, 2784]);
        assert_eq!(
            prediction.steps()[1],
            StepCost {
                step: 1,
                kv_bytes: 1024,
                attention_bytes: 256,
                activation_bytes: 2048,
                logits_bytes: 1600,
                total_bytes: 4928,
            }
        );
        assert_eq!((prediction.peak_step(), prediction.peak_bytes()), (1, 4928));

        let fused = model()
            .with_attention(AttentionMode::Fused)
            .with_logits(LogitRows::Last);
        let prediction = predict(&plan, &fused).unwrap();
        assert_eq!(prediction.steps()[1].total_bytes, 1024 + 2048 + 400);
    }

    /// The same plan with one layer's `[memory; chunk]` at a time at 160 bytes per entry and
    /// 300 activation bytes per token, fused attention, last logits:
    ///
    /// | step | memories (2 layers) | running layer | kv | activations | logits | total |
    /// |---|---|---|---|---|---|---|
    /// | 0 | 64·0 = 0 | 160·4 = 640 | 640 | 4·300 = 1200 | 400 | 2240 |
    /// | 1 | 64·2·(1+3) = 512 | 160·8 = 1280 | 1792 | 1200 | 400 | 3392 |
    /// | 2 | 512 | 160·6 = 960 | 1472 | 2·300 = 600 | 400 | 2472 |
    #[test]
    fn one_layer_at_a_time_counts_every_memory_and_one_working_layer() {
        let config = ScheduleConfig::new(MemoryType::Fm, 4, 3).with_sinks(1);
        let plan = plan(&config, 10).unwrap();
        let model = model()
            .with_attention(AttentionMode::Fused)
            .with_logits(LogitRows::Last)
            .with_layer_kv(LayerKv::OneLayer {
                bytes_per_entry: 160,
            })
            .with_activation_bytes_per_token(300);
        let prediction = predict(&plan, &model).unwrap();
        let kv: Vec<u64> = prediction.steps().iter().map(|s| s.kv_bytes).collect();
        let totals: Vec<u64> = prediction.steps().iter().map(|s| s.total_bytes).collect();
        assert_eq!(kv, [640, 1792, 1472]);
        assert_eq!(totals, [2240, 3392, 2472]);
        assert_eq!(prediction.peak_step(), 1);
    }

    fn plan_of(config: &ScheduleConfig, prompt_len: usize) -> Plan {
        plan(config, prompt_len).unwrap()
    }

    #[test]
    fn cap_refuses_with_the_numbers() {
        let config = ScheduleConfig::new(MemoryType::Fm, 4, 3).with_sinks(1);
        let plan = plan(&config, 10).unwrap();
        assert!(check_fits(&plan, &model(), 4928).is_ok());
        let refused = check_fits(&plan, &model(), 4927).unwrap_err();
        let ScheduleError::ExceedsMemoryCap {
            step,
            predicted,
            cap,
            smaller_chunk,
            smaller_memory,
        } = refused.clone()
        else {
            panic!("{refused}");
        };
        assert_eq!((step, predicted, cap), (1, 4928, 4927));
        // The suggestions are the largest halvings that fit, and they do fit.
        assert_eq!((smaller_chunk, smaller_memory), (Some(2), Some(1)));
        for config in [
            ScheduleConfig::new(MemoryType::Fm, 2, 3).with_sinks(1),
            ScheduleConfig::new(MemoryType::Fm, 4, 1).with_sinks(1),
        ] {
            assert!(check_fits(&plan_of(&config, 10), &model(), 4927).is_ok());
        }
        assert!(
            refused
                .to_string()
                .contains("chunk 2 (same memory) or memory 1")
        );
        // Nothing fits a tiny cap.
        let none = check_fits(&plan, &model(), 10).unwrap_err();
        assert!(
            none.to_string().contains("no smaller chunk or memory fits"),
            "{none}"
        );
    }

    #[test]
    fn imdc_lowers_the_peak_of_fm() {
        let dims = ModelDims {
            n_layers: 32,
            n_heads: 32,
            n_kv_heads: 32,
            head_dim: 128,
            hidden_size: 4096,
            vocab_size: 32000,
        };
        let model = CostModel::new(dims, 2);
        let fm = plan(&ScheduleConfig::new(MemoryType::Fm, 1024, 1024), 32768).unwrap();
        let imdc = ScheduleConfig::new(MemoryType::Im, 1024, 1024).with_decremental(true);
        let imdc = plan(&imdc, 32768).unwrap();
        let (fm, imdc) = (
            predict(&fm, &model).unwrap(),
            predict(&imdc, &model).unwrap(),
        );
        assert!(imdc.peak_bytes() < fm.peak_bytes());
    }

    #[test]
    fn layer_mismatch_and_overflow_are_errors() {
        let config = ScheduleConfig::new(MemoryType::Fm, 4, 3).with_num_layers(3);
        let plan = plan(&config, 10).unwrap();
        assert_eq!(
            predict(&plan, &model()),
            Err(ScheduleError::LayerMismatch { plan: 3, model: 2 })
        );
        let mut huge = model();
        huge.dims.n_layers = usize::MAX;
        let plan = crate::plan(&ScheduleConfig::new(MemoryType::Fm, 4, 3), 10).unwrap();
        assert!(matches!(
            predict(&plan, &huge),
            Err(ScheduleError::Overflow { .. })
        ));
    }
}
