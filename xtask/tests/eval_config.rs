//! `--config grid.toml` (issue 13): a file says everything the flags say; flags beside it
//! replace its values; a bad file is one line naming it (exit 65).

use std::process::Command;

mod common;

use common::{texts, tiny_model};

#[test]
fn a_config_file_runs_its_grid_and_flags_replace_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = (tiny_model(dir.path()), texts(dir.path()));
    let out = dir.path().join("run");
    let config = dir.path().join("mine.toml");
    std::fs::write(
        &config,
        format!(
            "model = {model:?}\ndata = {data:?}\nout = {out:?}\ntiming = false\n\
             [passkey]\nenabled = false\ncontexts = []\ndepths = []\n\
             [[grid]]\ntokens = 96\npruners = [\"streaming_llm\"]\nmemory_types = [\"FM\"]\n\
             chunks = [32]\nmemories = [16]\n"
        ),
    )
    .unwrap();
    let eval = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["eval", "--config"])
            .arg(&config)
            .args(extra)
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap()
    };
    let first = eval(&[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let results = || std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert_eq!(
        results().lines().count(),
        2,
        "full attention and streaming_llm FM"
    );
    assert!(
        results().contains("\"ttft_s\":null"),
        "timing = false: {}",
        results()
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("preset mine"), "{summary}");

    let wider = eval(&["--pruners", "snapkv"]);
    assert!(
        wider.status.success(),
        "{}",
        String::from_utf8_lossy(&wider.stderr)
    );
    assert!(results().contains("|snapkv|FM|"), "{}", results());
    assert_eq!(results().lines().count(), 3);

    std::fs::write(&config, "[[grid]]\ntokens = 96\npruners = [\"snapvk\"]\n").unwrap();
    let bad = eval(&[]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(65), "{stderr}");
    assert!(stderr.contains("mine.toml"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
