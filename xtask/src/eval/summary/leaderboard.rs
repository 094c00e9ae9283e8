//! The leaderboard at the top of the report: every configuration ranked by perplexity, with
//! its change against full attention, speed, memory and retrieval scores.

use std::fmt::Write as _;

use super::{Block, Cell, CellKey, cells, mib, num, secs};
use crate::eval::guard;
use crate::eval::needle::NeedleRecord;
use crate::eval::qa::QaRecord;
use crate::eval::record::Record;
use crate::eval::synthetic::SyntheticTask;

/// The leaderboard at the top of the report: every cell of every block, full attention first
/// and then by perplexity, with the change against full attention, time to first token (the
/// median, and the range when runs were repeated), peak memory growth and the passkey score
/// of the same pruner, memory type, chunk and memory, then each synthetic task's answers
/// (substring match) of that configuration in `answers`.
pub fn leaderboard(records: &[Record], needles: &[NeedleRecord], answers: &[QaRecord]) -> String {
    let cells = cells(records);
    if cells.is_empty() {
        return String::new();
    }
    let mut rows: Vec<(&CellKey, &Cell)> = cells.iter().collect();
    let full_of = |block: &Block| {
        cells
            .iter()
            .find(|(k, _)| k.block == *block && k.is_full())
            .and_then(|(_, c)| c.perplexity)
    };
    rows.sort_by(|(a, x), (b, y)| {
        (a.block, !a.is_full()).cmp(&(b.block, !b.is_full())).then(
            x.perplexity
                .unwrap_or(f64::INFINITY)
                .total_cmp(&y.perplexity.unwrap_or(f64::INFINITY)),
        )
    });
    // The synthetic tasks present, in their report order.
    let tasks: Vec<&str> = SyntheticTask::ALL
        .iter()
        .map(|t| t.name())
        .filter(|name| answers.iter().any(|r| r.task == *name))
        .collect();
    let mut out = String::from(
        "## Leaderboard\n\n| setting | pruner | memory type | M | perplexity | vs full | time to \
         first token | peak growth | passkey |",
    );
    for task in &tasks {
        let _ = write!(out, " {task} |");
    }
    out.push_str("\n|---|---|---|---|---|---|---|---|---|");
    out.push_str(&"---|".repeat(tasks.len()));
    out.push('\n');
    for (key, cell) in rows {
        let change = match (cell.perplexity, full_of(&key.block)) {
            (Some(p), Some(f)) if !key.is_full() => format!("{:+.2} %", 100.0 * (p / f - 1.0)),
            _ => "—".into(),
        };
        let ttft = match (cell.ttft_s, cell.ttft_range) {
            (Some(t), Some((lo, hi))) if hi > lo => format!("{t:.2} s ({lo:.2}–{hi:.2})"),
            (t, _) => secs(t),
        };
        let cells_needles: Vec<_> = needles
            .iter()
            .filter(|n| {
                n.status == guard::OK
                    && n.pruner == key.pruner
                    && n.method == key.method
                    && n.chunk == key.block.chunk
                    && n.memory == key.memory
            })
            .collect();
        let passkey = match cells_needles.len() {
            0 => "—".to_string(),
            n => format!("{}/{n}", cells_needles.iter().filter(|r| r.correct).count()),
        };
        let (pruner, memory) = match key.is_full() {
            true => ("full attention", "—".to_string()),
            false => (key.pruner.as_str(), key.memory.to_string()),
        };
        let _ = write!(
            out,
            "| {} | {pruner} | {} | {memory} | {} | {change} | {ttft} | {} | {passkey} |",
            key.block.title(),
            key.method,
            num(cell.perplexity, 3),
            mib(cell.peak_growth_bytes),
        );
        for task in &tasks {
            let asked: Vec<_> = answers
                .iter()
                .filter(|r| {
                    r.status == guard::OK
                        && r.task == *task
                        && r.pruner == key.pruner
                        && r.method == key.method
                        && r.chunk == key.block.chunk
                        && r.memory == key.memory
                })
                .collect();
            let right = asked.iter().filter(|r| r.scores.found()).count();
            match asked.len() {
                0 => out.push_str(" — |"),
                n => {
                    let _ = write!(out, " {right}/{n} |");
                }
            }
        }
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::summary::fixtures::run;

    #[test]
    fn the_leaderboard_ranks_cells_with_their_change_times_and_passkey() {
        let mut full = run("a#0", "full", false, 10.0);
        full.pruner = "no_compress".into();
        full.memory = 0;
        let fm = Record {
            ttft_s: Some(2.0),
            ttft_runs: vec![1.0, 2.0, 3.0],
            ..run("a#0", "FM", false, 11.0)
        };
        let imdc = run("a#0", "IMDC", false, 10.5);
        let needle = |correct| NeedleRecord {
            key: format!("n{correct}"),
            status: "ok".into(),
            error: None,
            pruner: "snapkv".into(),
            method: "FM".into(),
            chunk: 4,
            memory: 4,
            context_tokens: 10,
            depth: 0.5,
            passkey: "12345".into(),
            answer: String::new(),
            correct,
            finished_at: 0,
        };
        let table = leaderboard(&[fm, imdc, full], &[needle(true), needle(false)], &[]);
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| L =")).collect();
        assert_eq!(rows.len(), 3, "{table}");
        assert!(
            rows[0].contains("full attention") && rows[0].contains("10.000"),
            "{table}"
        );
        assert!(
            rows[1].contains("| IMDC |") && rows[1].contains("+5.00 %"),
            "{table}"
        );
        assert!(
            rows[2].contains("| FM |") && rows[2].contains("+10.00 %"),
            "{table}"
        );
        assert!(
            rows[2].contains("2.00 s (1.00–3.00)") && rows[2].ends_with("| 1/2 |"),
            "{table}"
        );
    }
}
