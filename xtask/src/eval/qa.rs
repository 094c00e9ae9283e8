//! Question answering (`--task qa --data file.jsonl`): each line holds a `context`, a
//! `question` and its `answers` (the shape LongBench and RULER exports take). The context is
//! prefilled into the pruned memory, the question appended without pruning, the answer
//! generated greedily and scored by exact match, substring and token F1 against every
//! reference (the best is kept), after SQuAD's normalisation (lower case, no punctuation, no
//! articles, single spaces).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use mss::{Generation, Prefiller, Tokenizer, Transformer, generate};
use mss_examples::exit::bad_data;

use super::grid::RunSpec;
use super::scores::{Scores, score};

/// One question.
#[derive(Debug, Clone, PartialEq)]
pub struct QaItem {
    /// `file:line`, or the line's `id`.
    pub id: String,
    /// The long text to prefill.
    pub context: String,
    /// Asked after the context.
    pub question: String,
    /// Correct answers (any one counts).
    pub answers: Vec<String>,
    /// A synthetic task's context length (tokens asked for); `None` for a file's questions.
    pub length: Option<usize>,
    /// A synthetic task's depth of the answer; `None` where there is none.
    pub depth: Option<f64>,
}

/// Reads a JSONL file of `{"context", "question", "answers": [...]}` (or `"answer": "..."`;
/// an `id` is kept when present).
pub fn read(path: &Path) -> anyhow::Result<Vec<QaItem>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::Error::new(e).context(format!("reading {}", path.display())))?;
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let mut items = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = || format!("{}:{}", path.display(), i + 1);
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad_data(format!("{}: not JSON: {e}", at())))?;
        let field = |name: &str| {
            value[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad_data(format!("{}: no string field \"{name}\"", at())))
        };
        let answers: Vec<String> = match (&value["answers"], &value["answer"]) {
            (serde_json::Value::Array(list), _) => list
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            (_, serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        if answers.is_empty() {
            return Err(bad_data(format!(
                "{}: no \"answers\" (a list of strings) or \"answer\"",
                at()
            )));
        }
        items.push(QaItem {
            id: value["id"]
                .as_str()
                .map_or_else(|| format!("{stem}:{}", i + 1), str::to_owned),
            context: field("context")?,
            question: field("question")?,
            answers,
            length: None,
            depth: None,
        });
    }
    if items.is_empty() {
        return Err(bad_data(format!("{}: no questions", path.display())));
    }
    Ok(items)
}

/// One question answered under one configuration, as written to `qa.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QaRecord {
    /// The run's key: the configuration's and the question's.
    pub key: String,
    /// `ok`, `error` or `panic`.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The task: the data file's stem.
    pub task: String,
    /// The question's id.
    pub id: String,
    /// Pruner.
    pub pruner: String,
    /// Memory type.
    pub method: String,
    /// Chunk size.
    pub chunk: usize,
    /// Memory size.
    pub memory: usize,
    /// Tokens of the context.
    pub context_tokens: usize,
    /// A synthetic task's context length, as asked for (the calibration's axis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
    /// A synthetic task's depth of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<f64>,
    /// What the model answered.
    pub answer: String,
    /// Its scores.
    pub scores: Scores,
    /// When it finished (seconds since the Unix epoch).
    pub finished_at: u64,
}

impl super::record::RunLine for QaRecord {
    fn key(&self) -> &str {
        &self.key
    }

    fn status(&self) -> &str {
        &self.status
    }
}

/// The key of question `id` of `task` under `spec`.
pub fn key(spec: &RunSpec, task: &str, id: &str) -> String {
    format!(
        "qa|{task}|{id}|{}|{}|{}|C={}|M={}{}{}",
        spec.pruner_name(),
        spec.method,
        spec.incremental,
        spec.chunk,
        spec.memory,
        spec.setting_suffix(),
        spec.rope_suffix()
    )
}

/// Answers `item` under `spec`: the context prefilled and pruned, the question appended, up to
/// `max_new_tokens` generated greedily.
pub fn run<B: Backend>(
    model: &Transformer<B>,
    tokenizer: &Tokenizer,
    spec: &RunSpec,
    task: &str,
    item: &QaItem,
    max_new_tokens: usize,
) -> QaRecord {
    let mut record = QaRecord {
        key: key(spec, task, &item.id),
        status: super::guard::OK.into(),
        error: None,
        task: task.into(),
        id: item.id.clone(),
        pruner: spec.pruner_name().into(),
        method: spec.method.to_string(),
        chunk: spec.chunk,
        memory: spec.memory,
        context_tokens: 0,
        length: item.length,
        depth: item.depth,
        answer: String::new(),
        scores: Scores::default(),
        finished_at: 0,
    };
    let answered = super::guard::run_into(&mut record.status, &mut record.error, || {
        let context = tokenizer.encode(&item.context, true)?;
        let question = tokenizer.encode(&item.question, false)?;
        let answer = answer(model, tokenizer, spec, &context, &question, max_new_tokens)?;
        mss::Result::Ok((context.len(), answer))
    });
    if let Some((tokens, answer)) = answered {
        record.context_tokens = tokens;
        record.scores = score(&answer, &item.answers);
        record.answer = answer;
    }
    record.finished_at = super::record::now();
    record
}

