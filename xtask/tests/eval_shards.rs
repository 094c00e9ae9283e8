//! A grid split into three shards, run by three processes at once into one folder, merges into
//! the report of the unsharded run (issue 13): every run and passkey cell once, the same
//! figures (timings aside).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::{texts_in, tiny_model};

fn eval_command(model: &Path, data: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .args(["eval", "--tokens", "96", "--docs", "2", "--chunks", "32"])
        .args(["--memories", "16", "--memory-type", "FM,IMDC"])
        .args(["--pruners", "streaming_llm,snapkv,h2o"])
        .args(["--passkey-contexts", "96", "--passkey-depths", "0.25,0.75"])
        .args(["--passkey-chunks", "32"])
        .arg("--model")
        .arg(model)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// The summary's rows without the timing columns.
fn figures(out: &Path) -> Vec<String> {
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let timing = |name: &str| name.contains("ttft") || name.contains("peak_growth");
    csv.lines()
        .map(|line| {
            line.split(',')
                .zip(&header)
                .filter(|(_, name)| !timing(name))
                .map(|(value, _)| value)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// Every line of the folder's `stem` files, by key, without its timings.
fn lines(out: &Path, stem: &str) -> BTreeMap<String, serde_json::Value> {
    let mut lines = BTreeMap::new();
    for entry in std::fs::read_dir(out).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !(name.starts_with(stem) && name.ends_with(".jsonl")) {
            continue;
        }
        for line in std::fs::read_to_string(out.join(&name)).unwrap().lines() {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            let fields = value.as_object_mut().unwrap();
            fields.retain(|k, _| {
                !(k.contains("ttft") || k.contains("peak") || k.contains("tokens_per_s"))
                    && k != "finished_at"
            });
            let key = fields["key"].as_str().unwrap().to_owned();
            assert!(lines.insert(key.clone(), value).is_none(), "{key} twice");
        }
    }
    lines
}

#[test]
fn three_shards_in_three_processes_merge_into_the_unsharded_report() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = (tiny_model(dir.path()), texts_in(dir.path(), 2));
    let whole = dir.path().join("whole");
    let output = eval_command(&model, &data, &whole, &[]).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let sharded = dir.path().join("sharded");
    let shards: Vec<_> = (0..3)
        .map(|i| {
            eval_command(&model, &data, &sharded, &["--shard", &format!("{i}/3")])
                .spawn()
                .unwrap()
        })
        .collect();
    for shard in shards {
        let output = shard.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(
        !sharded.join("summary.csv").exists(),
        "shards leave the report to the merge"
    );
    for i in 0..3 {
        assert!(
            sharded
                .join(format!("results.shard-{i}-of-3.jsonl"))
                .exists()
        );
    }
    let merge = eval_command(&model, &data, &sharded, &["--report-only"])
        .output()
        .unwrap();
    assert!(
        merge.status.success(),
        "{}",
        String::from_utf8_lossy(&merge.stderr)
    );

    assert_eq!(lines(&sharded, "results"), lines(&whole, "results"));
    assert_eq!(lines(&sharded, "needle"), lines(&whole, "needle"));
    assert_eq!(lines(&whole, "results").len(), 2 * (1 + 3 * 2));
    assert_eq!(lines(&whole, "needle").len(), (1 + 3 * 2) * 2, "one context, two depths");
    assert_eq!(figures(&sharded), figures(&whole));
}
