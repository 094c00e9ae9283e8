//! The passkey's accuracy by prompt length and depth, and where full attention itself fails.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::eval::guard;
use crate::eval::needle::NeedleRecord;

/// The passkey's accuracy per pruner and method, by prompt length and depth, and the lengths
/// at which full attention itself scores below `threshold`.
pub fn needle_markdown(records: &[NeedleRecord], threshold: f64) -> String {
    let ok: Vec<_> = records.iter().filter(|r| r.status == guard::OK).collect();
    if ok.is_empty() {
        return String::new();
    }
    let mut out = String::from("## Passkey retrieval (accuracy)\n\n");
    let mut cols: Vec<(usize, u64)> = ok
        .iter()
        .map(|r| (r.context_tokens, (r.depth * 1000.0) as u64))
        .collect();
    cols.sort();
    cols.dedup();
    let header: Vec<String> = cols
        .iter()
        .map(|(n, d)| format!("N={n} d={:.1}", *d as f64 / 1000.0))
        .collect();
    let _ = writeln!(out, "| pruner | method | C | M | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|---|---|---|{}", "---|".repeat(cols.len()));
    let mut rows: Vec<(String, String, usize, usize)> = ok
        .iter()
        .map(|r| (r.pruner.clone(), r.method.clone(), r.chunk, r.memory))
        .collect();
    rows.sort();
    rows.dedup();
    for (pruner, method, chunk, memory) in rows {
        let values: Vec<String> = cols
            .iter()
            .map(|(n, d)| {
                let hits: Vec<bool> = ok
                    .iter()
                    .filter(|r| {
                        r.pruner == pruner
                            && r.method == method
                            && r.chunk == chunk
                            && r.memory == memory
                            && r.context_tokens == *n
                            && (r.depth * 1000.0) as u64 == *d
                    })
                    .map(|r| r.correct)
                    .collect();
                if hits.is_empty() {
                    "—".into()
                } else {
                    format!(
                        "{:.0} %",
                        100.0 * hits.iter().filter(|h| **h).count() as f64 / hits.len() as f64
                    )
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "| {pruner} | {method} | {chunk} | {memory} | {} |",
            values.join(" | ")
        );
    }
    out.push('\n');
    out.push_str(&passkey_failures(&ok, threshold));
    out
}

/// Where full attention itself misses the passkey in more than `1 - threshold` of the cells of
/// a prompt length: there the model fails the task, and the pruned runs' misses say little.
fn passkey_failures(ok: &[&NeedleRecord], threshold: f64) -> String {
    let mut by_length: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for r in ok.iter().filter(|r| r.method == "full") {
        let (right, all) = by_length.entry(r.context_tokens).or_default();
        *right += usize::from(r.correct);
        *all += 1;
    }
    let failing: Vec<String> = by_length
        .iter()
        .filter(|(_, (right, all))| (*right as f64) < threshold * *all as f64)
        .map(|(n, (right, all))| format!("{n} tokens ({right} of {all})"))
        .collect();
    match failing.is_empty() {
        true => String::new(),
        false => format!(
            "Full attention itself finds the passkey in fewer than {:.0} % of the cells at {}: \
             the model fails the task there, so the pruned runs' misses at those lengths say \
             little (the calibrated synthetic tasks are the retrieval measure).\n\n",
            100.0 * threshold,
            failing.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_passkey_report_names_lengths_where_full_attention_itself_fails() {
        let record = |method: &str, n: usize, depth: f64, correct: bool| NeedleRecord {
            key: format!("{method}{n}{depth}"),
            status: "ok".into(),
            error: None,
            pruner: "no_compress".into(),
            method: method.into(),
            chunk: 4,
            memory: 0,
            context_tokens: n,
            depth,
            passkey: "12345".into(),
            answer: String::new(),
            correct,
            finished_at: 0,
        };
        let records = vec![
            record("full", 1024, 0.1, true),
            record("full", 1024, 0.9, true),
            record("full", 2048, 0.1, false),
            record("full", 2048, 0.9, true),
            // Pruned misses do not count against the model.
            record("FM", 1024, 0.1, false),
        ];
        let report = needle_markdown(&records, 0.8);
        assert!(
            report.contains("at 2048 tokens (1 of 2): the model fails the task there"),
            "{report}"
        );
        assert!(!report.contains("1024 tokens ("), "{report}");
        assert!(!needle_markdown(&records[..2], 0.8).contains("fails the task"));
    }
}
