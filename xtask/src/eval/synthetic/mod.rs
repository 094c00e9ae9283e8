//! RULER-style synthetic tasks, generated offline from the corpus beside the passkey, so that
//! the default eval shows retrieval and not only perplexity (issue 13):
//!
//! - `multikey`: four "special magic numbers", each for a word, planted in the haystack; the
//!   question asks for one of them (the one at the cell's depth), the others are distractors;
//! - `variable_tracking`: `VAR A = 12345` early, `VAR B = VAR A` at the cell's depth; given the
//!   value and `A`, the answer is `B`, found only by following the chain;
//! - `common_words`: a numbered list of words from the corpus in which three words recur many
//!   times and the others twice; the answer is one of the three (no depth).
//!
//! Every item is a [`QaItem`] answered by the question-answering path (context prefilled and
//! pruned, question appended, greedy answer) and scored by substring match (RULER's string
//! match). Items are fixed by task, length, depth and sample: reruns resume.

use std::fmt;
use std::str::FromStr;

use mss::Tokenizer;

use super::qa::QaItem;

mod common_words;
mod multikey;
mod rng;
mod text;
mod variable_tracking;

use rng::Rng;

/// One synthetic task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyntheticTask {
    /// Several keys with distractors.
    MultiKey,
    /// One hop along a chain of variable assignments.
    VariableTracking,
    /// The most common word of a long list.
    CommonWords,
}

impl SyntheticTask {
    /// Every task, in report order.
    pub const ALL: [Self; 3] = [Self::MultiKey, Self::VariableTracking, Self::CommonWords];

    /// The task's name in configurations, records and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::MultiKey => "multikey",
            Self::VariableTracking => "variable_tracking",
            Self::CommonWords => "common_words",
        }
    }

    /// The task called `name` in records, if it is one.
    pub fn of_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether the answer sits at a depth of the haystack (a list of words has none).
    pub fn has_depth(self) -> bool {
        self != Self::CommonWords
    }

    /// The question's id within the task: its cell and sample.
    pub fn item_id(self, tokens: usize, depth: f64, sample: usize) -> String {
        match self.has_depth() {
            true => format!("N={tokens}|depth={depth}|sample={sample}"),
            false => format!("N={tokens}|sample={sample}"),
        }
    }
}

impl fmt::Display for SyntheticTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SyntheticTask {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::of_name(name).ok_or_else(|| {
            let valid: Vec<&str> = Self::ALL.iter().map(|t| t.name()).collect();
            format!(
                "unknown synthetic task '{name}'; valid: {}",
                valid.join(", ")
            )
        })
    }
}

/// The axes of the synthetic tasks: which tasks, the context lengths full attention is tried
/// at (the calibration ladder), depths, samples per cell and the accuracy a length must reach.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticAxes {
    /// The tasks.
    pub tasks: Vec<SyntheticTask>,
    /// Context lengths, tokens, tried in increasing order.
    pub contexts: Vec<usize>,
    /// Depths of the answer, fractions of the haystack.
    pub depths: Vec<f64>,
    /// Questions per (length, depth) cell.
    pub samples: usize,
    /// Full attention's accuracy (substring match) a length needs to be chosen.
    pub threshold: f64,
    /// Chunk sizes of the first grid to run the tasks at (all when `None`).
    pub chunks: Option<Vec<usize>>,
}

impl SyntheticAxes {
    /// The longest context length.
    pub fn longest(&self) -> usize {
        self.contexts.iter().copied().max().unwrap_or(0)
    }

    /// The cells of one length: `(depth, sample)` pairs (one depth for a task without).
    pub fn cells(&self, task: SyntheticTask) -> Vec<(f64, usize)> {
        let mut cells = Vec::new();
        match task.has_depth() {
            true => {
                for &depth in &self.depths {
                    cells.extend((0..self.samples).map(|s| (depth, s)));
                }
            }
            // As many questions per length as the other tasks have, told apart by sample.
            false => cells.extend((0..self.samples * self.depths.len().max(1)).map(|s| (0.5, s))),
        }
        cells
    }
}

