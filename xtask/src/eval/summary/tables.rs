//! The paper's tables in Markdown (rows M, columns FM / IM / IMDC / FI, one table per pruner
//! and figure in each block) and the CSV of every cell.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{Block, Cell, CellKey, cells, mib, num, secs};
use crate::eval::guard;
use crate::eval::record::Record;

/// The memory types, one column each, in the paper's order.
const METHODS: [&str; 4] = ["FM", "IM", "IMDC", "FI"];

/// The Markdown report.
pub fn markdown(records: &[Record], title: &str) -> String {
    let cells = cells(records);
    let mut out = format!("# {title}\n\n");
    let blocks: BTreeSet<Block> = cells.keys().map(|k| k.block).collect();
    for block in &blocks {
        let in_block = |k: &&CellKey| k.block == *block;
        let full = cells
            .iter()
            .find(|(k, _)| in_block(k) && k.is_full())
            .map(|(_, c)| c);
        let _ = writeln!(out, "## {}\n", block.title());
        if let Some(full) = full {
            let _ = writeln!(
                out,
                "Full attention: perplexity {}, time to first token {}, peak memory growth {} ({} doc(s)).\n",
                num(full.perplexity, 3),
                secs(full.ttft_s),
                mib(full.peak_growth_bytes),
                full.docs
            );
        }
        let pruners: BTreeSet<&str> = cells
            .keys()
            .filter(|k| in_block(k) && !k.is_full())
            .map(|k| k.pruner.as_str())
            .collect();
        for pruner in pruners {
            let rows: BTreeSet<usize> = cells
                .keys()
                .filter(|k| in_block(k) && k.pruner == pruner)
                .map(|k| k.memory)
                .collect();
            let methods: Vec<&str> = METHODS
                .iter()
                .copied()
                .filter(|m| {
                    cells
                        .keys()
                        .any(|k| in_block(&k) && k.pruner == pruner && k.method == *m)
                })
                .collect();
            for (what, fmt) in [
                (
                    "perplexity",
                    (|c: &Cell| num(c.perplexity, 3)) as fn(&Cell) -> String,
                ),
                ("time to first token", |c: &Cell| secs(c.ttft_s)),
                ("peak memory growth", |c: &Cell| mib(c.peak_growth_bytes)),
                ("predicted working set", |c: &Cell| {
                    mib(c.predicted_peak_bytes)
                }),
            ] {
                let _ = writeln!(out, "**{pruner}: {what}**\n");
                let _ = writeln!(out, "| M | {} |", methods.join(" | "));
                let _ = writeln!(out, "|---|{}", "---|".repeat(methods.len()));
                for &memory in &rows {
                    let values: Vec<String> = methods
                        .iter()
                        .map(|method| {
                            let key = CellKey {
                                block: *block,
                                pruner: pruner.to_owned(),
                                memory,
                                method: (*method).to_owned(),
                            };
                            cells.get(&key).map_or_else(|| "—".into(), fmt)
                        })
                        .collect();
                    let _ = writeln!(out, "| {memory} | {} |", values.join(" | "));
                }
                out.push('\n');
            }
        }
    }
    // A run that panicked and then finished on a later invocation is not a failure.
    let finished: BTreeSet<&str> = records
        .iter()
        .filter(|r| r.status == guard::OK)
        .map(|r| r.key.as_str())
        .collect();
    let errors: Vec<&Record> = records
        .iter()
        .filter(|r| r.status != guard::OK && !finished.contains(r.key.as_str()))
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "## Runs refused or failed\n");
        for r in errors {
            let _ = writeln!(out, "- `{}`: {}", r.key, r.error.as_deref().unwrap_or("?"));
        }
        out.push('\n');
    }
    if let Some(r) = records.first() {
        let _ = writeln!(
            out,
            "Backend: {}. Peak memory: {}.\n",
            r.backend, r.memory_measure
        );
    }
    out
}

/// The CSV report: one row per configuration.
pub fn csv(records: &[Record]) -> String {
    let mut out = String::from(
        "doc_tokens,chunk,step_ntk,pruner,memory,method,docs,perplexity,ttft_s,peak_growth_bytes,predicted_peak_bytes\n",
    );
    for (key, cell) in cells(records) {
        let opt = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v}"));
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            key.block.doc_tokens,
            key.block.chunk,
            key.block.step_ntk,
            key.pruner,
            key.memory,
            key.method,
            cell.docs,
            opt(cell.perplexity),
            opt(cell.ttft_s),
            opt(cell.peak_growth_bytes),
            opt(cell.predicted_peak_bytes)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::summary::fixtures::run;

    #[test]
    fn the_tables_are_the_papers_with_one_csv_row_a_configuration() {
        let records = [
            run("a#0", "FM", false, 10.0),
            run("a#1", "FM", false, 20.0),
            run("a#0", "FM", true, 7.0),
            run("a#0", "IMDC", false, 12.0),
        ];
        let markdown = markdown(&records, "t");
        assert!(markdown.contains("## L = 10, C = 4\n"), "{markdown}");
        assert!(markdown.contains("## L = 10, C = 4, step-wise NTK\n"));
        assert!(markdown.contains("| 4 | 15.000 | 12.000 |"), "{markdown}");
        let csv = csv(&records);
        assert_eq!(csv.lines().count(), 1 + 3);
        assert!(csv.contains("10,4,true,snapkv,4,FM,1,7,"), "{csv}");
    }

    #[test]
    fn failed_runs_are_listed_not_averaged() {
        let mut failed = run("a#0", "IM", false, 99.0);
        failed.status = "error".into();
        failed.error = Some("memory larger than the chunk".into());
        let mut retried = run("a#0", "IMDC", false, 99.0);
        retried.status = "panic".into();
        retried.error = Some("device lost".into());
        let records = [
            run("a#0", "FM", false, 10.0),
            failed,
            retried,
            run("a#0", "IMDC", false, 12.0),
        ];
        assert_eq!(cells(&records).len(), 2);
        let markdown = markdown(&records, "t");
        assert!(markdown.contains("memory larger than the chunk"));
        assert!(
            !markdown.contains("device lost"),
            "finished later: {markdown}"
        );
    }
}
