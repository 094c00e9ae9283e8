//! The tiny model folder and text the eval tests run on.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A model folder: the `tiny_llama` fixture plus a word-level tokenizer over its 128 ids.
pub fn tiny_model(dir: &Path) -> PathBuf {
    let fixture = mss_testkit::fixture("tiny_llama");
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture.join(file), model.join(file)).unwrap();
    }
    let vocab: serde_json::Map<String, serde_json::Value> =
        std::iter::once(("[UNK]".into(), 0.into()))
            .chain((1..128).map(|i| (format!("w{i}"), i.into())))
            .collect();
    let tokenizer = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    std::fs::write(model.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    model
}

/// A folder with one text of 400 words, `a.txt`.
pub fn texts(dir: &Path) -> PathBuf {
    texts_in(dir, 1)
}

/// A folder with `count` texts of 400 words each, all different.
pub fn texts_in(dir: &Path, count: usize) -> PathBuf {
    let data = dir.join("texts");
    std::fs::create_dir_all(&data).unwrap();
    for text in 0..count {
        let words: Vec<String> = (0..400)
            .map(|i| format!("w{}", 1 + (i * 7 + text * 13) % 127))
            .collect();
        std::fs::write(
            data.join(format!("{}.txt", (b'a' + text as u8) as char)),
            words.join(" "),
        )
        .unwrap();
    }
    data
}

/// The summary's rows without the timing columns.
pub fn figures(out: &Path) -> Vec<String> {
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
pub fn lines(out: &Path, stem: &str) -> BTreeMap<String, serde_json::Value> {
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

/// `xtask eval` on `model` and `data` into `out`, with `args` before them (the grid's axes).
pub fn xtask_eval(model: &Path, data: &Path, out: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .arg("eval")
        .args(args)
        .arg("--model")
        .arg(model)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .env_remove("RUST_BACKTRACE");
    command
}
