//! Calibrating each synthetic task to the model: full attention answers it at increasing
//! context lengths, and the pruned runs go to the longest length at which full attention still
//! reaches the threshold (before the first length that misses it). What the model cannot do
//! with its whole context is then not charged to the pruners, and where it cannot do a task at
//! any length the report says so instead of showing zeros.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::qa::QaRecord;
use super::synthetic::SyntheticTask;

/// Full attention's accuracy a length needs when no configuration says.
pub const DEFAULT_THRESHOLD: f64 = 0.8;

/// Full attention's answers at one length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthScore {
    /// Context length, tokens.
    pub tokens: usize,
    /// Questions answered correctly (substring match).
    pub correct: usize,
    /// Questions asked.
    pub questions: usize,
}

impl LengthScore {
    /// The fraction answered correctly.
    pub fn accuracy(&self) -> f64 {
        match self.questions {
            0 => 0.0,
            n => self.correct as f64 / n as f64,
        }
    }
}

/// One task's calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The task.
    pub task: SyntheticTask,
    /// Full attention at each length tried, shortest first.
    pub lengths: Vec<LengthScore>,
    /// The length the pruned runs use; `None` when the model fails at every length tried.
    pub chosen: Option<usize>,
}

/// The longest of `lengths` (shortest first) at which the accuracy reaches `threshold`, stopping
/// at the first that does not.
pub fn choose(lengths: &[LengthScore], threshold: f64) -> Option<usize> {
    lengths
        .iter()
        .take_while(|s| s.accuracy() >= threshold)
        .last()
        .map(|s| s.tokens)
}

/// Full attention's score at `tokens` for `task` in `records`: each question once (whatever
/// the chunk size of its full-attention run).
pub fn score(records: &[QaRecord], task: SyntheticTask, tokens: usize) -> LengthScore {
    let mut answers: BTreeMap<&str, bool> = BTreeMap::new();
    for r in full_attention(records, task).filter(|r| r.length == Some(tokens)) {
        answers.entry(r.id.as_str()).or_insert(r.scores.found());
    }
    LengthScore {
        tokens,
        correct: answers.values().filter(|&&c| c).count(),
        questions: answers.len(),
    }
}

/// Every synthetic task's calibration, from the full-attention records present.
pub fn calibrations(records: &[QaRecord], threshold: f64) -> Vec<Calibration> {
    SyntheticTask::ALL
        .into_iter()
        .filter_map(|task| {
            let tokens: BTreeSet<usize> = full_attention(records, task)
                .filter_map(|r| r.length)
                .collect();
            if tokens.is_empty() {
                return None;
            }
            let lengths: Vec<LengthScore> = tokens
                .into_iter()
                .map(|n| score(records, task, n))
                .collect();
            let chosen = choose(&lengths, threshold);
            Some(Calibration {
                task,
                lengths,
                chosen,
            })
        })
        .collect()
}

fn full_attention(records: &[QaRecord], task: SyntheticTask) -> impl Iterator<Item = &QaRecord> {
    records.iter().filter(move |r| {
        r.status == super::guard::OK && r.method == "full" && r.task == task.name()
    })
}

/// Whether `record` belongs in the task tables and plots: a file's question, or a synthetic
/// task's at its chosen length (the other lengths were the calibration's).
pub fn reported(record: &QaRecord, calibrations: &[Calibration]) -> bool {
    match SyntheticTask::of_name(&record.task) {
        None => true,
        Some(task) => calibrations
            .iter()
            .any(|c| c.task == task && c.chosen.is_some() && c.chosen == record.length),
    }
}

