//! A passkey retrieval task beside perplexity: a five-digit passkey is planted at a chosen depth
//! of a long haystack (the corpus' first document), the prompt ends with a question, and the
//! run is correct when the greedy continuation contains the passkey. Perplexity alone hides a
//! memory that forgot the one thing that mattered.

use burn::prelude::*;
use mss::{Generation, Prefiller, Tokenizer, Transformer, generate};
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
        spec.pruner,
        spec.method,
        spec.chunk,
        spec.memory,
        spec.rope_suffix(),
        spec.setting_suffix()
    )
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
    let outcome = super::guard::run_guarded(|| -> mss::Result<String> {
        let ids = prompt(tokenizer, haystack, context_tokens, depth)?;
        let mut prefill = Prefiller::new(spec.config())?.prefill(model, &ids)?;
        let options = Generation {
            max_new_tokens: 8,
            ..Generation::default()
        };
        let new = generate(model, &mut prefill, &options, &mut |_| {})?;
        Ok(tokenizer.decode(&new)?)
    });
    match outcome {
        Ok(answer) => {
            record.correct = answer.contains(&passkey);
            record.answer = answer;
        }
        Err((status, message)) => {
            record.status = status.into();
            record.error = Some(message);
        }
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
    fn passkeys_are_five_digits_and_differ_by_cell() {
        let a = passkey(2048, 0.5);
        assert_eq!(a.len(), 5);
        assert!(a.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(a, passkey(2048, 0.5));
        assert_ne!(a, passkey(2048, 0.1));
        assert_ne!(a, passkey(4096, 0.5));
    }
}
