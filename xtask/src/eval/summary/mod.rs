//! `summary.md` and `summary.csv`: the results averaged over documents, laid out as the paper's
//! tables (rows M, columns FM / IM / IMDC / FI, one table per pruner and chunk size).

mod cells;
mod leaderboard;
mod passkey;
mod tables;

pub use cells::{Block, Cell, CellKey, cells};
pub use leaderboard::leaderboard;
pub use passkey::needle_markdown;
pub use tables::{csv, markdown};

/// A figure with `digits` decimals, or a dash.
fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.digits$}"))
}

/// Seconds with two decimals, or a dash.
fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.2} s"))
}

/// Bytes in MiB, or a dash.
fn mib(v: Option<f64>) -> String {
    v.map_or_else(
        || "—".into(),
        |v| format!("{:.0} MiB", v / (1u64 << 20) as f64),
    )
}

/// Records for the tests of the report's parts.
#[cfg(test)]
mod fixtures {
    use crate::eval::record::{Record, example};

    /// A finished run of `method` on `doc` with `perplexity`.
    pub fn run(doc: &str, method: &str, step_ntk: bool, perplexity: f64) -> Record {
        Record {
            doc: doc.into(),
            method: method.into(),
            step_ntk,
            perplexity: Some(perplexity),
            ..example(&format!("{doc}|{method}|{step_ntk}"))
        }
    }
}
