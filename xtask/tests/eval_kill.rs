//! Crash safety of `xtask eval` (issue 14): an eval on the tiny fixture model is killed with
//! SIGKILL at pseudo-random moments, many times, and restarted each time; at the end every run
//! is in `results.jsonl` exactly once and the report's figures (all but the timings) equal an
//! uninterrupted run's.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;

use common::{figures, texts_in, tiny_model, xtask_eval};

const PRUNERS: &str = "streaming_llm,snapkv,h2o,tova,random";

fn eval_command(model: &Path, data: &Path, out: &Path) -> std::process::Command {
    let mut command = xtask_eval(
        model,
        data,
        out,
        &[
            "--tokens",
            "96",
            "--docs",
            "4",
            "--chunks",
            "32",
            "--memories",
            "16",
            "--memory-type",
            "FM,IMDC",
            "--no-passkey",
            "--no-synthetic",
            "--pruners",
            PRUNERS,
        ],
    );
    command.stdout(Stdio::null()).stderr(Stdio::null());
    command
}

/// How many parseable lines `results.jsonl` holds per run key.
fn keys(out: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let bytes = std::fs::read(out.join("results.jsonl")).unwrap_or_default();
    for line in bytes.split(|&b| b == b'\n') {
        if let Ok(record) = serde_json::from_slice::<serde_json::Value>(line) {
            let key = record["key"].as_str().unwrap().to_owned();
            *counts.entry(key).or_default() += 1;
        }
    }
    counts
}

#[test]
fn killed_and_restarted_evals_lose_nothing_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = (tiny_model(dir.path()), texts_in(dir.path(), 4));

    let whole = dir.path().join("whole");
    let start = Instant::now();
    let mut child = eval_command(&model, &data, &whole).spawn().unwrap();
    // When the first run lands: start-up (loading, tokenizing) is over by then.
    let mut first_run = None;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if first_run.is_none() && !keys(&whole).is_empty() {
            first_run = Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    assert!(status.success());
    let span = start.elapsed();
    let start_up = first_run.unwrap_or(span).mul_f64(0.8);
    let runs = keys(&whole);
    assert_eq!(
        runs.len(),
        44,
        "four documents × (full attention, five pruners × FM, IMDC): {runs:?}"
    );

    // Three rounds, each from an empty folder: ten kills at moments spread over half the time the
    // remaining runs would take (start-up, runs, writing lines, the report), from a fixed seed
    // so that a failure can be replayed; then a restart that finishes.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for round in 0..3 {
        let killed = dir.path().join(format!("killed-{round}"));
        let (mut moments, mut progress) = (Vec::new(), Vec::new());
        for _ in 0..10 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let fraction = (state >> 11) as f64 / (1u64 << 53) as f64;
            let remaining = 1.0 - keys(&killed).len() as f64 / runs.len() as f64;
            let moment = start_up + (span - start_up).mul_f64(fraction * (0.5 * remaining + 0.05));
            moments.push(moment);
            let mut child = eval_command(&model, &data, &killed).spawn().unwrap();
            std::thread::sleep(moment);
            // SIGKILL: nothing of the process runs after it.
            let _ = child.kill();
            child.wait().unwrap();
            progress.push(keys(&killed).len());
        }
        eprintln!(
            "round {round}: uninterrupted {span:?}, first run after {first_run:?}; kills at {moments:?}; runs done after \
             each: {progress:?}"
        );
        let finish = eval_command(&model, &data, &killed).status().unwrap();
        assert!(finish.success(), "the restart after {moments:?} failed");

        let counts = keys(&killed);
        assert_eq!(
            counts.keys().collect::<std::collections::BTreeSet<_>>(),
            runs.keys().collect(),
            "every run present (kills at {moments:?})"
        );
        assert!(
            counts.values().all(|&n| n == 1),
            "every run exactly once: {counts:?} (kills at {moments:?})"
        );
        assert_eq!(figures(&killed), figures(&whole), "kills at {moments:?}");
    }
    assert!(span < Duration::from_secs(600), "the grid took {span:?}");
}
