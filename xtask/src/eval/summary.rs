//! `summary.md` and `summary.csv`: the results averaged over documents, laid out as the paper's
//! tables (rows M, columns FM / IM / IMDC / FI, one table per pruner and chunk size).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::record::Record;

/// The averaged figures of one configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cell {
    /// Mean perplexity over documents.
    pub perplexity: Option<f64>,
    /// Mean time to first token, seconds.
    pub ttft_s: Option<f64>,
    /// The fastest and slowest timed prefill of the cell's runs (`--repeats`).
    pub ttft_range: Option<(f64, f64)>,
    /// Mean peak memory growth, bytes.
    pub peak_growth_bytes: Option<f64>,
    /// The cost model's peak working set, bytes.
    pub predicted_peak_bytes: Option<f64>,
    /// A question-answering task's mean score (plots of `--task qa` and the synthetic tasks).
    pub score: Option<f64>,
    /// Documents averaged.
    pub docs: usize,
}

/// The runs reported together: one table per pruner, one set of plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Block {
    /// Tokens per document.
    pub doc_tokens: usize,
    /// Reference chunk size.
    pub chunk: usize,
    /// Whether RoPE used the paper's step-wise dynamic NTK.
    pub step_ntk: bool,
    /// Sink entries.
    pub sinks: usize,
    /// Whether memory entries kept their document positions (`--positions original`).
    pub original_positions: bool,
}

impl Block {
    /// `L = 32768, C = 8192` (and `, step-wise NTK`, the sinks and positions where they are not
    /// the defaults).
    pub fn title(&self) -> String {
        let ntk = if self.step_ntk { ", step-wise NTK" } else { "" };
        let sinks = if self.sinks == mss::schedule::DEFAULT_SINKS {
            String::new()
        } else {
            format!(", {} sinks", self.sinks)
        };
        let positions = if self.original_positions {
            ", original positions"
        } else {
            ""
        };
        format!(
            "L = {}, C = {}{ntk}{sinks}{positions}",
            self.doc_tokens, self.chunk
        )
    }

    /// `L32768_C8192` (and `_ntk`, `_s0`, `_orig`), for file names.
    pub fn file_tag(&self) -> String {
        let ntk = if self.step_ntk { "_ntk" } else { "" };
        let sinks = if self.sinks == mss::schedule::DEFAULT_SINKS {
            String::new()
        } else {
            format!("_s{}", self.sinks)
        };
        let positions = if self.original_positions { "_orig" } else { "" };
        format!(
            "L{}_C{}{ntk}{sinks}{positions}",
            self.doc_tokens, self.chunk
        )
    }
}

/// One configuration: a block, a pruner, a memory size and a method.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    /// Document length, chunk size, RoPE.
    pub block: Block,
    /// Pruner name.
    pub pruner: String,
    /// Memory size M.
    pub memory: usize,
    /// `full`, `FM`, `IM`, `IMDC` or `FI`.
    pub method: String,
}

impl CellKey {
    /// Whether this is the full-attention line.
    pub fn is_full(&self) -> bool {
        self.method == "full"
    }
}

/// Averages the successful records per configuration. A run recorded twice (folders merged
/// by hand, or an older copy) counts once: its last successful record.
pub fn cells(records: &[Record]) -> BTreeMap<CellKey, Cell> {
    let latest: BTreeMap<&str, &Record> = records
        .iter()
        .filter(|r| r.status == super::guard::OK)
        .map(|r| (r.key.as_str(), r))
        .collect();
    let mut groups: BTreeMap<CellKey, Vec<&Record>> = BTreeMap::new();
    for r in latest.into_values() {
        let key = CellKey {
            block: Block {
                doc_tokens: r.doc_tokens,
                chunk: r.chunk,
                step_ntk: r.step_ntk,
                sinks: r.sinks,
                original_positions: r.positions == "original",
            },
            pruner: r.pruner.clone(),
            memory: r.memory,
            method: r.method.clone(),
        };
        groups.entry(key).or_default().push(r);
    }
    let mut cells: BTreeMap<CellKey, Cell> = groups
        .into_iter()
        .map(|(key, rs)| {
            let mean = |f: &dyn Fn(&Record) -> Option<f64>| {
                let v: Vec<f64> = rs.iter().filter_map(|r| f(r)).collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            };
            let runs: Vec<f64> = rs
                .iter()
                .flat_map(|r| r.ttft_runs.iter().copied())
                .collect();
            let cell = Cell {
                perplexity: mean(&|r| r.perplexity),
                ttft_s: mean(&|r| r.ttft_s),
                ttft_range: (!runs.is_empty()).then(|| {
                    runs.iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &t| {
                            (lo.min(t), hi.max(t))
                        })
                }),
                peak_growth_bytes: mean(&|r| r.peak_growth_bytes.map(|b| b as f64)),
                predicted_peak_bytes: mean(&|r| r.predicted_peak_bytes.map(|b| b as f64)),
                score: None,
                docs: rs.len(),
            };
            (key, cell)
        })
        .collect();
    share_the_full_line(&mut cells);
    cells
}

