//! The pruners by name.

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;
use mss_core::Pruner;
use mss_schedule::names::{self, Named};

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

/// Declares [`PrunerKind`] from the registry below: each pruner's variant, name, aliases and
/// constructor are written once, in one line.
macro_rules! registry {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $name:literal $(| $alias:literal)* => |$seed:pat_param| $build:expr;
    )*) => {
        /// Every pruner of the seed, by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum PrunerKind {
            $($(#[doc = $doc])* $variant,)*
        }

        impl PrunerKind {
            /// Every pruner, in the order of the seed's list.
            pub const ALL: [PrunerKind; [$($name),*].len()] = [$(Self::$variant),*];

            /// The name users type (snake case; case, `-` for `_` and aliases such as `conv`
            /// for SnapKV are accepted too).
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// A fresh pruner of this kind; `seed` drives `random` only.
            pub fn build<B: Backend>(self, seed: u64) -> Box<dyn Pruner<B>> {
                match self {
                    $(Self::$variant => {
                        let $seed: u64 = seed;
                        Box::new($build)
                    })*
                }
            }
        }

        impl Named for PrunerKind {
            const KIND: &'static str = "pruner";
            const ALL: &'static [Self] = &PrunerKind::ALL;
            fn name(self) -> &'static str {
                PrunerKind::name(self)
            }
            fn aliases(self) -> &'static [&'static str] {
                match self {
                    $(Self::$variant => &[$($alias),*],)*
                }
            }
        }
    };
}

// The registry: a new pruner is its file plus one line here.
registry! {
    /// Sinks + most recent ([`streaming_llm`]).
    StreamingLlm = "streaming_llm" => |_| streaming_llm();
    /// Oldest entries ([`chunk_prefix`]).
    ChunkPrefix = "chunk_prefix" => |_| chunk_prefix();
    /// Cumulative heavy hitters ([`h2o`]).
    H2o = "h2o" => |_| h2o::<B>();
    /// The last query's attention ([`tova`]).
    Tova = "tova" => |_| tova();
    /// Mean attention from the chunk's queries ([`mean_attention`]).
    MeanAttention = "mean_attention" => |_| mean_attention();
    /// Pooled mean attention, the paper's `conv` ([`snapkv`]).
    SnapKv = "snapkv" | "conv" => |_| snapkv();
    /// Mean attention with a standard-deviation filter ([`roco`]).
    Roco = "roco" => |_| roco();
    /// Seeded random subset ([`random`]).
    Random = "random" => |seed| random(seed);
    /// No memory ([`LocalWindow`]).
    LocalWindow = "local_window" => |_| LocalWindow;
    /// Full attention ([`NoCompress`]).
    NoCompress = "no_compress" => |_| NoCompress;
}

impl PrunerKind {
    /// What the prefill loop keeps for this pruner.
    pub fn memory_policy(self) -> MemoryPolicy {
        match self {
            Self::LocalWindow => MemoryPolicy::Nothing,
            Self::NoCompress => MemoryPolicy::Everything,
            _ => MemoryPolicy::Pruned,
        }
    }
}

impl fmt::Display for PrunerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PrunerKind {
    type Err = PrunerError;

    /// Parses a name or alias ([`names::parse`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(names::parse(s)?)
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
