//! How a prompt is prefilled: pruner, memory type, chunk and memory sizes, positions.

use std::fmt;
use std::str::FromStr;

use mss_pruners::PrunerKind;
use mss_schedule::names::{self, Named};
use mss_schedule::{IncrementalType, MemoryType, QueryBlocks, ScheduleConfig};

use crate::{Error, Result};

/// A memory type as the command lines name it: FM, IM, IMDC (IM with decremental chunks) or
/// FI, parsed in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
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
    const ALL: &'static [Self] = &[Self::Fm, Self::Im, Self::Imdc, Self::Fi];
    fn name(self) -> &'static str {
        match self {
            Self::Fm => "FM",
            Self::Im => "IM",
            Self::Imdc => "IMDC",
            Self::Fi => "FI",
        }
    }
}

impl FromStr for Method {
    type Err = Error;

    /// Parses a name in any case ([`names::parse`]).
    fn from_str(s: &str) -> Result<Self> {
        Ok(names::parse(s)?)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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

impl FromStr for PositionMode {
    type Err = Error;

    /// Parses a name ([`names::parse`]).
    fn from_str(s: &str) -> Result<Self> {
        Ok(names::parse(s)?)
    }
}

impl fmt::Display for PositionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that decides how a prompt is prefilled.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefillConfig {
    /// The pruner that selects each layer's memory.
    pub pruner: PrunerKind,
    /// FM (fixed), IM (incremental) or FI (fixed history, append-only).
    pub memory_type: MemoryType,
    /// Reference chunk size `C`.
    pub chunk: usize,
    /// Memory size `M` (sinks excluded) after the last chunk.
    pub memory: usize,
    /// Sink tokens never evicted (the prompt's first tokens).
    pub sinks: usize,
    /// IM growth curve (ignored by FM and FI).
    pub incremental: IncrementalType,
    /// Decremental chunks (IMDC; IM only).
    pub decremental: bool,
    /// RoPE positions of memory and chunk.
    pub positions: PositionMode,
    /// Seed of the `random` pruner.
    pub seed: u64,
    /// How many queries a block of the attention that computes statistics holds (memory
    /// against kernel launches; see [`QueryBlocks`]).
    pub query_blocks: QueryBlocks,
}

impl PrefillConfig {
    /// FM-free defaults: 4 sinks, linear IM curve, no DC, compact positions, seed 0, default
    /// query blocks.
    pub fn new(pruner: PrunerKind, memory_type: MemoryType, chunk: usize, memory: usize) -> Self {
        Self {
            pruner,
            memory_type,
            chunk,
            memory,
            sinks: mss_schedule::DEFAULT_SINKS,
            incremental: IncrementalType::default(),
            decremental: false,
            positions: PositionMode::Compact,
            seed: 0,
            query_blocks: QueryBlocks::DEFAULT,
        }
    }

    /// [`new`](Self::new) for a [`Method`]: its memory type, with decremental chunks for IMDC.
    pub fn from_method(pruner: PrunerKind, method: Method, chunk: usize, memory: usize) -> Self {
        Self::new(pruner, method.memory_type(), chunk, memory)
            .with_decremental(method.decremental())
    }

    /// Full attention, fed in chunks of `chunk` (the `no_compress` baseline).
    pub fn full_attention(chunk: usize) -> Self {
        Self::new(PrunerKind::NoCompress, MemoryType::Fm, chunk, 0)
    }

    /// Sets the number of sinks.
    pub fn with_sinks(mut self, sinks: usize) -> Self {
        self.sinks = sinks;
        self
    }

    /// Sets the IM growth curve.
    pub fn with_incremental(mut self, incremental: IncrementalType) -> Self {
        self.incremental = incremental;
        self
    }

    /// Turns decremental chunks (IMDC) on or off.
    pub fn with_decremental(mut self, decremental: bool) -> Self {
        self.decremental = decremental;
        self
    }

    /// Sets the position mode.
    pub fn with_positions(mut self, positions: PositionMode) -> Self {
        self.positions = positions;
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
        ScheduleConfig::new(self.memory_type, self.chunk, self.memory)
            .with_sinks(self.sinks)
            .with_incremental(self.incremental)
            .with_decremental(self.decremental)
            .with_num_layers(num_layers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_sets_the_memory_type_and_decremental_chunks_together() {
        for (name, memory_type, decremental) in [
            ("fm", MemoryType::Fm, false),
            ("IM", MemoryType::Im, false),
            ("imdc", MemoryType::Im, true),
            ("Fi", MemoryType::Fi, false),
        ] {
            let method: Method = name.parse().unwrap();
            let config = PrefillConfig::from_method(PrunerKind::SnapKv, method, 64, 32);
            assert_eq!(
                (config.memory_type, config.decremental),
                (memory_type, decremental)
            );
            assert_eq!(method.to_string().parse::<Method>().unwrap(), method);
        }
        let err = "im-dc".parse::<Method>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown memory type `im-dc`; valid choices: FM, IM, IMDC, FI"
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
