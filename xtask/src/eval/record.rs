//! One line of `results.jsonl`: a finished (or failed) run, and the file that holds them.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// A run of one method on one document, as written to `results.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Identifies the run; a rerun skips keys already present.
    pub key: String,
    /// The model folder's name (empty in results written before it was recorded).
    #[serde(default)]
    pub model: String,
    /// `ok`, `error` (the library refused the configuration) or `panic` (retried next time).
    pub status: String,
    /// Why the run failed (bad configuration, ...).
    pub error: Option<String>,
    /// Document name (`file#index`).
    pub doc: String,
    /// Tokens in the document.
    pub doc_tokens: usize,
    /// Pruner name.
    pub pruner: String,
    /// `full`, `FM`, `IM`, `IMDC` or `FI`.
    pub method: String,
    /// IM growth curve.
    pub incremental: String,
    /// Reference chunk size.
    pub chunk: usize,
    /// RoPE with the paper's step-wise dynamic NTK (absent in older records: false).
    #[serde(default)]
    pub step_ntk: bool,
    /// Memory size M.
    pub memory: usize,
    /// Sinks.
    pub sinks: usize,
    /// RoPE positions of memory entries (`compact` or `original`; absent in older records:
    /// `compact`, the only mode they ran).
    #[serde(default = "compact")]
    pub positions: String,
    /// `exp` of the mean NLL of the `doc_tokens - 1` predictions.
    pub perplexity: Option<f64>,
    /// Mean NLL.
    pub mean_nll: Option<f64>,
    /// Time to first token: the whole prefill plus the first token's choice, seconds.
    pub ttft_s: Option<f64>,
    /// Every timed prefill's seconds (`--repeats`); `ttft_s` is their median.
    #[serde(default)]
    pub ttft_runs: Vec<f64>,
    /// `doc_tokens / ttft_s`.
    pub tokens_per_s: Option<f64>,
    /// Peak memory during the timed prefill, bytes (see `memory_measure`).
    pub peak_bytes: Option<u64>,
    /// Peak of live heap bytes during the timed prefill over those live before it (weights and
    /// corpus excluded), bytes: the prefill's working set.
    pub peak_growth_bytes: Option<u64>,
    /// How memory was measured.
    pub memory_measure: String,
    /// The cost model's peak working set of the timed prefill (`Prefiller::predict`: KV,
    /// attention block, activations, logits; weights excluded), bytes; none for full attention.
    #[serde(default)]
    pub predicted_peak_bytes: Option<u64>,
    /// Chunk lengths actually used.
    pub chunks: Vec<usize>,
    /// Memory entries per KV head after each step (largest layer, sinks included).
    pub memory_sizes: Vec<usize>,
    /// Backend and dtype.
    pub backend: String,
    /// When the run finished (seconds since the Unix epoch).
    pub finished_at: u64,
}

/// Seconds since the Unix epoch (0 if the clock is before it): when a run finished.
pub fn now() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A line of a results file (`results.jsonl`, `needle.jsonl`): what resuming needs of it.
pub trait RunLine: serde::de::DeserializeOwned {
    /// The run's key.
    fn key(&self) -> &str;
    /// `ok`, `error` or `panic`.
    fn status(&self) -> &str;
}

impl RunLine for Record {
    fn key(&self) -> &str {
        &self.key
    }

    fn status(&self) -> &str {
        &self.status
    }
}

/// Every line of `stem`'s files in `folder` (`results.jsonl`, then every shard's file in name
/// order) that parses as `T`.
pub fn read_folder<T: serde::de::DeserializeOwned>(
    folder: &Path,
    stem: &str,
) -> anyhow::Result<Vec<T>> {
    let mut files: Vec<String> = match std::fs::read_dir(folder) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| super::shard::is_file_of(stem, name))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("listing {}", folder.display())),
    };
    // The unsharded file first, then the shards'.
    files.sort_by_key(|name| (name != &format!("{stem}.jsonl"), name.clone()));
    let mut lines = Vec::new();
    for name in files {
        lines.extend(read_lines(&folder.join(name))?);
    }
    Ok(lines)
}

/// Keys of the runs in `stem`'s files of `folder` (every shard's) not to be run again.
pub fn done_keys_in<T: RunLine>(folder: &Path, stem: &str) -> anyhow::Result<HashSet<String>> {
    Ok(read_folder::<T>(folder, stem)?
        .iter()
        .filter(|r| super::guard::is_done(r.status()))
        .map(|r| r.key().to_owned())
        .collect())
}

/// Every line of `path` that parses as `T`; a torn line (a crash mid-write) or any other
/// line that is not one (even one cut inside a multi-byte character) is skipped.
pub fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut records = Vec::new();
    // Bytes, not text: one line of invalid UTF-8 must not make the whole file unreadable.
    for line in BufReader::new(file).split(b'\n') {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if let Ok(record) = serde_json::from_slice::<T>(&line) {
            records.push(record);
        }
    }
    Ok(records)
}

/// Appends one record and flushes it to disk at once, so nothing finished is lost.
pub fn append(path: &Path, record: &Record) -> anyhow::Result<()> {
    append_line(path, record)
}

