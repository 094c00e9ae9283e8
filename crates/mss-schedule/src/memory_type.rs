//! The memory types: fixed (FM), incremental (IM) and fixed-history incremental (FI), and the
//! two baselines every comparison draws, full attention and no memory.

use crate::ScheduleError;
use crate::names::Named;

/// How the memory read by the next chunk is chosen after each chunk (spec §2.4).
///
/// FM, IM and FI prune with a pruner; [`Full`](MemoryType::Full) and
/// [`Local`](MemoryType::Local) keep everything or nothing and call no pruner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemoryType {
    /// Full attention (the seed's `no_compress`): every entry is kept, so each chunk attends
    /// to the whole prefix. The memory size is ignored.
    Full,
    /// No memory (the seed's `local_window`): nothing is kept, not even sinks, so each chunk
    /// attends to itself only. Memory and sink sizes are ignored.
    Local,
    /// Fixed memory (`FM`, formerly `Chunk_Streaming`): after every chunk keep `M` of the
    /// non-sink entries of `[memory; chunk]`.
    Fm,
    /// Incremental memory (`IM`, formerly `Incremental_Chunk_Streaming_Dynamic_History`): keep
    /// `m_i` entries after chunk `i`, growing to `M` along an
    /// [`IncrementalType`](crate::IncrementalType); the whole memory is re-selected each step.
    Im,
    /// Fixed-history incremental memory (`FI`, formerly
    /// `Incremental_Chunk_Streaming_Fixed_History`): the old memory is frozen and a slice of
    /// the new chunk is appended ([`fi_slices`](crate::fi_slices)).
    Fi,
}

impl MemoryType {
    /// Every memory type: the two baselines, then the paper's three.
    pub const ALL: [MemoryType; 5] = [
        MemoryType::Full,
        MemoryType::Local,
        MemoryType::Fm,
        MemoryType::Im,
        MemoryType::Fi,
    ];

    /// Whether a pruner selects the memory (FM, IM, FI), rather than keeping everything or
    /// nothing.
    pub fn prunes(self) -> bool {
        !matches!(self, MemoryType::Full | MemoryType::Local)
    }

    /// The short name: `full`, `local`, `FM`, `IM` or `FI`.
    pub fn name(self) -> &'static str {
        match self {
            MemoryType::Full => "full",
            MemoryType::Local => "local",
            MemoryType::Fm => "FM",
            MemoryType::Im => "IM",
            MemoryType::Fi => "FI",
        }
    }

    /// The name the paper's scripts use.
    pub fn legacy_name(self) -> &'static str {
        Named::aliases(self)[0]
    }
}

impl Named for MemoryType {
    const KIND: &'static str = "memory type";
    const ALL: &'static [Self] = &MemoryType::ALL;
    fn name(self) -> &'static str {
        MemoryType::name(self)
    }
    /// The name the paper's scripts use (for the baselines, the seed's pruner name).
    fn aliases(self) -> &'static [&'static str] {
        match self {
            MemoryType::Full => &["no_compress", "full_attention"],
            MemoryType::Local => &["local_window", "none"],
            MemoryType::Fm => &["Chunk_Streaming"],
            MemoryType::Im => &["Incremental_Chunk_Streaming_Dynamic_History"],
            MemoryType::Fi => &["Incremental_Chunk_Streaming_Fixed_History"],
        }
    }
}

crate::display_and_parse_by_name!(MemoryType, ScheduleError);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names;

    #[test]
    fn parses_short_and_legacy_names_in_any_case() {
        let cases = [
            ("FM", MemoryType::Fm),
            ("fm", MemoryType::Fm),
            ("Chunk_Streaming", MemoryType::Fm),
            ("chunk-streaming", MemoryType::Fm),
            ("im", MemoryType::Im),
            (
                "INCREMENTAL_CHUNK_STREAMING_DYNAMIC_HISTORY",
                MemoryType::Im,
            ),
            ("Fi", MemoryType::Fi),
            ("Incremental_Chunk_Streaming_Fixed_History", MemoryType::Fi),
            ("Full", MemoryType::Full),
            ("no-compress", MemoryType::Full),
            ("local_window", MemoryType::Local),
        ];
        for (given, expected) in cases {
            assert_eq!(given.parse::<MemoryType>(), Ok(expected), "{given}");
        }
    }

    #[test]
    fn only_the_paper_types_prune() {
        let pruned: Vec<_> = MemoryType::ALL.into_iter().filter(|t| t.prunes()).collect();
        assert_eq!(pruned, [MemoryType::Fm, MemoryType::Im, MemoryType::Fi]);
    }

    #[test]
    fn display_round_trips() {
        for t in MemoryType::ALL {
            assert_eq!(t.to_string().parse::<MemoryType>(), Ok(t));
            assert_eq!(t.legacy_name().parse::<MemoryType>(), Ok(t));
        }
    }

    #[test]
    fn unknown_names_list_the_choices() {
        let err = "dual_memory".parse::<MemoryType>().unwrap_err();
        let message = err.to_string();
        for name in names::valid_names::<MemoryType>() {
            assert!(message.contains(name), "{message}");
        }
    }
}
