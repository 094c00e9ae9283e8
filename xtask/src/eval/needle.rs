//! A passkey retrieval task beside perplexity: a five-digit passkey is planted at a chosen depth
//! of a long haystack (the corpus' first document), the prompt ends with a question, and the
//! run is correct when the greedy continuation contains the passkey. Perplexity alone hides a
//! memory that forgot the one thing that mattered.

use burn::prelude::*;
use mss::{Tokenizer, Transformer};
use serde::{Deserialize, Serialize};

use super::grid::RunSpec;

/// One needle run, as written to `needle.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeedleRecord {
    /// Identifies the run.
    pub key: String,
    /// `ok`, `error` (refused) or `panic` (retried next time).
    pub status: String,
    /// Why the run failed.
    pub error: Option<String>,
    /// Pruner.
    pub pruner: String,
    /// Method.
    pub method: String,
    /// Chunk size.
    pub chunk: usize,
    /// Memory size.
    pub memory: usize,
    /// Prompt length in tokens.
    pub context_tokens: usize,
    /// Where the passkey sits, as a fraction of the haystack (0 = start, 1 = end).
    pub depth: f64,
    /// The planted passkey.
    pub passkey: String,
    /// What the model answered.
    pub answer: String,
    /// Whether the answer contains the passkey.
    pub correct: bool,
    /// When the run finished (seconds since the Unix epoch).
    pub finished_at: u64,
}

const INTRO: &str =
    "There is an important passkey hidden in a long text. Find it and remember it.\n\n";
const QUESTION: &str = "\n\nWhat is the passkey? The passkey is";

