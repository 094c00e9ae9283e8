//! `--devices 0,1` (issue 13): two worker processes, one per device (CPU workers here), each a
//! shard, merged into the report of a single-process run.

use std::path::Path;
use std::process::Output;

mod common;

use common::{figures, lines, texts_in, tiny_model, xtask_eval};

fn eval(model: &Path, data: &Path, out: &Path, extra: &[&str]) -> Output {
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
        "--no-passkey",
        "--no-synthetic",
        "--pruners",
        "streaming_llm,snapkv",
    ]);
    args.extend_from_slice(extra);
    xtask_eval(model, data, out, &args).output().unwrap()
}

#[test]
fn workers_on_two_devices_merge_into_the_single_process_report() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = (tiny_model(dir.path()), texts_in(dir.path(), 2));
    let single = dir.path().join("single");
    let output = eval(&model, &data, &single, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let workers = dir.path().join("workers");
    let output = eval(&model, &data, &workers, &["--devices", "0,1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("worker 1/2 on device 1"), "{stderr}");
    for device in [0, 1] {
        let log = std::fs::read_to_string(workers.join(format!("worker-{device}.log"))).unwrap();
        assert!(log.contains(&format!("shard {device}/2 done")), "{log}");
    }
    assert_eq!(lines(&workers, "results"), lines(&single, "results"));
    assert_eq!(lines(&single, "results").len(), 2 * (1 + 2 * 2));
    assert_eq!(figures(&workers), figures(&single));
}
