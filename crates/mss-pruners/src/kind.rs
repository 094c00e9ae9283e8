//! The pruners by name.

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;
use mss_core::Pruner;
use mss_schedule::names::{self, Named};

use crate::{
    PrunerError, chunk_prefix, h2o, mean_attention, random, roco, snapkv, streaming_llm, tova,
};

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
}

impl fmt::Display for PrunerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PrunerKind {
    type Err = PrunerError;

    /// Parses a name or alias ([`names::parse`]); the baselines' names (`no_compress`,
    /// `local_window`) point to their memory types.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        names::parse(s).map_err(
            |unknown| match names::parse::<mss_schedule::MemoryType>(s) {
                Ok(memory_type) if !memory_type.prunes() => PrunerError::MemoryType {
                    given: s.trim().to_owned(),
                    memory_type,
                },
                _ => unknown.into(),
            },
        )
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
    fn the_baselines_point_to_their_memory_types() {
        let err = "no_compress".parse::<PrunerKind>().unwrap_err().to_string();
        assert!(err.contains("memory type `full`"), "{err}");
        let err = "Local-Window"
            .parse::<PrunerKind>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("memory type `local`"), "{err}");
        // A paper memory type is just an unknown pruner.
        assert!(matches!(
            "fm".parse::<PrunerKind>(),
            Err(PrunerError::Unknown(_))
        ));
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
