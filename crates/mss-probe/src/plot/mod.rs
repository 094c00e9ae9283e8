//! SVG charts of [`ProbeReport`](crate::ProbeReport)s (feature `plot`).
//!
//! - [`forgetting_curves`]: the forgetting curves of several reports (e.g. pruners) on one chart;
//! - [`retention_curves`]: retention per step of several reports on one chart;
//! - [`retention_heatmap`]: retention per step (columns) and layer (rows) of one report;
//! - [`composition_heatmap`]: the last memory of one report, share of each layer's entries
//!   (rows) by source chunk (columns).
//!
//! Text is laid out by estimate (no font is read), so the SVGs render anywhere.

mod curves;
mod heatmap;

pub use curves::{forgetting_curves, retention_curves};
pub use heatmap::{composition_heatmap, retention_heatmap};

use std::path::Path;

use crate::ProbeError;

/// Turns a plotters error into a [`ProbeError::Plot`] naming the file.
fn plot_error<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> ProbeError + '_ {
    move |e| ProbeError::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
