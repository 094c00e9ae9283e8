//! The pruners by name.

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;
use mss_core::Pruner;

use crate::{
    LocalWindow, NoCompress, PrunerError, chunk_prefix, h2o, mean_attention, random, roco, snapkv,
    streaming_llm, tova,
};

/// What the prefill loop keeps in memory for a pruner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryPolicy {
    /// Sinks plus the entries the pruner selects within the schedule's budget.
    Pruned,
    /// Everything: full attention.
    Everything,
    /// Nothing, not even sinks: each chunk sees itself only.
    Nothing,
}

/// Every pruner of the seed, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrunerKind {
    /// Sinks + most recent ([`streaming_llm`]).
    StreamingLlm,
    /// Oldest entries ([`chunk_prefix`]).
    ChunkPrefix,
    /// Cumulative heavy hitters ([`h2o`]).
    H2o,
    /// The last query's attention ([`tova`]).
    Tova,
    /// Mean attention from the chunk's queries ([`mean_attention`]).
    MeanAttention,
    /// Pooled mean attention, the paper's `conv` ([`snapkv`]).
    SnapKv,
    /// Mean attention with a standard-deviation filter ([`roco`]).
    Roco,
    /// Seeded random subset ([`random`]).
    Random,
    /// No memory ([`LocalWindow`]).
    LocalWindow,
    /// Full attention ([`NoCompress`]).
    NoCompress,
}

impl PrunerKind {
    /// Every pruner, in the order of the seed's list.
    pub const ALL: [PrunerKind; 10] = [
        Self::StreamingLlm,
        Self::ChunkPrefix,
        Self::H2o,
        Self::Tova,
        Self::MeanAttention,
        Self::SnapKv,
        Self::Roco,
        Self::Random,
        Self::LocalWindow,
        Self::NoCompress,
    ];

    /// The name users type (snake case; kebab case and `conv` for SnapKV are accepted too).
    pub fn name(self) -> &'static str {
        match self {
            Self::StreamingLlm => "streaming_llm",
            Self::ChunkPrefix => "chunk_prefix",
            Self::H2o => "h2o",
            Self::Tova => "tova",
            Self::MeanAttention => "mean_attention",
            Self::SnapKv => "snapkv",
            Self::Roco => "roco",
            Self::Random => "random",
            Self::LocalWindow => "local_window",
            Self::NoCompress => "no_compress",
        }
    }

    /// What the prefill loop keeps for this pruner.
    pub fn memory_policy(self) -> MemoryPolicy {
        match self {
            Self::LocalWindow => MemoryPolicy::Nothing,
            Self::NoCompress => MemoryPolicy::Everything,
            _ => MemoryPolicy::Pruned,
        }
    }

    /// A fresh pruner of this kind; `seed` drives `random` only.
    pub fn build<B: Backend>(self, seed: u64) -> Box<dyn Pruner<B>> {
        match self {
            Self::StreamingLlm => Box::new(streaming_llm()),
            Self::ChunkPrefix => Box::new(chunk_prefix()),
            Self::H2o => Box::new(h2o::<B>()),
            Self::Tova => Box::new(tova()),
            Self::MeanAttention => Box::new(mean_attention()),
            Self::SnapKv => Box::new(snapkv()),
            Self::Roco => Box::new(roco()),
            Self::Random => Box::new(random(seed)),
            Self::LocalWindow => Box::new(LocalWindow),
            Self::NoCompress => Box::new(NoCompress),
        }
    }

    fn valid_names() -> String {
        let mut names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
        names.push("conv");
        names.join(", ")
    }
}

impl fmt::Display for PrunerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PrunerKind {
    type Err = PrunerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normal = s.trim().to_ascii_lowercase().replace('-', "_");
        if normal == "conv" {
            return Ok(Self::SnapKv);
        }
        Self::ALL
            .into_iter()
            .find(|k| k.name() == normal)
            .ok_or_else(|| PrunerError::Unknown {
                given: s.to_owned(),
                valid: Self::valid_names(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_name_and_the_aliases() {
        for kind in PrunerKind::ALL {
            assert_eq!(kind.name().parse::<PrunerKind>().unwrap(), kind);
        }
        assert_eq!("conv".parse::<PrunerKind>().unwrap(), PrunerKind::SnapKv);
        assert_eq!(
            "Streaming-LLM".parse::<PrunerKind>().unwrap(),
            PrunerKind::StreamingLlm
        );
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = "perceiver".parse::<PrunerKind>().unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("perceiver") && msg.contains("snapkv") && msg.contains("conv"),
            "{msg}"
        );
    }
}
