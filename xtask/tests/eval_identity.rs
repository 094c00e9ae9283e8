//! A run folder knows its model (issue 13): results carry it, the report's title names it, and
//! an eval of another model, dtype or data into the same folder is refused, naming what
//! differs.

use std::path::Path;
use std::process::Output;

mod common;

use common::{texts, tiny_model, xtask_eval};

fn eval(model: &Path, data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--tokens", "96", "--chunks", "32", "--memories", "16"];
    args.extend([
        "--memory-type",
        "FM",
        "--no-passkey",
        "--no-synthetic",
        "--pruners",
        "streaming_llm",
    ]);
    args.extend_from_slice(extra);
    xtask_eval(model, data, out, &args).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_folder_refuses_another_model_dtype_or_data() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = (tiny_model(dir.path()), texts(dir.path()));
    let out = dir.path().join("run");
    let first = eval(&model, &data, &out, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let results = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert!(
        results.lines().all(|l| l.contains("\"model\":\"model\"")),
        "{results}"
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains("model, f32 on flex"),
        "the title names the model: {summary}"
    );

    // The same model copied elsewhere is the same identity.
    let copy = dir.path().join("copy").join("model");
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(model.join(file), copy.join(file)).unwrap();
    }
    let same = eval(&copy, &data, &out, &[]);
    assert!(same.status.success(), "{}", stderr(&same));

    // Another model: its config differs.
    let config = std::fs::read_to_string(copy.join("config.json"))
        .unwrap()
        .replace("\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 1e-06");
    std::fs::write(copy.join("config.json"), config).unwrap();
    let other = eval(&copy, &data, &out, &[]);
    let message = stderr(&other);
    assert_eq!(other.status.code(), Some(2), "{message}");
    assert!(
        message.contains("holds results of another run: model model ("),
        "{message}"
    );
    assert!(
        !message.contains("dtype f32"),
        "only what differs: {message}"
    );

    // Another dtype.
    let f16 = eval(&model, &data, &out, &["--dtype", "f16"]);
    let message = stderr(&f16);
    assert_eq!(f16.status.code(), Some(2), "{message}");
    assert!(message.contains("dtype f32 there, f16 now"), "{message}");

    // Other texts.
    std::fs::write(data.join("b.txt"), "w1 w2 w3").unwrap();
    let texts_changed = eval(&model, &data, &out, &[]);
    let message = stderr(&texts_changed);
    assert_eq!(texts_changed.status.code(), Some(2), "{message}");
    assert!(message.contains("data "), "{message}");
    std::fs::remove_file(data.join("b.txt")).unwrap();

    // Nothing was added by the refused runs; a folder from before manifests is adopted.
    assert_eq!(
        std::fs::read_to_string(out.join("results.jsonl")).unwrap(),
        results
    );
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    let adopted = eval(&model, &data, &out, &[]);
    assert!(adopted.status.success(), "{}", stderr(&adopted));
    assert!(out.join("manifest.json").exists());
}
