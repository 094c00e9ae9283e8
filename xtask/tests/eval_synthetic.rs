//! The synthetic tasks (issue 13): calibrated with full attention over the ladder of lengths,
//! then the grid's pruned runs at the chosen length; a model that fails every length gets no
//! pruned runs and the report says so.

mod common;

use common::{texts, tiny_model, xtask_eval};

/// A configuration of the three tasks at `threshold`, over a small grid.
fn config(threshold: f64) -> String {
    format!(
        "[passkey]\nenabled = false\ncontexts = []\ndepths = []\n\n\
         [synthetic]\ntasks = [\"multikey\", \"variable_tracking\", \"common_words\"]\n\
         contexts = [192, 96]\ndepths = [0.5]\nsamples = 2\nthreshold = {threshold:?}\n\n\
         [[grid]]\ntokens = 256\npruners = [\"snapkv\"]\nmemory_types = [\"FM\", \"IMDC\"]\n\
         chunks = [32]\nmemories = [16, 200]\n\
         # The tiny model was trained on 128 positions; the tasks need more.\n\
         past_trained_positions = true\n"
    )
}

fn qa_lines(out: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("qa.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn tasks_calibrate_on_full_attention_then_run_the_grid_at_the_chosen_length() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let data = texts(dir.path());
    let out = dir.path().join("run");
    let run = |threshold: f64| {
        let path = dir.path().join(format!("grid-{threshold}.toml"));
        std::fs::write(&path, config(threshold)).unwrap();
        let output = xtask_eval(
            &model,
            &data,
            &out,
            &["--no-timing", "--answer-tokens", "3"],
        )
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };

    // A random model answers nothing: each task stops at its shortest length, no pruned run.
    run(1.0);
    let lines = qa_lines(&out);
    assert_eq!(
        lines.len(),
        3 * 2,
        "two questions of each task at 96 tokens"
    );
    for line in &lines {
        assert_eq!(
            (line["method"].as_str(), line["length"].as_u64()),
            (Some("full"), Some(96)),
            "{line}"
        );
        let tokens = line["context_tokens"].as_u64().unwrap();
        assert!((93..=99).contains(&tokens), "{line}");
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for task in ["multikey", "variable_tracking", "common_words"] {
        assert!(
            summary.contains(&format!(
                "| {task} | 0/2 | none: the model itself fails (best 0 % at 96) |"
            )),
            "{summary}"
        );
    }

    // At threshold 0 every length passes: the calibration goes on to 192 (reusing the answers
    // at 96) and the grid runs there, except memory 200, which is not smaller than the context.
    run(0.0);
    let lines = qa_lines(&out);
    // Per task: full attention at 96 and 192, then snapkv FM and IMDC at M = 16; two questions.
    assert_eq!(lines.len(), 3 * (2 + 2 + 2 * 2), "{lines:#?}");
    let mut keys: Vec<&str> = lines.iter().map(|l| l["key"].as_str().unwrap()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), lines.len(), "every question once");
    assert!(lines.iter().all(|l| l["memory"].as_u64() != Some(200)));
    let pruned = lines.iter().filter(|l| l["method"] != "full");
    assert!(pruned.clone().all(|l| l["length"].as_u64() == Some(192)));
    assert_eq!(pruned.count(), 3 * 4);
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains("| multikey | 0/2 | 0/2 | 192 |"),
        "{summary}"
    );
    let leaderboard = summary.lines().find(|l| l.contains("| passkey |")).unwrap();
    assert!(
        leaderboard.ends_with("| multikey | variable_tracking | common_words |"),
        "{leaderboard}"
    );
    assert!(summary.contains("| snapkv | IMDC | 16 | 2 |"), "{summary}");
    for task in ["multikey", "variable_tracking", "common_words"] {
        assert!(
            out.join(format!("qa_{task}_C32.svg")).exists(),
            "{task}'s plot"
        );
    }

    // A rerun finds everything done.
    run(0.0);
    assert_eq!(qa_lines(&out).len(), lines.len());
}
