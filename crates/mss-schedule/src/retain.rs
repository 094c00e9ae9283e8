//! [`Retain`]: what one layer keeps after one step, the rule the prefill loop follows without
//! knowing which memory type asked for it.

use crate::{Budget, IncrementalType, LayerwiseCurve, MemoryType, Plan, Result, ScheduleError};

/// What one layer keeps of `[sinks; memory; chunk]` after one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retain {
    /// Every entry (full attention).
    Everything,
    /// No entry, not even the sinks (no memory: the next chunk sees itself only).
    Nothing,
    /// The sinks plus `budget` entries chosen among the old memory and the chunk (FM, IM).
    Reselect {
        /// Entries to choose, sinks excluded.
        budget: usize,
    },
    /// The sinks and the old memory whole, plus `slice` entries chosen among the chunk (FI).
    Append {
        /// Entries of the chunk to choose.
        slice: usize,
    },
}

impl Plan {
    /// What each of `n_layers` layers keeps after `step`. `retention` is every layer's running
    /// mean memory retention, read only when [`measures_retention`](Plan::measures_retention)
    /// (pass `&[]` otherwise).
    ///
    /// # Errors
    /// [`ScheduleError::StepOutOfRange`], [`ScheduleError::LayerMismatch`] when the plan was
    /// made for another layer count, and those of [`resolve_budget`](Plan::resolve_budget).
    pub fn retain(&self, step: usize, n_layers: usize, retention: &[f64]) -> Result<Vec<Retain>> {
        if let Some(planned) = self.config.num_layers
            && planned != n_layers
        {
            return Err(ScheduleError::LayerMismatch {
                plan: planned,
                model: n_layers,
            });
        }
        let planned = self.step(step)?;
        let uniform = |rule| Ok(vec![rule; n_layers]);
        match self.config.memory_type {
            MemoryType::Full => uniform(Retain::Everything),
            MemoryType::Local => uniform(Retain::Nothing),
            MemoryType::Fi => uniform(Retain::Append {
                slice: planned.fi_slice.unwrap_or(0),
            }),
            MemoryType::Fm | MemoryType::Im => {
                let budget = self.resolve_budget(step, retention)?;
                let mismatch = ScheduleError::LayerMismatch {
                    plan: match &budget {
                        Budget::PerLayer(layers) => layers.len(),
                        _ => 0,
                    },
                    model: n_layers,
                };
                (0..n_layers)
                    .map(|layer| {
                        let budget = budget.layer(layer).ok_or(mismatch.clone())?;
                        Ok(Retain::Reselect { budget })
                    })
                    .collect()
            }
        }
    }

    /// Whether [`retain`](Plan::retain) reads the layers' measured retention: IM along the
    /// `adaptive` curve. The loop measures it only then.
    pub fn measures_retention(&self) -> bool {
        self.config.memory_type == MemoryType::Im
            && self.config.incremental == IncrementalType::Layerwise(LayerwiseCurve::Adaptive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ScheduleConfig, plan};

    fn rules(config: ScheduleConfig, prompt_len: usize, retention: &[f64]) -> Vec<Vec<Retain>> {
        let layers = config.num_layers.unwrap_or(2);
        let plan = plan(&config.with_num_layers(layers), prompt_len).unwrap();
        (0..plan.n_chunks())
            .map(|step| plan.retain(step, layers, retention).unwrap())
            .collect()
    }

    use Retain::*;

    /// L = 40, C = 10, M = 8, two layers: what each memory type asks of every layer per step.
    #[test]
    fn rules_per_memory_type() {
        let config = |t| ScheduleConfig::new(t, 10, 8);
        let reselect = |budget| vec![Reselect { budget }; 2];
        let cases: [(ScheduleConfig, Vec<Vec<Retain>>); 5] = [
            (config(MemoryType::Full), vec![vec![Everything; 2]; 4]),
            (config(MemoryType::Local), vec![vec![Nothing; 2]; 4]),
            (config(MemoryType::Fm), vec![reselect(8); 4]),
            // Linear growth to M over four chunks.
            (
                config(MemoryType::Im),
                vec![reselect(2), reselect(4), reselect(6), reselect(8)],
            ),
            // IMDC keeps what IM keeps; only the chunks differ.
            (
                config(MemoryType::Im).with_decremental(true),
                vec![reselect(2), reselect(4), reselect(6), reselect(8)],
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(rules(config.clone(), 40, &[]), expected, "{config:?}");
        }
        let fi = rules(config(MemoryType::Fi), 40, &[]);
        assert_eq!(fi, vec![vec![Append { slice: 2 }; 2]; 4]);
    }

    #[test]
    fn layerwise_curves_give_each_layer_its_budget() {
        let config = ScheduleConfig::new(MemoryType::Im, 1024, 1024)
            .with_incremental(LayerwiseCurve::SquareSqrt)
            .with_num_layers(2);
        let plan = plan(&config, 8192).unwrap();
        let last = plan.retain(7, 2, &[]).unwrap();
        assert_eq!(
            last,
            vec![Reselect { budget: 1024 }; 2],
            "M for every layer at the end"
        );
        let third = plan.retain(2, 2, &[]).unwrap();
        assert_ne!(third[0], third[1], "the layers grow along different curves");
        assert!(!plan.measures_retention());
    }

    #[test]
    fn only_adaptive_reads_retention() {
        let adaptive = ScheduleConfig::new(MemoryType::Im, 1024, 1024)
            .with_incremental(LayerwiseCurve::Adaptive)
            .with_num_layers(2);
        let plan = plan(&adaptive, 8192).unwrap();
        assert!(plan.measures_retention());
        let first = plan.retain(2, 2, &[1.0, 0.0]).unwrap();
        let second = plan.retain(2, 2, &[0.0, 1.0]).unwrap();
        assert_ne!(first, second, "the budget follows the measured retention");
        assert!(
            plan.retain(2, 2, &[]).is_err(),
            "it needs one value per layer"
        );
        for t in MemoryType::ALL.into_iter().filter(|&t| t != MemoryType::Im) {
            let plan = crate::plan(&ScheduleConfig::new(t, 10, 8), 40).unwrap();
            assert!(!plan.measures_retention(), "{t}");
        }
    }

    #[test]
    fn refuses_another_layer_count_and_steps_beyond_the_plan() {
        let plan = plan(
            &ScheduleConfig::new(MemoryType::Fm, 10, 8).with_num_layers(2),
            40,
        );
        let plan = plan.unwrap();
        assert_eq!(
            plan.retain(0, 3, &[]),
            Err(ScheduleError::LayerMismatch { plan: 2, model: 3 })
        );
        assert!(matches!(
            plan.retain(4, 2, &[]),
            Err(ScheduleError::StepOutOfRange { step: 4, .. })
        ));
    }
}
