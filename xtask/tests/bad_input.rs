//! Bad input to the binaries (eval, probe, generate, the probe example): one line on stderr
//! naming what is wrong, and an exit code that says which kind of failure it was (2 usage, 65
//! bad data, 66 missing input).

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
    let xtask = PathBuf::from(env!("CARGO_BIN_EXE_xtask"));
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", "--no-passkey", "--tokens", "64", "--out"];
        args.push(out.to_str().unwrap());
        args.extend_from_slice(extra);
        (
            xtask.clone(),
            args.into_iter().map(String::from).collect::<Vec<_>>(),
        )
    };
    let generate = |extra: &[&str]| {
        let mut args = vec!["--prompt", "hello"];
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
    for (what, (program, args), expected, names) in cases {
        let output = Command::new(&program)
            .args(&args)
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
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
