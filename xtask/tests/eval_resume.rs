//! `xtask eval` end to end on the tiny fixture model: every run lands in `results.jsonl`, a
//! rerun repeats nothing, a widened grid runs only what is new, a torn line left by a crash is
//! tolerated, the report is written, and a second eval on a folder in use is refused.

use std::path::Path;
use std::process::Command;

mod common;

use common::{texts, tiny_model};

fn eval(model: &Path, data: &Path, out: &Path, pruners: &str) -> String {
    let output = eval_command(model, data, out, pruners).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "xtask eval failed:\n{stderr}");
    stderr
}

fn eval_command(model: &Path, data: &Path, out: &Path, pruners: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .args([
            "eval",
            "--tokens",
            "96",
            "--chunks",
            "32",
            "--memories",
            "16",
        ])
        .args([
            "--memory-type",
            "FM,IMDC",
            "--no-passkey",
            "--no-synthetic",
            "--pruners",
            pruners,
        ])
        .arg("--model")
        .arg(model)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out);
    command
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_rerun_repeats_nothing_and_a_wider_grid_runs_only_the_new_cells() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = (tiny_model(dir.path()), texts(dir.path()));
    let out = dir.path().join("run");
    let results = out.join("results.jsonl");

    let first = eval(&model, &data, &out, "streaming_llm");
    assert!(first.contains("3 runs in the grid, 0 already"), "{first}");
    let done = lines(&results);
    assert_eq!(done.len(), 3, "full attention, FM and IMDC");
    assert!(
        done.iter().all(|l| l.contains("\"status\":\"ok\"")),
        "{done:?}"
    );

    let again = eval(&model, &data, &out, "streaming_llm");
    assert!(
        again.contains("3 already") && again.contains("0 to do"),
        "{again}"
    );
    assert_eq!(lines(&results), done, "nothing is run twice");

    // A crash mid-write leaves half a line; the next invocation goes on after it.
    let mut torn = std::fs::read_to_string(&results).unwrap();
    torn.push_str("{\"key\": \"half a rec");
    std::fs::write(&results, torn).unwrap();
    let wider = eval(&model, &data, &out, "streaming_llm,snapkv");
    assert!(wider.contains("5 runs in the grid, 3 already"), "{wider}");
    let after = lines(&results);
    assert_eq!(after[..3], done[..], "finished runs are kept as written");
    assert_eq!(
        after.len(),
        3 + 1 + 2,
        "the torn line, then snapkv FM and IMDC"
    );
    assert!(after[4..].iter().all(|l| l.contains("snapkv")));

    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("**snapkv: perplexity**"), "{summary}");
    assert!(out.join("summary.csv").exists());
}

#[test]
fn a_second_eval_on_a_folder_in_use_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = (tiny_model(dir.path()), texts(dir.path()));
    let out = dir.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    // This test holds the folder's lock, as a running eval would.
    let lock = std::fs::File::create(out.join("eval.lock")).unwrap();
    lock.try_lock().unwrap();
    std::fs::write(
        out.join("eval.lock"),
        "pid 1, started at 0 (unix seconds): the first\n",
    )
    .unwrap();
    let output = eval_command(&model, &data, &out, "streaming_llm")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("another eval is writing") && stderr.contains("the first"),
        "{stderr}"
    );
    assert!(!out.join("results.jsonl").exists(), "nothing was run");
    drop(lock);
    eval(&model, &data, &out, "streaming_llm");
    assert_eq!(lines(&out.join("results.jsonl")).len(), 3);
}