/// Appends one JSON line and flushes it to disk at once.
pub fn append_line<T: Serialize>(path: &Path, record: &T) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    // A previous crash may have left a torn line without its newline: start on a fresh line.
    let len = file.metadata()?.len();
    let mut line = String::new();
    if len > 0 && !ends_with_newline(path)? {
        line.push('\n');
    }
    line.push_str(&serde_json::to_string(record)?);
    line.push('\n');
    file.write_all(line.as_bytes())?;
    file.sync_data()?;
    Ok(())
}

fn ends_with_newline(path: &Path) -> anyhow::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// A finished run with made-up figures, for tests.
fn compact() -> String {
    "compact".into()
}

#[cfg(test)]
pub fn example(key: &str) -> Record {
    Record {
        key: key.into(),
        model: "tiny".into(),
        status: "ok".into(),
        error: None,
        doc: "a.txt#0".into(),
        doc_tokens: 10,
        pruner: "snapkv".into(),
        method: "FM".into(),
        incremental: "linear".into(),
        chunk: 4,
        step_ntk: false,
        memory: 4,
        sinks: 4,
        positions: "compact".into(),
        perplexity: Some(3.0),
        mean_nll: Some(1.1),
        ttft_s: Some(0.5),
        ttft_runs: vec![0.5],
        tokens_per_s: Some(20.0),
        peak_bytes: Some(1),
        peak_growth_bytes: Some(1),
        memory_measure: "test".into(),
        predicted_peak_bytes: Some(2),
        chunks: vec![4, 4, 2],
        memory_sizes: vec![8, 8, 8],
        backend: "flex f32".into(),
        finished_at: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Fuzzing the results reader (issue 14): a file of records with one line damaged
        /// (cut anywhere, even inside a multi-byte character; a byte overwritten; garbage
        /// appended) reads without error and keeps every undamaged record, in order.
        #[test]
        fn damaged_lines_lose_only_themselves(
            n in 1usize..6,
            damaged in any::<usize>(),
            at in any::<usize>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
            garbage in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let records: Vec<Record> = (0..n)
                .map(|i| Record { error: Some(format!("é{i}ü")), ..example(&format!("k{i}")) })
                .collect();
            let mut lines: Vec<Vec<u8>> = records
                .iter()
                .map(|r| serde_json::to_vec(r).unwrap())
                .collect();
            let damaged = damaged % n;
            let line = &mut lines[damaged];
            let at = at % line.len();
            if cut {
                line.truncate(at);
            } else {
                line[at] = byte;
            }
            let mut bytes = lines.join(&b'\n');
            bytes.push(b'\n');
            bytes.extend(garbage.iter().filter(|&&b| b != b'\n'));
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("results.jsonl");
            std::fs::write(&path, &bytes).unwrap();
            let read = read_lines::<Record>(&path).unwrap();
            let survivors: Vec<&Record> =
                records.iter().enumerate().filter(|(i, _)| *i != damaged).map(|(_, r)| r).collect();
            // The damaged line may still parse (a changed digit): the survivors are then a
            // subsequence of what is read, beside at most that one.
            prop_assert!(read.len() <= n);
            let mut rest = read.iter();
            for survivor in survivors {
                prop_assert!(rest.any(|r| r == survivor), "{} was lost", survivor.key);
            }
        }

        #[test]
        fn arbitrary_bytes_read_without_error(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("results.jsonl");
            std::fs::write(&path, &bytes).unwrap();
            prop_assert!(read_lines::<Record>(&path).is_ok());
        }
    }

    #[test]
    fn records_written_before_the_prediction_existed_still_read() {
        let mut line = serde_json::to_value(example("old")).unwrap();
        let fields = line.as_object_mut().unwrap();
        fields.remove("predicted_peak_bytes");
        fields.remove("step_ntk");
        fields.remove("positions");
        let old: Record = serde_json::from_value(line).unwrap();
        assert_eq!(old.predicted_peak_bytes, None);
        assert!(!old.step_ntk);
        assert_eq!(old.positions, "compact");
        assert_eq!(old.key, "old");
    }

    #[test]
    fn finished_and_refused_runs_are_done_panicked_ones_are_retried() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        assert!(
            done_keys_in::<Record>(dir.path(), "results")
                .unwrap()
                .is_empty(),
            "no file, nothing done"
        );
        for (key, status) in [("a", "ok"), ("b", "error"), ("c", "panic")] {
            let record = Record {
                status: status.into(),
                ..example(key)
            };
            append(&path, &record).unwrap();
        }
        // A shard's file counts too.
        let shard = dir.path().join("results.shard-1-of-2.jsonl");
        append(&shard, &example("d")).unwrap();
        let mut done: Vec<String> = done_keys_in::<Record>(dir.path(), "results")
            .unwrap()
            .into_iter()
            .collect();
        done.sort();
        assert_eq!(done, ["a", "b", "d"]);
    }

    #[test]
    fn appended_records_survive_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        append(&path, &example("a")).unwrap();
        // A crash mid-write leaves half a line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"key\": \"b\", \"sta")
            .unwrap();
        append(&path, &example("c")).unwrap();
        let keys: Vec<String> = read_lines::<Record>(&path)
            .unwrap()
            .into_iter()
            .map(|r| r.key)
            .collect();
        assert_eq!(keys, vec!["a", "c"]);
    }
}