/// What a task's generator makes of a cell: the context, the question and the accepted answers.
type Parts = (String, String, Vec<String>);

/// Question `sample` of `task` in the cell (`tokens`, `depth`), its context about `tokens`
/// tokens long, planted in `haystack` (tokens of the corpus).
pub fn item(
    task: SyntheticTask,
    tokenizer: &Tokenizer,
    haystack: &[u32],
    tokens: usize,
    depth: f64,
    sample: usize,
) -> mss::Result<QaItem> {
    let mut rng = Rng::new(task, tokens, depth, sample);
    let (context, question, answers) = match task {
        SyntheticTask::MultiKey => multikey::item(tokenizer, haystack, tokens, depth, &mut rng)?,
        SyntheticTask::VariableTracking => {
            variable_tracking::item(tokenizer, haystack, tokens, depth, &mut rng)?
        }
        SyntheticTask::CommonWords => common_words::item(tokenizer, haystack, tokens, &mut rng)?,
    };
    Ok(QaItem {
        id: task.item_id(tokens, depth, sample),
        context,
        question,
        answers,
        length: Some(tokens),
        depth: task.has_depth().then_some(depth),
    })
}

#[cfg(test)]
mod tests {
    use super::common_words::{COMMON, COMMON_REPEATS, RARE_REPEATS};
    use super::multikey::KEYS;
    use super::text::vocabulary;
    use super::*;