/// The full-attention line keeps everything, so the sinks make no difference to it: it is also
/// the reference of every block that differs from its own in the sinks alone (one full run
/// serves a grid run with `--sinks 0` and the default grid).
fn share_the_full_line(cells: &mut BTreeMap<CellKey, Cell>) {
    let pruned_blocks: BTreeSet<Block> = cells
        .keys()
        .filter(|k| !k.is_full())
        .map(|k| k.block)
        .collect();
    let full: Vec<(CellKey, Cell)> = cells
        .iter()
        .filter(|(k, _)| k.is_full())
        .map(|(k, c)| (k.clone(), c.clone()))
        .collect();
    for (key, cell) in full {
        let same_but_sinks = |b: &&Block| {
            b.sinks != key.block.sinks
                && Block {
                    sinks: key.block.sinks,
                    ..**b
                } == key.block
        };
        let mut shared = false;
        for &block in pruned_blocks.iter().filter(same_but_sinks) {
            let copy = CellKey {
                block,
                ..key.clone()
            };
            cells.entry(copy).or_insert_with(|| cell.clone());
            shared = true;
        }
        // A block holding nothing but the line it lent would be a report section of its own.
        if shared && !pruned_blocks.contains(&key.block) {
            cells.remove(&key);
        }
    }
}

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
        .filter(|r| r.status == super::guard::OK)
        .map(|r| r.key.as_str())
        .collect();
    let errors: Vec<&Record> = records
        .iter()
        .filter(|r| r.status != super::guard::OK && !finished.contains(r.key.as_str()))
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

/// The leaderboard at the top of the report: every cell of every block, full attention first
/// and then by perplexity, with the change against full attention, time to first token (the
/// median, and the range when runs were repeated), peak memory growth and the passkey score
/// of the same pruner, memory type, chunk and memory, then each synthetic task's answers
/// (substring match) of that configuration in `answers`.
pub fn leaderboard(
    records: &[Record],
    needles: &[super::needle::NeedleRecord],
    answers: &[super::qa::QaRecord],
) -> String {
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
    let tasks: Vec<&str> = super::synthetic::SyntheticTask::ALL
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
                n.status == super::guard::OK
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
                    r.status == super::guard::OK
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

/// The passkey's accuracy per pruner and method, by prompt length and depth, and the lengths
/// at which full attention itself scores below `threshold`.
pub fn needle_markdown(records: &[super::needle::NeedleRecord], threshold: f64) -> String {
    let ok: Vec<_> = records
        .iter()
        .filter(|r| r.status == super::guard::OK)
        .collect();
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
fn passkey_failures(ok: &[&super::needle::NeedleRecord], threshold: f64) -> String {
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
    use crate::eval::record::example;

    fn run(doc: &str, method: &str, step_ntk: bool, perplexity: f64) -> Record {
        Record {
            doc: doc.into(),
            method: method.into(),
            step_ntk,
            perplexity: Some(perplexity),
            ..example(&format!("{doc}|{method}|{step_ntk}"))
        }
    }

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
        let needle = |correct| crate::eval::needle::NeedleRecord {
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

    #[test]
    fn documents_are_averaged_and_step_ntk_runs_are_a_block_of_their_own() {
        let records = [
            run("a#0", "FM", false, 10.0),
            run("a#1", "FM", false, 20.0),
            run("a#0", "FM", true, 7.0),
            run("a#0", "IMDC", false, 12.0),
        ];
        let cells = cells(&records);
        assert_eq!(cells.len(), 3);
        let plain_fm = cells
            .iter()
            .find(|(k, _)| !k.block.step_ntk && k.method == "FM")
            .unwrap()
            .1;
        assert_eq!((plain_fm.perplexity, plain_fm.docs), (Some(15.0), 2));
        let ntk_fm = cells.iter().find(|(k, _)| k.block.step_ntk).unwrap().1;
        assert_eq!(ntk_fm.perplexity, Some(7.0));

        let markdown = markdown(&records, "t");
        assert!(markdown.contains("## L = 10, C = 4\n"), "{markdown}");
        assert!(markdown.contains("## L = 10, C = 4, step-wise NTK\n"));
        assert!(markdown.contains("| 4 | 15.000 | 12.000 |"), "{markdown}");
        let csv = csv(&records);
        assert_eq!(csv.lines().count(), 1 + 3);
        assert!(csv.contains("10,4,true,snapkv,4,FM,1,7,"), "{csv}");
    }

    fn full_line() -> Record {
        Record {
            pruner: "no_compress".into(),
            memory: 0,
            ..run("a#0", "full", false, 9.0)
        }
    }

    fn no_sinks_run() -> Record {
        Record {
            sinks: 0,
            key: "no sinks".into(),
            ..run("a#0", "FM", false, 10.0)
        }
    }

    #[test]
    fn the_full_line_is_the_reference_of_blocks_with_other_sinks() {
        let cells = cells(&[full_line(), no_sinks_run()]);
        let sinks_0_full = cells
            .iter()
            .find(|(k, _)| k.block.sinks == 0 && k.is_full())
            .expect("the full line in the block of sinks 0");
        assert_eq!(sinks_0_full.1.perplexity, Some(9.0));
        // Its own block had no pruned runs: it is not reported apart.
        assert_eq!(cells.len(), 2);
        let with_default = Record {
            key: "default".into(),
            ..run("a#0", "FM", false, 11.0)
        };
        let cells = super::cells(&[full_line(), with_default, no_sinks_run()]);
        assert!(cells.keys().any(|k| k.block.sinks == 4 && k.is_full()));
        assert!(cells.keys().any(|k| k.block.sinks == 0 && k.is_full()));
    }

    #[test]
    fn a_run_recorded_twice_counts_once_with_its_last_figures() {
        let records = [
            run("a#0", "FM", false, 10.0),
            run("a#1", "FM", false, 20.0),
            run("a#1", "FM", false, 40.0),
        ];
        let cells = cells(&records);
        let fm = cells.values().next().unwrap();
        assert_eq!((fm.perplexity, fm.docs), (Some(25.0), 2));
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

    #[test]
    fn the_passkey_report_names_lengths_where_full_attention_itself_fails() {
        let record =
            |method: &str, n: usize, depth: f64, correct: bool| crate::eval::needle::NeedleRecord {
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
