//! [`ScheduleConfig`]: the settings from which a [`Plan`](crate::Plan) is computed.

use crate::limits::{MAX_LAYERS, MAX_TOKENS, at_most};
use crate::{IncrementalType, MemoryType, Result, ScheduleError};

/// Sink tokens in every configuration of the paper.
pub const DEFAULT_SINKS: usize = 4;

/// The settings of a memory and chunk schedule (the reference's `mem_perceiver_config`).
///
/// Build it with [`new`](ScheduleConfig::new) and the `with_*` setters; [`plan`](crate::plan)
/// validates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleConfig {
    /// FM, IM or FI, or a baseline (full attention, no memory).
    pub memory_type: MemoryType,
    /// The reference chunk size `C`; under decremental chunks it still sets `n = ceil(L / C)`.
    pub chunk: usize,
    /// The memory budget `M` (sinks excluded) after the last chunk; 0 keeps no memory.
    /// `M ≥ L` is allowed: nothing is pruned.
    pub memory: usize,
    /// Sink tokens `S`: the prompt's first `S` tokens, kept in front of the memory for good.
    pub sinks: usize,
    /// How IM grows; ignored by FM and FI (the reference always carries one, `linear` by
    /// default).
    pub incremental: IncrementalType,
    /// Decremental chunks (IMDC); IM only.
    pub decremental: bool,
    /// The number of layers; needed by layer-wise incremental types, optional otherwise.
    pub num_layers: Option<usize>,
}

impl ScheduleConfig {
    /// A configuration with [`DEFAULT_SINKS`] sinks, `linear` growth, standard chunks and no
    /// layer count.
    pub fn new(memory_type: MemoryType, chunk: usize, memory: usize) -> Self {
        ScheduleConfig {
            memory_type,
            chunk,
            memory,
            sinks: DEFAULT_SINKS,
            incremental: IncrementalType::default(),
            decremental: false,
            num_layers: None,
        }
    }

    /// Sets the number of sink tokens.
    pub fn with_sinks(mut self, sinks: usize) -> Self {
        self.sinks = sinks;
        self
    }

    /// Sets how IM grows.
    pub fn with_incremental(mut self, incremental: impl Into<IncrementalType>) -> Self {
        self.incremental = incremental.into();
        self
    }

    /// Turns decremental chunks on or off.
    pub fn with_decremental(mut self, decremental: bool) -> Self {
        self.decremental = decremental;
        self
    }

    /// Sets the number of layers.
    pub fn with_num_layers(mut self, num_layers: usize) -> Self {
        self.num_layers = Some(num_layers);
        self
    }

    /// The configuration a plan of `prompt_len` tokens follows. The baselines become fixed
    /// memories: full attention keeps the whole prompt (`M = L`), no memory keeps nothing,
    /// sinks included (`M = S = 0`). The paper's types are returned as they are.
    pub fn for_prompt(&self, prompt_len: usize) -> Self {
        match self.memory_type {
            MemoryType::Full => ScheduleConfig {
                memory: prompt_len,
                ..self.clone()
            },
            MemoryType::Local => ScheduleConfig {
                memory: 0,
                sinks: 0,
                ..self.clone()
            },
            _ => self.clone(),
        }
    }

    /// Whether budgets differ between layers: IM with a layer-wise incremental type.
    pub fn is_layerwise(&self) -> bool {
        self.memory_type == MemoryType::Im && self.incremental.is_layerwise()
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`ScheduleError::Zero`] for a zero chunk or layer count, [`ScheduleError::TooLarge`]
    /// for sizes beyond [`MAX_TOKENS`](crate::MAX_TOKENS) or
    /// [`MAX_LAYERS`](crate::MAX_LAYERS), [`ScheduleError::DecrementalNeedsIm`] for
    /// decremental chunks with FM or FI, [`ScheduleError::MissingLayers`] for a layer-wise
    /// type without a layer count.
    pub fn validate(&self) -> Result<()> {
        if self.chunk == 0 {
            return Err(ScheduleError::Zero { what: "chunk size" });
        }
        at_most("chunk size", self.chunk, MAX_TOKENS)?;
        at_most("memory", self.memory, MAX_TOKENS)?;
        at_most("sink count", self.sinks, MAX_TOKENS)?;
        if let Some(layers) = self.num_layers {
            if layers == 0 {
                return Err(ScheduleError::Zero {
                    what: "number of layers",
                });
            }
            at_most("number of layers", layers, MAX_LAYERS)?;
        }
        if self.decremental && self.memory_type != MemoryType::Im {
            return Err(ScheduleError::DecrementalNeedsIm {
                memory_type: self.memory_type,
            });
        }
        if self.is_layerwise() && self.num_layers.is_none() {
            return Err(ScheduleError::MissingLayers {
                curve: self.incremental.name(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Curve, LayerwiseCurve};

    #[test]
    fn defaults() {
        let c = ScheduleConfig::new(MemoryType::Im, 1024, 1024);
        assert_eq!(c.sinks, 4);
        assert_eq!(c.incremental, Curve::Linear.into());
        assert!(!c.decremental);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn rejects_bad_settings() {
        let im = ScheduleConfig::new(MemoryType::Im, 1024, 1024);
        let zero = ScheduleConfig {
            chunk: 0,
            ..im.clone()
        };
        assert_eq!(
            zero.validate(),
            Err(ScheduleError::Zero { what: "chunk size" })
        );
        let huge = ScheduleConfig {
            memory: usize::MAX,
            ..im.clone()
        };
        assert!(matches!(
            huge.validate(),
            Err(ScheduleError::TooLarge { what: "memory", .. })
        ));
        let sinks = im.clone().with_sinks(usize::MAX);
        assert!(sinks.validate().is_err());
        assert!(im.clone().with_num_layers(0).validate().is_err());
        assert!(im.clone().with_num_layers(usize::MAX).validate().is_err());
        let layerwise = im.clone().with_incremental(LayerwiseCurve::Adaptive);
        assert_eq!(
            layerwise.validate(),
            Err(ScheduleError::MissingLayers { curve: "adaptive" })
        );
        assert_eq!(layerwise.with_num_layers(2).validate(), Ok(()));
    }

    #[test]
    fn decremental_needs_im() {
        for t in [MemoryType::Fm, MemoryType::Fi] {
            let c = ScheduleConfig::new(t, 1024, 1024).with_decremental(true);
            assert_eq!(
                c.validate(),
                Err(ScheduleError::DecrementalNeedsIm { memory_type: t })
            );
        }
    }

    #[test]
    fn baselines_become_fixed_memories_of_the_whole_prompt_or_nothing() {
        let full = ScheduleConfig::new(MemoryType::Full, 8, 3).with_sinks(2);
        assert_eq!(
            (full.for_prompt(50).memory, full.for_prompt(50).sinks),
            (50, 2)
        );
        let local = ScheduleConfig::new(MemoryType::Local, 8, 3).with_sinks(2);
        assert_eq!(
            (local.for_prompt(50).memory, local.for_prompt(50).sinks),
            (0, 0)
        );
        let fm = ScheduleConfig::new(MemoryType::Fm, 8, 3).with_sinks(2);
        assert_eq!(fm.for_prompt(50), fm);
    }

    #[test]
    fn layerwise_only_matters_for_im() {
        let fm = ScheduleConfig::new(MemoryType::Fm, 1024, 1024)
            .with_incremental(LayerwiseCurve::SquareSqrt);
        assert!(!fm.is_layerwise());
        assert_eq!(fm.validate(), Ok(()));
    }
}