    /// A word-level tokenizer (whitespace and punctuation split) over `words`; any other word
    /// is one unknown token, so the planted statements keep their length in tokens.
    fn word_tokenizer(dir: &std::path::Path, words: &[String]) -> Tokenizer {
        let vocab: serde_json::Map<String, serde_json::Value> =
            std::iter::once(("[UNK]".into(), 0.into()))
                .chain(
                    words
                        .iter()
                        .enumerate()
                        .map(|(i, w)| (w.clone(), (i + 1).into())),
                )
                .collect();
        let json = serde_json::json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
            "normalizer": null, "pre_tokenizer": {"type": "Whitespace"},
            "post_processor": null, "decoder": null,
            "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
        });
        let path = dir.join("tokenizer.json");
        std::fs::write(&path, json.to_string()).unwrap();
        Tokenizer::from_file(&path).unwrap()
    }

    /// The word-level tokenizer over `w1`…`w127`, the ids of [`haystack`].
    fn tokenizer(dir: &std::path::Path) -> Tokenizer {
        let words: Vec<String> = (1..128).map(|i| format!("w{i}")).collect();
        word_tokenizer(dir, &words)
    }

    fn haystack(n: usize) -> Vec<u32> {
        (0..n).map(|i| 1 + (i * 7 % 127) as u32).collect()
    }

    #[test]
    fn the_asked_statement_sits_at_its_depth_in_a_context_of_the_asked_length() {
        let dir = tempfile::tempdir().unwrap();
        let tokenizer = tokenizer(dir.path());
        let haystack = haystack(1200);
        for task in [SyntheticTask::MultiKey, SyntheticTask::VariableTracking] {
            for depth in [0.1, 0.5, 0.9] {
                let item = item(task, &tokenizer, &haystack, 1000, depth, 0).unwrap();
                let tokens = tokenizer.encode(&item.context, false).unwrap().len();
                assert!((995..=1005).contains(&tokens), "{task} {depth}: {tokens}");
                let asked = match task {
                    SyntheticTask::MultiKey => {
                        let key = item.question.split("for ").nth(1).unwrap();
                        let key = key.split('?').next().unwrap();
                        format!("magic numbers for {key} is: {}.", item.answers[0])
                    }
                    _ => format!("VAR {} = VAR", item.answers[0]),
                };
                let at = item
                    .context
                    .find(&asked)
                    .unwrap_or_else(|| panic!("{asked}"));
                let relative = at as f64 / item.context.len() as f64;
                assert!(
                    (relative - depth).abs() < 0.1,
                    "{task} {depth}: at {relative}"
                );
                assert_eq!((item.length, item.depth), (Some(1000), Some(depth)));
            }
        }
    }

    #[test]
    fn multikey_plants_distinct_keys_and_tracking_assigns_the_value_before_the_hop() {
        let dir = tempfile::tempdir().unwrap();
        let tokenizer = tokenizer(dir.path());
        let item = item_of(&tokenizer, SyntheticTask::MultiKey, 0.5, 3);
        let keys: std::collections::BTreeSet<&str> = item
            .context
            .split("magic numbers for ")
            .skip(1)
            .map(|s| s.split(' ').next().unwrap())
            .collect();
        assert_eq!(keys.len(), KEYS, "{}", item.context);
        let item = item_of(&tokenizer, SyntheticTask::VariableTracking, 0.9, 0);
        let value = item.question.split("the value ").nth(1).unwrap();
        let value = value.split(' ').next().unwrap();
        let assigned = item.context.find(&format!("= {value}.")).unwrap();
        let hop = item
            .context
            .find(&format!("VAR {} = VAR", item.answers[0]))
            .unwrap();
        assert!(assigned < hop);
    }

    /// Question `sample` of `task` at depth `depth` of a 500-token context.
    fn item_of(tokenizer: &Tokenizer, task: SyntheticTask, depth: f64, sample: usize) -> QaItem {
        item(task, tokenizer, &haystack(600), 500, depth, sample).unwrap()
    }

    #[test]
    fn common_words_recur_far_more_than_the_rest() {
        // The word-level tokenizer decodes ids as `w7`; words need letters only, so the list
        // draws from a haystack of real words.
        let text = "the quick brown foxes jumped over lazy hounds while seven purple \
                    wizards danced under shining castle towers near silent rivers";
        let dir = tempfile::tempdir().unwrap();
        let words: Vec<String> = text.split(' ').map(str::to_owned).collect();
        let words_tokenizer = word_tokenizer(dir.path(), &words);
        let haystack = words_tokenizer.encode(text, false).unwrap();
        let item = item(
            SyntheticTask::CommonWords,
            &words_tokenizer,
            &haystack,
            400,
            0.5,
            1,
        )
        .unwrap();
        assert_eq!(item.answers.len(), COMMON);
        let count = |w: &str| {
            item.context
                .lines()
                .filter(|l| l.ends_with(&format!(" {w}")))
                .count()
        };
        for answer in &item.answers {
            assert_eq!(count(answer), COMMON_REPEATS, "{answer}: {}", item.context);
        }
        let others: Vec<&str> = vocabulary(text)
            .iter()
            .filter(|w| !item.answers.contains(w))
            .map(|w| {
                if count(w) > RARE_REPEATS {
                    "too many"
                } else {
                    "ok"
                }
            })
            .collect();
        assert!(others.iter().all(|o| *o == "ok"), "{others:?}");
        assert!(item.depth.is_none() && item.id == "N=400|sample=1");
    }

    #[test]
    fn items_are_fixed_by_their_cell_and_sample() {
        let dir = tempfile::tempdir().unwrap();
        let tokenizer = tokenizer(dir.path());
        let a = item_of(&tokenizer, SyntheticTask::MultiKey, 0.5, 0);
        let again = item_of(&tokenizer, SyntheticTask::MultiKey, 0.5, 0);
        let other = item_of(&tokenizer, SyntheticTask::MultiKey, 0.5, 1);
        assert_eq!(a, again);
        assert_ne!(a.answers, other.answers);
        assert_eq!(a.id, "N=500|depth=0.5|sample=0");
    }

    #[test]
    fn task_names_parse_and_unknown_ones_list_the_valid() {
        for task in SyntheticTask::ALL {
            assert_eq!(task.name().parse::<SyntheticTask>(), Ok(task));
        }
        let err = "needle".parse::<SyntheticTask>().unwrap_err();
        assert!(
            err.contains("multikey, variable_tracking, common_words"),
            "{err}"
        );
    }
}
