//! `summary.md` and `summary.csv`: the results averaged over documents, laid out as the paper's
//! tables (rows M, columns FM / IM / IMDC / FI, one table per pruner and chunk size).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::record::Record;

/// The averaged figures of one configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cell {
    /// Mean perplexity over documents.
    pub perplexity: Option<f64>,
    /// Mean time to first token, seconds.
    pub ttft_s: Option<f64>,
    /// Mean peak memory growth, bytes.
    pub peak_growth_bytes: Option<f64>,
    /// Documents averaged.
    pub docs: usize,
}

/// `(doc_tokens, chunk, pruner, memory, method)`.
pub type CellKey = (usize, usize, String, usize, String);

/// Averages the successful records per configuration.
pub fn cells(records: &[Record]) -> BTreeMap<CellKey, Cell> {
    let mut groups: BTreeMap<CellKey, Vec<&Record>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.status == "ok") {
        let key = (
            r.doc_tokens,
            r.chunk,
            r.pruner.clone(),
            r.memory,
            r.method.clone(),
        );
        groups.entry(key).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|(key, rs)| {
            let mean = |f: &dyn Fn(&Record) -> Option<f64>| {
                let v: Vec<f64> = rs.iter().filter_map(|r| f(r)).collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            };
            let cell = Cell {
                perplexity: mean(&|r| r.perplexity),
                ttft_s: mean(&|r| r.ttft_s),
                peak_growth_bytes: mean(&|r| r.peak_growth_bytes.map(|b| b as f64)),
                docs: rs.len(),
            };
            (key, cell)
        })
        .collect()
}

const METHODS: [&str; 4] = ["FM", "IM", "IMDC", "FI"];

/// The Markdown report.
pub fn markdown(records: &[Record], title: &str) -> String {
    let cells = cells(records);
    let mut out = format!("# {title}\n\n");
    let blocks: BTreeMap<(usize, usize), ()> = cells.keys().map(|k| ((k.0, k.1), ())).collect();
    for (doc_tokens, chunk) in blocks.keys() {
        let full = cells
            .iter()
            .find(|(k, _)| k.0 == *doc_tokens && k.1 == *chunk && k.4 == "full")
            .map(|(_, c)| c);
        let _ = writeln!(out, "## L = {doc_tokens}, C = {chunk}\n");
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
        let pruners: BTreeMap<&str, ()> = cells
            .keys()
            .filter(|k| k.0 == *doc_tokens && k.1 == *chunk && k.4 != "full")
            .map(|k| (k.2.as_str(), ()))
            .collect();
        for pruner in pruners.keys() {
            let rows: BTreeMap<usize, ()> = cells
                .keys()
                .filter(|k| k.0 == *doc_tokens && k.1 == *chunk && k.2 == *pruner)
                .map(|k| (k.3, ()))
                .collect();
            let methods: Vec<&str> = METHODS
                .iter()
                .copied()
                .filter(|m| {
                    cells
                        .keys()
                        .any(|k| k.0 == *doc_tokens && k.1 == *chunk && k.2 == *pruner && k.4 == *m)
                })
                .collect();
            for (what, fmt) in [
                (
                    "perplexity",
                    (|c: &Cell| num(c.perplexity, 3)) as fn(&Cell) -> String,
                ),
                ("time to first token", |c: &Cell| secs(c.ttft_s)),
                ("peak memory growth", |c: &Cell| mib(c.peak_growth_bytes)),
            ] {
                let _ = writeln!(out, "**{pruner}: {what}**\n");
                let _ = writeln!(out, "| M | {} |", methods.join(" | "));
                let _ = writeln!(out, "|---|{}", "---|".repeat(methods.len()));
                for m in rows.keys() {
                    let values: Vec<String> = methods
                        .iter()
                        .map(|method| {
                            let key = (
                                *doc_tokens,
                                *chunk,
                                pruner.to_string(),
                                *m,
                                method.to_string(),
                            );
                            cells.get(&key).map_or_else(|| "—".into(), fmt)
                        })
                        .collect();
                    let _ = writeln!(out, "| {m} | {} |", values.join(" | "));
                }
                out.push('\n');
            }
        }
    }
    let errors: Vec<&Record> = records.iter().filter(|r| r.status != "ok").collect();
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
            "Backend: {}. Peak memory: {}.",
            r.backend, r.memory_measure
        );
    }
    out
}

/// The CSV report: one row per configuration.
pub fn csv(records: &[Record]) -> String {
    let mut out = String::from(
        "doc_tokens,chunk,pruner,memory,method,docs,perplexity,ttft_s,peak_growth_bytes\n",
    );
    for ((l, c, pruner, m, method), cell) in cells(records) {
        let opt = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v}"));
        let _ = writeln!(
            out,
            "{l},{c},{pruner},{m},{method},{},{},{},{}",
            cell.docs,
            opt(cell.perplexity),
            opt(cell.ttft_s),
            opt(cell.peak_growth_bytes)
        );
    }
    out
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.digits$}"))
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.2} s"))
}

fn mib(v: Option<f64>) -> String {
    v.map_or_else(
        || "—".into(),
        |v| format!("{:.0} MiB", v / (1u64 << 20) as f64),
    )
}

/// The passkey task's accuracy per pruner and method, by prompt length and depth.
pub fn needle_markdown(records: &[super::needle::NeedleRecord]) -> String {
    let ok: Vec<_> = records.iter().filter(|r| r.status == "ok").collect();
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
    out
}