/// The calibration table of the report.
pub fn markdown(calibrations: &[Calibration], threshold: f64) -> String {
    if calibrations.is_empty() {
        return String::new();
    }
    let lengths: BTreeSet<usize> = calibrations
        .iter()
        .flat_map(|c| c.lengths.iter().map(|s| s.tokens))
        .collect();
    let mut out = format!(
        "## Synthetic tasks (RULER-style): calibration\n\nFull attention's answers (substring \
         match) by context length. Each task's pruned runs use the longest length at which full \
         attention answers at least {:.0} % (trying no longer length after one that misses it), \
         with memories smaller than the context.\n\n| task |",
        100.0 * threshold
    );
    for n in &lengths {
        let _ = write!(out, " {n} |");
    }
    out.push_str(" pruned runs at |\n|---|");
    out.push_str(&"---|".repeat(lengths.len() + 1));
    out.push('\n');
    for c in calibrations {
        let _ = write!(out, "| {} |", c.task);
        for n in &lengths {
            match c.lengths.iter().find(|s| s.tokens == *n) {
                Some(s) => {
                    let _ = write!(out, " {}/{} |", s.correct, s.questions);
                }
                None => out.push_str(" — |"),
            }
        }
        match c.chosen {
            Some(n) => {
                let _ = writeln!(out, " {n} |");
            }
            None => {
                let best = c
                    .lengths
                    .iter()
                    .max_by(|a, b| a.accuracy().total_cmp(&b.accuracy()));
                let best = best.map_or_else(String::new, |s| {
                    format!(" (best {:.0} % at {})", 100.0 * s.accuracy(), s.tokens)
                });
                let _ = writeln!(out, " none: the model itself fails{best} |");
            }
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(tokens, correct, questions)` per length.
    type Table = [(usize, usize, usize)];

    fn scores(table: &Table) -> Vec<LengthScore> {
        table
            .iter()
            .map(|&(tokens, correct, questions)| LengthScore {
                tokens,
                correct,
                questions,
            })
            .collect()
    }

    #[test]
    fn the_longest_length_before_the_first_miss_is_chosen() {
        let cases: [(&Table, Option<usize>); 6] = [
            (&[(512, 3, 3), (1024, 3, 3), (2048, 3, 3)], Some(2048)),
            (&[(512, 3, 3), (1024, 2, 3), (2048, 3, 3)], Some(512)),
            (&[(512, 4, 5), (1024, 4, 5)], Some(1024)),
            (&[(512, 3, 5)], None),
            (&[(512, 0, 0)], None),
            (&[], None),
        ];
        for (table, chosen) in cases {
            assert_eq!(choose(&scores(table), 0.8), chosen, "{table:?}");
        }
    }

    fn record(task: &str, method: &str, id: &str, length: usize, right: bool) -> QaRecord {
        QaRecord {
            key: format!("{task}|{method}|{id}"),
            status: "ok".into(),
            error: None,
            task: task.into(),
            id: id.into(),
            pruner: "no_compress".into(),
            method: method.into(),
            chunk: 256,
            memory: 0,
            context_tokens: length,
            length: Some(length),
            depth: Some(0.5),
            answer: String::new(),
            scores: super::super::scores::Scores {
                exact: 0.0,
                substring: f64::from(u8::from(right)),
                f1: 0.0,
            },
            finished_at: 0,
        }
    }

    #[test]
    fn calibrations_count_each_full_attention_question_once_and_name_failures() {
        let records = vec![
            record("multikey", "full", "a", 512, true),
            record("multikey", "full", "b", 512, true),
            // The same question under another chunk size counts once.
            record("multikey", "full", "a", 512, false),
            record("multikey", "full", "c", 1024, false),
            // Pruned runs do not calibrate.
            record("multikey", "FM", "c", 1024, true),
            record("variable_tracking", "full", "d", 512, false),
        ];
        let all = calibrations(&records, 0.8);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].task, SyntheticTask::MultiKey);
        assert_eq!(all[0].lengths, scores(&[(512, 2, 2), (1024, 0, 1)]));
        assert_eq!(all[0].chosen, Some(512));
        assert_eq!(all[1].chosen, None);
        assert!(reported(&records[0], &all) && !reported(&records[3], &all));
        assert!(!reported(&records[5], &all));
        let table = markdown(&all, 0.8);
        assert!(table.contains("| multikey | 2/2 | 0/1 | 512 |"), "{table}");
        assert!(
            table.contains(
                "| variable_tracking | 0/1 | — | none: the model itself fails (best 0 % at 512) |"
            ),
            "{table}"
        );
    }
}
