//! A grid split into three shards, run by three processes at once into one folder, merges into
//! the report of the unsharded run (issue 13): every run and passkey cell once, the same
//! figures (timings aside).

use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::{figures, lines, texts_in, tiny_model, xtask_eval};

fn eval_command(model: &Path, data: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut args = vec![
        "--tokens",
        "96",
        "--docs",
        "2",
        "--chunks",
        "32",
        "--memories",
        "16",
    ];
    args.extend([
        "--memory-type",
        "FM,IMDC",
        "--pruners",
        "streaming_llm,snapkv,h2o",
    ]);
    args.extend(["--passkey-contexts", "96", "--passkey-depths", "0.25,0.75"]);
    args.extend(["--passkey-chunks", "32", "--synthetic-contexts", "48"]);
    args.extend_from_slice(extra);
    let mut command = xtask_eval(model, data, out, &args);
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    command
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
    assert_eq!(
        lines(&whole, "needle").len(),
        (1 + 3 * 2) * 2,
        "one context, two depths"
    );
    assert_eq!(figures(&sharded), figures(&whole));
    // The synthetic tasks' calibration: every shard needs full attention's answers to choose a
    // length, but each question is recorded once, by its own shard.
    assert_eq!(lines(&sharded, "qa"), lines(&whole, "qa"));
    assert_eq!(
        lines(&whole, "qa").len(),
        3 * 3 * 2,
        "three tasks, three depths, two samples, at the one length"
    );
    let calibration = |out: &std::path::Path| {
        let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
        let at = summary
            .find("## Synthetic tasks")
            .expect("a calibration table");
        summary[at..].lines().take(8).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(calibration(&sharded), calibration(&whole));
}
