//! `--devices 0,1,...`: one worker process per device, each a shard of the grid on its device
//! (`--shard i/n --device d`), all into one run folder; the report is merged when every worker
//! has finished. A worker's output goes to `worker-<device>.log` in the folder.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::Context;

/// The arguments of this process without `--devices` (and its value), to be given to workers.
fn worker_args(args: &[String]) -> Vec<String> {
    let mut kept = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if arg == "--devices" || arg == "--out" {
            skip_value = true;
        } else if !(arg.starts_with("--devices=") || arg.starts_with("--out=")) {
            kept.push(arg.clone());
        }
    }
    kept
}

/// Runs one worker per device over `out` and waits for them all.
pub fn run(devices: &[usize], out: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the xtask binary")?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = worker_args(&args);
    let count = devices.len();
    let mut workers: Vec<(usize, std::path::PathBuf, Child)> = Vec::new();
    for (index, &device) in devices.iter().enumerate() {
        let log = out.join(format!("worker-{device}.log"));
        let file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(&exe)
            .args(&args)
            .arg("--out")
            .arg(out)
            .args([
                "--shard",
                &format!("{index}/{count}"),
                "--device",
                &device.to_string(),
            ])
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .spawn()
            .with_context(|| format!("starting the worker of device {device}"))?;
        eprintln!(
            "worker {index}/{count} on device {device}: pid {}, log {}",
            child.id(),
            log.display()
        );
        workers.push((device, log, child));
    }
    let mut failed = Vec::new();
    for (device, log, mut child) in workers {
        let status = child.wait()?;
        match status.success() {
            true => eprintln!("worker on device {device} done"),
            false => failed.push(format!("device {device} ({status}; see {})", log.display())),
        }
    }
    anyhow::ensure!(
        failed.is_empty(),
        "workers failed: {}; rerunning the same command resumes them",
        failed.join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_get_every_argument_but_devices_and_out() {
        let args: Vec<String> = [
            "eval",
            "--devices",
            "0,1",
            "--pruners",
            "h2o",
            "--out=x",
            "--devices=2",
            "--out",
            "y",
            "--no-passkey",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            worker_args(&args),
            ["eval", "--pruners", "h2o", "--no-passkey"]
        );
    }
}
