//! `--shard i/n`: a deterministic share of a grid's runs and passkey cells, so that a grid can
//! be split over machines, GPUs or the tasks of a Slurm array. A run belongs to shard
//! `hash(key) mod n`: the same run lands in the same shard whatever else the grid holds, so a
//! widened grid keeps its shards' earlier results. Each shard writes its own results files and
//! takes its own lock, so shards may share a folder; `--report-only` merges every file there.

use std::fmt;
use std::str::FromStr;

/// One of `count` shares of a grid (`index` from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This share, `0..count`.
    pub index: usize,
    /// The number of shares.
    pub count: usize,
}

impl Shard {
    /// Whether the run named `key` is this shard's.
    pub fn owns(&self, key: &str) -> bool {
        (fnv1a(key.as_bytes()) % self.count as u64) as usize == self.index
    }

    /// The file of this shard's lines of `stem` (`results`, `needle`):
    /// `results.shard-0-of-3.jsonl`.
    pub fn file(&self, stem: &str) -> String {
        format!("{stem}.shard-{}-of-{}.jsonl", self.index, self.count)
    }

    /// The lock file of this shard.
    pub fn lock_file(&self) -> String {
        format!("eval.shard-{}-of-{}.lock", self.index, self.count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || format!("'{text}' is not a shard: give i/n with 0 <= i < n (e.g. 0/3)");
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let index: usize = index.trim().parse().map_err(|_| usage())?;
        let count: usize = count.trim().parse().map_err(|_| usage())?;
        match index < count {
            true => Ok(Self { index, count }),
            false => Err(usage()),
        }
    }
}

/// 64-bit FNV-1a: stable across platforms and Rust versions (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Whether `name` is a results file of `stem`: `results.jsonl` or a shard's.
pub fn is_file_of(stem: &str, name: &str) -> bool {
    name == format!("{stem}.jsonl")
        || (name.starts_with(&format!("{stem}.shard-")) && name.ends_with(".jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse() {
        assert_eq!("1/3".parse(), Ok(Shard { index: 1, count: 3 }));
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_key_has_exactly_one_shard_and_shards_are_balanced() {
        let keys: Vec<String> = (0..3000).map(|i| format!("a.txt#0|L=96|run{i}")).collect();
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        let mut sizes = [0; 3];
        for key in &keys {
            let owners: Vec<_> = shards.iter().filter(|s| s.owns(key)).collect();
            assert_eq!(owners.len(), 1, "{key}");
            sizes[owners[0].index] += 1;
        }
        assert!(sizes.iter().all(|&n| (900..1100).contains(&n)), "{sizes:?}");
        // A known value: the split must not change between versions.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn files_are_named_per_shard() {
        let shard = Shard { index: 0, count: 3 };
        assert_eq!(shard.file("results"), "results.shard-0-of-3.jsonl");
        assert!(is_file_of("results", "results.jsonl"));
        assert!(is_file_of("results", &shard.file("results")));
        assert!(!is_file_of("results", "needle.jsonl"));
        assert!(!is_file_of("results", "results.jsonl.bak"));
    }
}