/// The greedy answer to `context` (prefilled and pruned under `spec`) followed by `question`
/// (appended whole; none when empty), at most `max_new_tokens` long.
pub fn answer<B: Backend>(
    model: &Transformer<B>,
    tokenizer: &Tokenizer,
    spec: &RunSpec,
    context: &[u32],
    question: &[u32],
    max_new_tokens: usize,
) -> mss::Result<String> {
    let mut prefill = Prefiller::new(spec.config())?.prefill(model, context)?;
    if !question.is_empty() {
        prefill.append(model, question)?;
    }
    let options = Generation {
        max_new_tokens,
        ..Generation::default()
    };
    let new = generate(model, &mut prefill, &options, &mut |_| {})?;
    Ok(tokenizer.decode(&new)?)
}

/// The per-task table: one row per pruner, memory type and memory size (full attention
/// first), the mean of each score over the task's questions.
pub fn markdown(records: &[QaRecord]) -> String {
    let mut groups: BTreeMap<(String, bool, String, String, usize), Vec<&QaRecord>> =
        BTreeMap::new();
    for r in records.iter().filter(|r| r.status == super::guard::OK) {
        let full = r.method == "full";
        groups
            .entry((
                r.task.clone(),
                !full,
                r.pruner.clone(),
                r.method.clone(),
                r.memory,
            ))
            .or_default()
            .push(r);
    }
    if groups.is_empty() {
        return String::new();
    }
    let mut out = String::from("## Question answering\n\n");
    let mut task = None;
    for ((name, pruned, pruner, method, memory), rs) in groups {
        if task.as_ref() != Some(&name) {
            let _ = write!(
                out,
                "**{name}**\n\n| pruner | memory type | M | questions | exact match | substring | token F1 |\n|---|---|---|---|---|---|---|\n"
            );
            task = Some(name);
        }
        let mean =
            |f: fn(&Scores) -> f64| rs.iter().map(|r| f(&r.scores)).sum::<f64>() / rs.len() as f64;
        let (pruner, memory) = match pruned {
            true => (pruner.as_str(), memory.to_string()),
            false => ("full attention", "—".into()),
        };
        let _ = writeln!(
            out,
            "| {pruner} | {method} | {memory} | {} | {:.1} % | {:.1} % | {:.3} |",
            rs.len(),
            100.0 * mean(|s| s.exact),
            100.0 * mean(|s| s.substring),
            mean(|s| s.f1)
        );
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Fuzzing the JSONL readers (issue 14): arbitrary bytes and damaged lines of a valid
        /// file give items or one typed error naming the file, never a panic.
        #[test]
        fn jsonl_readers_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            at in any::<usize>(),
            byte in any::<u8>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("task.jsonl");
            std::fs::write(&path, &bytes).unwrap();
            if let Err(e) = read(&path) {
                prop_assert!(e.to_string().contains("task.jsonl"), "{e}");
            }
            let _ = super::super::corpus::texts(Some(&path));
            let mut valid = b"{\"context\": \"c\", \"question\": \"q\", \"answers\": [\"a\"], \"text\": \"t\"}\n".repeat(3);
            let n = valid.len();
            valid[at % n] = byte;
            std::fs::write(&path, &valid).unwrap();
            if let Err(e) = read(&path) {
                prop_assert!(e.to_string().contains("task.jsonl"), "{e}");
            }
            let _ = super::super::corpus::texts(Some(&path));
        }
    }

    #[test]
    fn jsonl_items_take_answers_or_an_answer_and_name_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("task.jsonl");
        std::fs::write(
            &path,
            "{\"context\": \"c\", \"question\": \"q\", \"answers\": [\"a\", \"b\"]}\n\n\
             {\"id\": \"x7\", \"context\": \"c\", \"question\": \"q\", \"answer\": \"a\"}\n",
        )
        .unwrap();
        let items = read(&path).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            (items[0].id.as_str(), items[0].answers.len()),
            ("task:1", 2)
        );
        assert_eq!(items[1].id, "x7");
        std::fs::write(&path, "{\"context\": \"c\", \"question\": \"q\"}\n").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(
            err.contains("task.jsonl:1") && err.contains("answers"),
            "{err}"
        );
    }
}
