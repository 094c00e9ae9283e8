//! How a prompt is prefilled: pruner, memory type, chunk and memory sizes, positions.

use mss_pruners::PrunerKind;
use mss_schedule::names::Named;
use mss_schedule::{IncrementalType, MemoryType, QueryBlocks, ScheduleConfig};

use crate::Error;

/// A memory type as the command lines name it: full attention, no memory, FM, IM, IMDC (IM with
/// decremental chunks) or FI, parsed in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// Full attention (`no_compress`): the reference line.
    Full,
    /// No memory (`local_window`): each chunk sees itself only.
    Local,
    /// Fixed memory.
    Fm,
    /// Incremental memory.
    Im,
    /// Incremental memory with decremental chunks.
    Imdc,
    /// Fixed history (append-only).
    Fi,
}

impl Method {
    /// The schedule's memory type.
    pub fn memory_type(self) -> MemoryType {
        match self {
            Self::Full => MemoryType::Full,
            Self::Local => MemoryType::Local,
            Self::Fm => MemoryType::Fm,
            Self::Im | Self::Imdc => MemoryType::Im,
            Self::Fi => MemoryType::Fi,
        }
    }

    /// Whether chunks shrink as memory grows.
    pub fn decremental(self) -> bool {
        self == Self::Imdc
    }
}

impl Named for Method {
    const KIND: &'static str = "memory type";
    const ALL: &'static [Self] = &[
        Self::Full,
        Self::Local,
        Self::Fm,
        Self::Im,
        Self::Imdc,
        Self::Fi,
    ];
    fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Local => "local",
            Self::Fm => "FM",
            Self::Im => "IM",
            Self::Imdc => "IMDC",
            Self::Fi => "FI",
        }
    }
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::Full => &["no_compress"],
            Self::Local => &["local_window"],
            _ => &[],
        }
    }
}

mss_schedule::display_and_parse_by_name!(Method, Error);

/// Which RoPE positions memory entries and chunk tokens get at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PositionMode {
    /// As the paper: every step rotates `[sinks; memory; chunk]` at positions `0..T`, so a memory
    /// entry's position is its index in the compacted cache.
    #[default]
    Compact,
    /// Every entry keeps its position in the document.
    Original,
}

impl Named for PositionMode {
    const KIND: &'static str = "position mode";
    const ALL: &'static [Self] = &[Self::Compact, Self::Original];
    fn name(self) -> &'static str {
        match self {
            Self::Compact => "compact",
            Self::Original => "original",
        }
    }
}

mss_schedule::display_and_parse_by_name!(PositionMode, Error);

/// Everything that decides how a prompt is prefilled.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefillConfig {
    /// The pruner that selects each layer's memory under FM, IM and FI (the baselines, full
    /// attention and no memory, call none).
    pub pruner: PrunerKind,
    /// Memory type, chunk and memory sizes, sinks, IM curve, decremental chunks. Its layer
    /// count is set from the model when a prompt is prefilled.
    pub schedule: ScheduleConfig,
    /// RoPE positions of memory and chunk.
    pub positions: PositionMode,
    /// Seed of the `random` pruner.
    pub seed: u64,
    /// How many queries a block of the attention that computes statistics holds (memory
    /// against kernel launches; see [`QueryBlocks`]).
    pub query_blocks: QueryBlocks,
    /// Whether keys may be rotated at positions past the model's `max_position_embeddings`
    /// when its RoPE has no scaling (off: such a prefill is refused, as its numbers are outside
    /// what the model was trained on; on: to measure exactly that, as the paper's big chunks do).
    pub past_trained_positions: bool,
}

impl PrefillConfig {
    /// Chunks of `chunk` tokens, `memory` entries (sinks excluded) after the last one, and the
    /// schedule's defaults: 4 sinks, linear IM curve, no decremental chunks; compact positions,
    /// seed 0, default query blocks.
    pub fn new(pruner: PrunerKind, memory_type: MemoryType, chunk: usize, memory: usize) -> Self {
        Self::with_schedule(pruner, ScheduleConfig::new(memory_type, chunk, memory))
    }

