//! `--task qa` (issue 13): questions of a JSONL file answered after a pruned context under
//! every run of the grid, recorded and summarised per task.

use std::process::Command;

mod common;

use common::tiny_model;

#[test]
fn questions_are_answered_under_every_run_and_tabled() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let data = dir.path().join("lookup.jsonl");
    let context: Vec<String> = (0..90).map(|i| format!("w{}", 1 + i % 100)).collect();
    let lines: Vec<String> = (0..2)
        .map(|q| {
            serde_json::json!({
                "context": context.join(" "),
                "question": format!(" w{} w{}", 10 + q, 20 + q),
                "answers": [format!("w{}", 30 + q)],
            })
            .to_string()
        })
        .collect();
    std::fs::write(&data, lines.join("\n")).unwrap();
    let out = dir.path().join("run");
    let eval = || {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["eval", "--task", "qa", "--tokens", "96", "--chunks", "32"])
            .args([
                "--memories",
                "16",
                "--memory-type",
                "FM,IMDC",
                "--pruners",
                "snapkv",
            ])
            .args(["--answer-tokens", "3"])
            .arg("--model")
            .arg(&model)
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let first = eval();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let records: Vec<serde_json::Value> = std::fs::read_to_string(out.join("qa.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        records.len(),
        2 * 3,
        "two questions × (full, snapkv FM, snapkv IMDC)"
    );
    for r in &records {
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(r["context_tokens"], 90, "{r}");
        let f1 = r["scores"]["f1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&f1), "{r}");
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains("## Question answering") && summary.contains("**lookup**"),
        "{summary}"
    );
    assert!(
        summary.contains("| full attention | full | — | 2 |"),
        "{summary}"
    );
    assert!(summary.contains("| snapkv | IMDC | 16 | 2 |"), "{summary}");
    assert!(
        out.join("qa_lookup_C32.svg").exists(),
        "the score-vs-memory plot"
    );
    // A rerun answers nothing again.
    let again = eval();
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 to do"));
    assert_eq!(
        std::fs::read_to_string(out.join("qa.jsonl"))
            .unwrap()
            .lines()
            .count(),
        6
    );
}
