//! What the probes report: serde types, written as JSON or as text ([`ProbeReport::to_text`]).

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::{HeadTable, Result};

/// Everything [`Probes`](crate::Probes) recorded over one prefill. Summaries are means over
/// the axes not named (`by_step`: over layers and KV heads); the full tables keep every
/// `[step][layer][head]` value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// What was probed (e.g. the pruner's name), for legends and titles.
    pub label: String,
    /// Prompt length in tokens.
    pub prompt_len: usize,
    /// Number of layers.
    pub n_layers: usize,
    /// Each step's chunk.
    pub chunks: Vec<Range<usize>>,
    /// Memory retention, when probed.
    pub retention: Option<RetentionReport>,
    /// The forgetting curve, when probed.
    pub forgetting: Option<ForgettingReport>,
    /// Attention to memory, when probed.
    pub attention: Option<AttentionReport>,
    /// Memory composition and usage, when probed.
    pub composition: Option<CompositionReport>,
}

impl ProbeReport {
    /// The same report under another label.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Pretty-printed JSON.
    ///
    /// # Errors
    /// Never in practice (every field serialises).
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// A report read back from [`to_json`](Self::to_json)'s output.
    ///
    /// # Errors
    /// If `json` is not such a report.
    pub fn from_json(json: &str) -> Result<Self> {
        Ok(serde_json::from_str(json)?)
    }
}

/// See [`Retention`](crate::Retention).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionReport {
    /// Retention per step (none at step 0).
    pub by_step: Vec<Option<f64>>,
    /// Retention per layer.
    pub by_layer: Vec<Option<f64>>,
    /// Retention per step and layer, `[step][layer]`.
    pub by_step_layer: Vec<Vec<Option<f64>>>,
    /// Mean retention.
    pub mean: Option<f64>,
    /// Survival (share of the old memory kept) per step.
    pub survival_by_step: Vec<Option<f64>>,
    /// Retention per step, layer and KV head.
    pub retention: HeadTable,
    /// Survival per step, layer and KV head.
    pub survival: HeadTable,
}

/// See [`Forgetting`](crate::Forgetting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForgettingReport {
    /// The token ranges tracked.
    pub tracked: Vec<Range<usize>>,
    /// Tracked share of memory per step: the forgetting curve.
    pub by_step: Vec<Option<f64>>,
    /// Tracked share per step and layer, `[step][layer]`.
    pub by_step_layer: Vec<Vec<Option<f64>>>,
    /// Tracked share per step, layer and KV head.
    pub share: HeadTable,
}

/// See [`MemoryAttention`](crate::MemoryAttention).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionReport {
    /// Mean attention per memory entry, per step.
    pub mean_by_step: Vec<Option<f64>>,
    /// Share of memory entries above the pattern's mean probability, per step.
    pub above_mean_by_step: Vec<Option<f64>>,
    /// Share of attention on memory entries, per step.
    pub mass_by_step: Vec<Option<f64>>,
    /// Share of attention on the sinks, per step.
    pub sink_mass_by_step: Vec<Option<f64>>,
    /// Mean attention per memory entry, per layer.
    pub mean_by_layer: Vec<Option<f64>>,
    /// Mean attention per memory entry, per step, layer and KV head.
    pub mean: HeadTable,
    /// Share above the mean, per step, layer and KV head.
    pub above_mean: HeadTable,
    /// Attention mass on memory, per step, layer and KV head.
    pub mass: HeadTable,
    /// Attention mass on the sinks, per step, layer and KV head.
    pub sink_mass: HeadTable,
}

/// See [`Composition`](crate::Composition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompositionReport {
    /// Each step's chunk (the source chunks).
    pub chunks: Vec<Range<usize>>,
    /// Sink entries kept at the front of every memory.
    pub sinks: usize,
    /// Memory usage: entries per KV head (sinks excluded, the largest head), `[step][layer]`.
    pub memory: Vec<Vec<usize>>,
    /// Unique document positions held across all layers and KV heads, per step.
    pub unique: Vec<usize>,
    /// Those unique positions by source chunk, `[step][chunk]`.
    pub unique_by_chunk: Vec<Vec<usize>>,
    /// Entries by source chunk summed over KV heads, `[step][layer][chunk]`.
    pub by_step_layer: Vec<Vec<Vec<usize>>>,
    /// Entries by source chunk, `[step][layer][head][chunk]` (chunks up to the step).
    pub counts: Vec<Vec<Vec<Vec<usize>>>>,
}

impl CompositionReport {
    /// The memory after the last step: per layer, the share of its entries from each source
    /// chunk, `[layer][chunk]` (all zeros for a layer without memory).
    pub fn final_shares(&self) -> Vec<Vec<f64>> {
        let Some(last) = self.by_step_layer.last() else {
            return Vec::new();
        };
        last.iter()
            .map(|counts| {
                let total: usize = counts.iter().sum();
                counts
                    .iter()
                    .map(|&c| {
                        if total == 0 {
                            0.0
                        } else {
                            c as f64 / total as f64
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_round_trips_through_json() {
        let mut table = HeadTable::new();
        table.set(1, 0, 0, 0.5);
        let report = ProbeReport {
            label: String::new(),
            prompt_len: 8,
            n_layers: 1,
            chunks: vec![0..4, 4..8],
            retention: Some(RetentionReport {
                by_step: table.by_step(),
                by_layer: table.by_layer(),
                by_step_layer: table.by_step_layer(),
                mean: table.mean(),
                survival_by_step: table.by_step(),
                retention: table.clone(),
                survival: table,
            }),
            forgetting: None,
            attention: None,
            composition: None,
        }
        .with_label("random");
        let json = report.to_json().unwrap();
        assert!(json.contains("\"label\": \"random\""));
        assert_eq!(ProbeReport::from_json(&json).unwrap(), report);
        assert!(ProbeReport::from_json("{}").is_err());
    }
}