    /// A prefill along `schedule`, with compact positions, seed 0 and default query blocks.
    pub fn with_schedule(pruner: PrunerKind, schedule: ScheduleConfig) -> Self {
        Self {
            pruner,
            schedule,
            positions: PositionMode::Compact,
            seed: 0,
            query_blocks: QueryBlocks::DEFAULT,
            past_trained_positions: false,
        }
    }

    /// [`new`](Self::new) for a [`Method`]: its memory type, with decremental chunks for IMDC.
    pub fn from_method(pruner: PrunerKind, method: Method, chunk: usize, memory: usize) -> Self {
        Self::new(pruner, method.memory_type(), chunk, memory)
            .with_decremental(method.decremental())
    }

    /// Full attention, fed in chunks of `chunk` (the `no_compress` baseline).
    pub fn full_attention(chunk: usize) -> Self {
        Self::new(PrunerKind::StreamingLlm, MemoryType::Full, chunk, 0)
    }

    /// The memory type.
    pub fn memory_type(&self) -> MemoryType {
        self.schedule.memory_type
    }

    /// The reference chunk size `C`.
    pub fn chunk(&self) -> usize {
        self.schedule.chunk
    }

    /// The memory size `M` (sinks excluded) after the last chunk.
    pub fn memory(&self) -> usize {
        self.schedule.memory
    }

    /// Sets the number of sinks.
    pub fn with_sinks(mut self, sinks: usize) -> Self {
        self.schedule.sinks = sinks;
        self
    }

    /// Sets the IM growth curve.
    pub fn with_incremental(mut self, incremental: IncrementalType) -> Self {
        self.schedule.incremental = incremental;
        self
    }

    /// Turns decremental chunks (IMDC) on or off.
    pub fn with_decremental(mut self, decremental: bool) -> Self {
        self.schedule.decremental = decremental;
        self
    }

    /// Sets the position mode.
    pub fn with_positions(mut self, positions: PositionMode) -> Self {
        self.positions = positions;
        self
    }

    /// Allows (or refuses, the default) rotating keys past the model's trained positions when
    /// its RoPE has no scaling.
    pub fn with_past_trained_positions(mut self, allowed: bool) -> Self {
        self.past_trained_positions = allowed;
        self
    }

    /// Sets the seed of the `random` pruner.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the query blocks of the attention that computes statistics.
    pub fn with_query_blocks(mut self, query_blocks: QueryBlocks) -> Self {
        self.query_blocks = query_blocks;
        self
    }

    /// The schedule configuration for a model of `num_layers` layers.
    pub fn schedule(&self, num_layers: usize) -> ScheduleConfig {
        self.schedule.clone().with_num_layers(num_layers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_sets_the_memory_type_and_decremental_chunks_together() {
        for (name, memory_type, decremental) in [
            ("full", MemoryType::Full, false),
            ("local_window", MemoryType::Local, false),
            ("fm", MemoryType::Fm, false),
            ("IM", MemoryType::Im, false),
            ("imdc", MemoryType::Im, true),
            ("Fi", MemoryType::Fi, false),
        ] {
            let method: Method = name.parse().unwrap();
            let config = PrefillConfig::from_method(PrunerKind::SnapKv, method, 64, 32);
            assert_eq!(
                (config.memory_type(), config.schedule.decremental),
                (memory_type, decremental)
            );
            assert_eq!(method.to_string().parse::<Method>().unwrap(), method);
        }
        let err = "im-dc".parse::<Method>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown memory type `im-dc`; valid choices: full, no_compress, local, local_window, \
             FM, IM, IMDC, FI"
        );
    }

    #[test]
    fn position_modes_parse_in_any_case() {
        assert_eq!(
            " Original".parse::<PositionMode>().unwrap(),
            PositionMode::Original
        );
        assert!("absolute".parse::<PositionMode>().is_err());
    }
}
