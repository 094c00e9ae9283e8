//! A probing study in small: two pruners on the tiny model, reported as JSON, text and SVG.

mod common;

use common::*;
use mss::PrefillConfig;
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss_probe::{ProbeReport, Probes, plot};

#[test]
fn reports_round_trip_and_draw() {
    let model = tiny("tiny_llama");
    let tokens = ids(96, 128, 1);
    let reports: Vec<ProbeReport> = [PrunerKind::StreamingLlm, PrunerKind::SnapKv]
        .into_iter()
        .map(|pruner| {
            let config = PrefillConfig::new(pruner, MemoryType::Fm, 16, 16);
            let (probes, _) = probe(&model, &tokens, config, Probes::all());
            probes.report().with_label(pruner.name())
        })
        .collect();
    for report in &reports {
        let json = report.to_json().unwrap();
        assert_eq!(&ProbeReport::from_json(&json).unwrap(), report);
        let text = report.to_text();
        assert!(
            text.contains(&format!("memory probes: {}", report.label)),
            "{text}"
        );
        assert_eq!(report.chunks.len(), 6);
        // Attention statistics reach the probe even for a pruner that needs none.
        let attention = report.attention.as_ref().unwrap();
        for step in 1..6 {
            let mass = attention.mass_by_step[step].unwrap();
            let sinks = attention.sink_mass_by_step[step].unwrap();
            assert!(
                mass > 0.0 && sinks > 0.0 && mass + sinks < 1.0,
                "{mass} {sinks}"
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<&ProbeReport> = reports.iter().collect();
    let curves = dir.path().join("forgetting.svg");
    plot::forgetting_curves(&curves, &all).unwrap();
    plot::retention_curves(&dir.path().join("retention.svg"), &all).unwrap();
    let heatmap = dir.path().join("retention-snapkv.svg");
    plot::retention_heatmap(&heatmap, &reports[1]).unwrap();
    let composition = dir.path().join("composition-snapkv.svg");
    plot::composition_heatmap(&composition, &reports[1]).unwrap();
    let svg = std::fs::read_to_string(&curves).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("streaming_llm") && svg.contains("snapkv"));
    for path in [heatmap, composition] {
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(
            svg.contains("<rect") && svg.contains("layer"),
            "{}",
            path.display()
        );
    }
    // A report without the probe has nothing to draw.
    let bare = Probes::none().report();
    assert!(plot::retention_heatmap(&dir.path().join("x.svg"), &bare).is_err());
}