/// The passkey of a (context, depth) cell: five digits, fixed by the cell.
pub fn passkey(context_tokens: usize, depth: f64) -> String {
    let seed =
        (context_tokens as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (depth * 1000.0) as u64;
    format!(
        "{:05}",
        10_000 + seed.wrapping_mul(0xBF58_476D_1CE4_E5B9) % 90_000
    )
}

/// The prompt: intro, haystack with the needle at `depth`, question; exactly `context_tokens`
/// long when the haystack has enough tokens.
pub fn prompt(
    tokenizer: &Tokenizer,
    haystack: &[u32],
    context_tokens: usize,
    depth: f64,
) -> mss::Result<Vec<u32>> {
    let key = passkey(context_tokens, depth);
    let needle = tokenizer.encode(
        &format!(" The passkey is {key}. Remember it. {key} is the passkey. "),
        false,
    )?;
    let intro = tokenizer.encode(INTRO, false)?;
    let question = tokenizer.encode(QUESTION, false)?;
    let fixed = intro.len() + needle.len() + question.len();
    let fill = context_tokens.saturating_sub(fixed).min(haystack.len());
    let at = ((fill as f64) * depth.clamp(0.0, 1.0)).round() as usize;
    let mut ids = intro;
    ids.extend_from_slice(&haystack[..at]);
    ids.extend(needle);
    ids.extend_from_slice(&haystack[at..fill]);
    ids.extend(question);
    Ok(ids)
}

/// The key of a cell in `needle.jsonl`.
pub fn key(spec: &RunSpec, context_tokens: usize, depth: f64) -> String {
    // IM's curve is named only away from the default, so that older folders' keys still match.
    let curve = match spec.method == super::grid::Method::Im
        && spec.incremental != mss::schedule::IncrementalType::default()
    {
        true => format!("|curve={}", spec.incremental),
        false => String::new(),
    };
    format!(
        "needle|N={context_tokens}|depth={depth}|{}|{}|C={}|M={}{}{}{curve}",
        spec.pruner_name(),
        spec.method,
        spec.chunk,
        spec.memory,
        spec.rope_suffix(),
        spec.setting_suffix()
    )
}

/// The passkey records of `folder` (every shard's file), each cell once (its last record),
/// under today's keys: from 2026-12-01 to 12-03 the baselines' keys named the pruner they do
/// not call (`streaming_llm|full`) instead of `no_compress|full` and `local_window|local`,
/// so folders of those days hold such cells, some twice.
pub fn read_folder(folder: &std::path::Path) -> anyhow::Result<Vec<NeedleRecord>> {
    let mut records = super::record::read_folder::<NeedleRecord>(folder, "needle")?;
    for r in &mut records {
        for (old, new) in [
            ("|streaming_llm|full|", "|no_compress|full|"),
            ("|streaming_llm|local|", "|local_window|local|"),
        ] {
            r.key = r.key.replace(old, new);
        }
    }
    let mut last = std::collections::HashMap::new();
    for (i, r) in records.iter().enumerate() {
        last.insert(r.key.clone(), i);
    }
    Ok(records
        .into_iter()
        .enumerate()
        .filter(|(i, r)| last[&r.key] == *i)
        .map(|(_, r)| r)
        .collect())
}

impl super::record::RunLine for NeedleRecord {
    fn key(&self) -> &str {
        &self.key
    }

    fn status(&self) -> &str {
        &self.status
    }
}

/// Runs one cell.
pub fn run<B: Backend>(
    model: &Transformer<B>,
    tokenizer: &Tokenizer,
    haystack: &[u32],
    spec: &RunSpec,
    context_tokens: usize,
    depth: f64,
) -> NeedleRecord {
    let key = key(spec, context_tokens, depth);
    let passkey = passkey(context_tokens, depth);
    let mut record = NeedleRecord {
        key,
        status: super::guard::OK.into(),
        error: None,
        pruner: spec.pruner_name().into(),
        method: spec.method.to_string(),
        chunk: spec.chunk,
        memory: spec.memory,
        context_tokens,
        depth,
        passkey: passkey.clone(),
        answer: String::new(),
        correct: false,
        finished_at: 0,
    };
    let answered = super::guard::run_into(&mut record.status, &mut record.error, || {
        let ids = prompt(tokenizer, haystack, context_tokens, depth)?;
        super::qa::answer(model, tokenizer, spec, &ids, &[], 8)
    });
    if let Some(answer) = answered {
        record.correct = answer.contains(&passkey);
        record.answer = answer;
    }
    record.finished_at = super::record::now();
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_im_curve_away_from_the_default() {
        let grids = crate::eval::config_file::EvalFile::preset("default")
            .unwrap()
            .grids(std::path::Path::new("default"))
            .unwrap();
        let runs = grids[0].runs();
        let im = runs
            .iter()
            .find(|r| r.method == super::super::grid::Method::Im)
            .unwrap();
        let plain = key(im, 2048, 0.5);
        assert!(!plain.contains("curve"), "{plain}");
        let square = RunSpec {
            incremental: "square".parse().unwrap(),
            ..im.clone()
        };
        assert_eq!(key(&square, 2048, 0.5), format!("{plain}|curve=square"));
    }

    #[test]
    fn baselines_keep_their_keys_and_old_folders_read_each_cell_once() {
        let grids = crate::eval::config_file::EvalFile::preset("default")
            .unwrap()
            .grids(std::path::Path::new("default"))
            .unwrap();
        let full = grids[0].runs().remove(0);
        assert_eq!(full.method, super::super::grid::Method::Full);
        // The keys of the committed reports (docs/results/eval-*/needle.jsonl).
        assert_eq!(
            key(&full, 2048, 0.9),
            "needle|N=2048|depth=0.9|no_compress|full|C=256|M=0"
        );
        let dir = tempfile::tempdir().unwrap();
        let line = |key: &str, correct: bool| {
            format!(
                "{{\"key\":\"{key}\",\"status\":\"ok\",\"error\":null,\"pruner\":\"no_compress\",\
                 \"method\":\"full\",\"chunk\":256,\"memory\":0,\"context_tokens\":2048,\
                 \"depth\":0.9,\"passkey\":\"1\",\"answer\":\"\",\"correct\":{correct},\
                 \"finished_at\":0}}\n"
            )
        };
        let old = "needle|N=2048|depth=0.9|streaming_llm|full|C=256|M=0";
        std::fs::write(
            dir.path().join("needle.jsonl"),
            line(&key(&full, 2048, 0.9), false) + &line(old, true),
        )
        .unwrap();
        let records = read_folder(dir.path()).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(
            (records[0].key.as_str(), records[0].correct),
            (key(&full, 2048, 0.9).as_str(), true)
        );
    }

    #[test]
    fn passkeys_are_five_digits_and_differ_by_cell() {
        let a = passkey(2048, 0.5);
        assert_eq!(a.len(), 5);
        assert!(a.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(a, passkey(2048, 0.5));
        assert_ne!(a, passkey(2048, 0.1));
        assert_ne!(a, passkey(4096, 0.5));
    }
}
