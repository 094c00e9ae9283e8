//! The readable form of a [`ProbeReport`], in the spirit of the seed's
//! `report_memory_state()`.

use std::fmt::Write;

use crate::ProbeReport;

impl ProbeReport {
    /// The report as text: per-step and per-layer retention, the forgetting curve, attention to
    /// memory, memory usage and the unique positions by source chunk.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let title = if self.label.is_empty() {
            "memory probes".to_string()
        } else {
            format!("memory probes: {}", self.label)
        };
        let _ = writeln!(
            out,
            "{title} ({} tokens, {} chunks, {} layers)",
            self.prompt_len,
            self.chunks.len(),
            self.n_layers
        );
        let chunks: Vec<String> = self
            .chunks
            .iter()
            .map(|c| format!("{}..{}", c.start, c.end))
            .collect();
        let _ = writeln!(out, "chunks: {}", chunks.join(" "));
        if let Some(r) = &self.retention {
            section(
                &mut out,
                "retention: share of the new memory already in the old memory (sinks excluded)",
            );
            series(&mut out, "by step", "step", &r.by_step, 3);
            series(&mut out, "by layer", "layer", &r.by_layer, 3);
            series(
                &mut out,
                "survival by step (share of the old memory kept)",
                "step",
                &r.survival_by_step,
                3,
            );
            if let Some(mean) = r.mean {
                let _ = writeln!(out, "  mean: {mean:.3}");
            }
        }
        if let Some(f) = &self.forgetting {
            let tracked: Vec<String> = f
                .tracked
                .iter()
                .map(|c| format!("{}..{}", c.start, c.end))
                .collect();
            section(
                &mut out,
                &format!(
                    "forgetting curve: share of memory in tracked tokens {}",
                    tracked.join(" ")
                ),
            );
            series(&mut out, "by step", "step", &f.by_step, 3);
        }
        if let Some(a) = &self.attention {
            section(&mut out, "attention to memory (sinks excluded)");
            series_sci(
                &mut out,
                "mean attention per memory entry by step",
                &a.mean_by_step,
            );
            series(
                &mut out,
                "share of entries above the pattern's mean by step",
                "step",
                &a.above_mean_by_step,
                3,
            );
            series(
                &mut out,
                "attention mass on memory by step",
                "step",
                &a.mass_by_step,
                3,
            );
            series(
                &mut out,
                "attention mass on sinks by step",
                "step",
                &a.sink_mass_by_step,
                3,
            );
        }
        if let Some(c) = &self.composition {
            section(
                &mut out,
                &format!(
                    "memory usage: entries per KV head (+{} sinks), min..max over layers",
                    c.sinks
                ),
            );
            let usage: Vec<String> = c
                .memory
                .iter()
                .enumerate()
                .map(|(step, layers)| {
                    let min = layers.iter().min().copied().unwrap_or(0);
                    let max = layers.iter().max().copied().unwrap_or(0);
                    if min == max {
                        format!("step {step}: {max}")
                    } else {
                        format!("step {step}: {min}..{max}")
                    }
                })
                .collect();
            let _ = writeln!(out, "  {}", usage.join(", "));
            let series: Vec<String> = c
                .unique
                .iter()
                .enumerate()
                .map(|(step, n)| format!("step {step}: {n}"))
                .collect();
            let _ = writeln!(
                out,
                "  unique positions (all layers and heads): {}",
                series.join(", ")
            );
            if let (Some(last), Some(n)) = (c.unique_by_chunk.last(), c.unique.last()) {
                let _ = writeln!(
                    out,
                    "  after the last step, {n} unique positions by source chunk (latest first):"
                );
                for (chunk, count) in last.iter().enumerate().rev() {
                    let range = &c.chunks[chunk];
                    let _ = writeln!(
                        out,
                        "    chunk {chunk} ({}..{}): {count}",
                        range.start, range.end
                    );
                }
            }
            let shares = c.final_shares();
            if !shares.is_empty() {
                let _ = writeln!(
                    out,
                    "  after the last step, share of each layer's memory by source chunk:"
                );
                for (layer, row) in shares.iter().enumerate() {
                    let row: Vec<String> = row.iter().map(|s| format!("{s:.2}")).collect();
                    let _ = writeln!(out, "    layer {layer:>2}: {}", row.join(" "));
                }
            }
        }
        out
    }
}

fn section(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n{title}");
}

fn series(out: &mut String, name: &str, key: &str, values: &[Option<f64>], digits: usize) {
    let items: Vec<String> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| format!("{key} {i}: {v:.digits$}")))
        .collect();
    let _ = writeln!(out, "  {name}: {}", items.join(", "));
}

fn series_sci(out: &mut String, name: &str, values: &[Option<f64>]) {
    let items: Vec<String> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| format!("step {i}: {v:.2e}")))
        .collect();
    let _ = writeln!(out, "  {name}: {}", items.join(", "));
}

#[cfg(test)]
mod tests {
    use crate::Probes;
    use crate::event::fixtures::{event, stats};
    use crate::tests::TestBackend as B;
    use mss_core::MemoryObserver;

    #[test]
    fn the_text_names_every_probe_and_its_numbers() {
        let mut probes = Probes::all();
        MemoryObserver::<B>::start(&mut probes, 7, 1);
        let s = stats(&[&[1.0, 1.0, 1.0, 1.0]], &[&[1.0; 4]]);
        probes.on_memory(&event(0, 0, 0..4, &[&[]], &[&[0, 1, 2, 3]], &s));
        let s = stats(&[&[0.5, 0.5, 0.5, 0.5, 1.0, 0.5, 0.5]], &[&[3.0; 7]]);
        probes.on_memory(&event(1, 0, 4..7, &[&[0, 1, 2, 3]], &[&[0, 1, 3, 6]], &s));
        let text = probes.report().with_label("random").to_text();
        for needle in [
            "memory probes: random (7 tokens, 2 chunks, 1 layers)",
            "chunks: 0..4 4..7",
            "by step: step 1: 0.500",
            "forgetting curve: share of memory in tracked tokens 0..4",
            "by step: step 0: 1.000, step 1: 0.500",
            "mean attention per memory entry by step: step 1: 1.67e-1",
            "step 0: 2, step 1: 2",
            "chunk 1 (4..7): 1",
            "layer  0: 0.50 0.50",
        ] {
            assert!(text.contains(needle), "missing '{needle}' in\n{text}");
        }
    }
}
