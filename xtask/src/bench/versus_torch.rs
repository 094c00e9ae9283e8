//! `cargo xtask bench --versus-torch`: `mss` and the PyTorch yardstick
//! (`bench/torch_baseline.py`, an independent PyTorch + transformers implementation of
//! the same prefills) timed in one run on this machine, configuration by configuration: `mss`'s
//! runs, then one PyTorch process for the same configuration, so that every ratio compares
//! figures taken within a minute or two of each other on a machine whose speed drifts. With
//! `--rounds` above 1 the two sides alternate that many times per configuration and each
//! side's runs are pooled.
//!
//! Both sides prefill pseudo-random tokens through a random-weight model of SmolLM2-135M's shape
//! in f32 (the work does not depend on the weights) and stop the clock once the first token is
//! read: time to first token. Full attention is one forward pass over the whole prompt on both
//! sides; the pruned runs use chunks of C tokens and a memory of M entries under FM and IMDC.
//! PyTorch has no H2O; `h2o` is set beside its `snapkv`, the run that needs the same attention
//! probabilities.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use burn::prelude::*;
use burn::tensor::DType;
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss::{Cpu, PrefillConfig, Prefiller, Transformer, TransformerConfig};
use mss_examples::median;
use plotters::prelude::*;
use serde::Serialize;

/// Options of the side-by-side run.
#[derive(Debug, clap::Args)]
pub struct VersusArgs {
    /// A Python that has torch and transformers (a throw-away venv; never a dependency of the
    /// project). Without it only `mss` is timed.
    #[arg(long)]
    python: Option<PathBuf>,
    /// The PyTorch yardstick.
    #[arg(long, default_value = "bench/torch_baseline.py")]
    torch_script: PathBuf,
    /// Prompt lengths.
    #[arg(long, value_delimiter = ',', default_value = "2048,4096,8192", value_parser = mss_examples::positive)]
    lengths: Vec<usize>,
    /// Chunk size C of the pruned runs.
    #[arg(long, default_value_t = 512, value_parser = mss_examples::positive)]
    chunk: usize,
    /// Memory size M of the pruned runs.
    #[arg(long, default_value_t = 256, value_parser = mss_examples::positive)]
    memory: usize,
    /// Timed runs per configuration after one warm-up (the median and the best run are
    /// reported).
    #[arg(long, default_value_t = 3, value_parser = mss_examples::positive)]
    reps: usize,
    /// Rounds per configuration, each `mss`'s runs then PyTorch's, pooled: with several, the
    /// two sides alternate, so a slow spell of the machine falls on both rather than on one.
    #[arg(long, default_value_t = 1, value_parser = mss_examples::positive)]
    rounds: usize,
    /// Where the table, the plot and the raw figures go.
    #[arg(long, default_value = "target/bench/versus-torch")]
    out: PathBuf,
}

/// One configuration at one length, both sides.
#[derive(Debug, Clone, Serialize)]
struct Row {
    length: usize,
    label: String,
    /// The PyTorch run it is compared with.
    torch_label: String,
    mss_s: f64,
    mss_runs: Vec<f64>,
    torch_s: Option<f64>,
    /// PyTorch's timed runs (its median is `torch_s`).
    torch_runs: Vec<f64>,
}

/// The configurations of `mss` and the PyTorch run (`mode`, `pruner`, `memory_type`) each is
/// compared with.
fn configs(length: usize, chunk: usize, memory: usize) -> Vec<(String, PrefillConfig, String)> {
    let mut configs = vec![(
        "full attention".to_string(),
        PrefillConfig::full_attention(length),
        "full".to_string(),
    )];
    for (pruner, torch) in [
        (PrunerKind::StreamingLlm, "streaming"),
        (PrunerKind::SnapKv, "snapkv"),
        (PrunerKind::H2o, "snapkv"),
    ] {
        for (method, decremental) in [("FM", false), ("IMDC", true)] {
            let memory_type = if decremental {
                MemoryType::Im
            } else {
                MemoryType::Fm
            };
            let config = PrefillConfig::new(pruner, memory_type, chunk, memory)
                .with_decremental(decremental);
            configs.push((
                format!("{pruner} {method}"),
                config,
                format!("{torch} {method}"),
            ));
        }
    }
    // Timing only: positions past the model's trained window change the numbers, not the work.
    configs
        .into_iter()
        .map(|(name, config, torch)| (name, config.with_past_trained_positions(true), torch))
        .collect()
}

/// Runs both sides for every length and writes `table.md`, `time_vs_length.svg` and
/// `results.json` into `--out`.
pub fn run(args: VersusArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.reps > 0, "--reps must be at least 1");
    anyhow::ensure!(args.rounds > 0, "--rounds must be at least 1");
    anyhow::ensure!(
        args.lengths.iter().all(|&l| l > 0),
        "--lengths must be positive"
    );
    if let Some(python) = &args.python {
        anyhow::ensure!(
            args.torch_script.is_file(),
            "the PyTorch yardstick {} is not there (--torch-script)",
            args.torch_script.display()
        );
        let probe = Command::new(python)
            .args(["-c", "import torch, transformers"])
            .status()
            .with_context(|| format!("running {}", python.display()))?;
        anyhow::ensure!(
            probe.success(),
            "{} cannot import torch and transformers",
            python.display()
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let device = Default::default();
    Cpu::seed(&device, 0);
    let model = TransformerConfig::smollm2_135m().init::<Cpu>(&device, DType::F32);
    let total = args.lengths.len() * configs(1, args.chunk, args.memory).len();
    let bar = crate::progress::bar(total)?;
    let mut rows = Vec::new();
    for &length in &args.lengths {
        // Random weights and tokens: a prefill's time does not depend on either.
        let ids = mss_examples::random::ids(length, model.config.vocab_size, 0);
        for (label, config, torch_label) in configs(length, args.chunk, args.memory) {
            let (mut runs, mut torch_runs) = (Vec::new(), Vec::new());
            for round in 0..args.rounds {
                bar.set_message(format!("mss {label}, L = {length}"));
                runs.extend(
                    time_prefill(&model, &config, &ids, args.reps)
                        .with_context(|| format!("{label} at L = {length}"))?,
                );
                if let Some(python) = &args.python {
                    bar.set_message(format!("PyTorch {torch_label}, L = {length}"));
                    // Named after this row: `h2o` rows rerun PyTorch's `snapkv`, whose own
                    // row's figures must not be overwritten.
                    let name = label.replace(' ', "_");
                    let json = match args.rounds {
                        1 => args.out.join(format!("torch_L{length}_{name}.json")),
                        _ => args
                            .out
                            .join(format!("torch_L{length}_{name}_round{round}.json")),
                    };
                    torch_runs.extend(torch_time(python, &args, length, &torch_label, &json)?);
                }
            }
            // The yardstick's own median is Python's `statistics.median`, which `median` equals.
            let torch_s = (!torch_runs.is_empty()).then(|| median(&torch_runs));
            rows.push(Row {
                length,
                label,
                torch_label,
                mss_s: median(&runs),
                mss_runs: runs,
                torch_s,
                torch_runs,
            });
            write_reports(&args.out, &rows, &args)?;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    println!("{}", table(&rows, &args));
    eprintln!("reports: {}", args.out.display());
    Ok(())
}

/// One warm-up, then `reps` timed prefills, each ended by reading the first token back.
fn time_prefill(
    model: &Transformer<Cpu>,
    config: &PrefillConfig,
    ids: &[u32],
    reps: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut prefiller = Prefiller::<Cpu>::new(config.clone())?;
    let mut once = || -> anyhow::Result<f64> {
        let start = Instant::now();
        let prefill = prefiller.prefill(model, ids)?;
        let _first: i64 = prefill.next_logits.argmax(0).into_scalar().elem();
        Ok(start.elapsed().as_secs_f64())
    };
    once()?;
    (0..reps).map(|_| once()).collect()
}

/// Runs the yardstick for one configuration (`"full"` or `"<pruner> <FM|IMDC>"`), its report
/// written to `json`, and returns every timed run's time to first token.
fn torch_time(
    python: &Path,
    args: &VersusArgs,
    length: usize,
    label: &str,
    json: &Path,
) -> anyhow::Result<Vec<f64>> {
    let mut command = Command::new(python);
    command
        .arg(&args.torch_script)
        .args([
            "--device",
            "cpu",
            "--models",
            "smollm2-135m",
            "--dtype",
            "fp32",
        ])
        .arg("--no-calibration")
        .arg("--L")
        .arg(length.to_string())
        .arg("--settings")
        .arg(format!("{}:{}", args.chunk, args.memory))
        .arg("--reps")
        .arg(args.reps.to_string())
        .arg("--out")
        .arg(json);
    match label.split_once(' ') {
        Some((pruner, method)) => {
            command.args(["--no-full", "--pruners", pruner, "--memtypes", method])
        }
        None => command.args(["--pruners", ""]),
    };
    let output = command.output().context("running the PyTorch yardstick")?;
    anyhow::ensure!(
        output.status.success(),
        "the PyTorch yardstick failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(json).with_context(|| format!("reading {}", json.display()))?,
    )
    .with_context(|| format!("parsing {}", json.display()))?;
    let result = doc["results"]
        .as_array()
        .and_then(|results| results.first())
        .with_context(|| format!("no result in {}", json.display()))?;
    let runs: Vec<f64> = result["ttft_all_s"]
        .as_array()
        .map(|runs| runs.iter().filter_map(|r| r.as_f64()).collect())
        .unwrap_or_default();
    anyhow::ensure!(
        !runs.is_empty(),
        "no timed run (ttft_all_s) in {}",
        json.display()
    );
    Ok(runs)
}

/// The fastest of some runs (`None` for none): on a shared machine a slowdown only ever adds
/// time, so the best run is the figure least disturbed by other load.
fn best(runs: &[f64]) -> Option<f64> {
    runs.iter().copied().reduce(f64::min)
}

fn table(rows: &[Row], args: &VersusArgs) -> String {
    let mut out = format!(
        "C = {}, M = {}; {} round(s) per configuration, each {} runs after a warm-up on each \
         side (mss, then PyTorch); speed = PyTorch's time / mss's, from the medians and from \
         each side's best run.\n\n\
         | L | configuration | PyTorch run | PyTorch s | mss s | mss speed vs PyTorch | \
         best PyTorch s | best mss s | best-run speed |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        args.chunk, args.memory, args.rounds, args.reps
    );
    let seconds = |t: Option<f64>| t.map_or("-".into(), |t| format!("{t:.2}"));
    let speed = |torch: Option<f64>, mss: Option<f64>| match (torch, mss) {
        (Some(t), Some(m)) => format!("{:.2}×", t / m),
        _ => "-".into(),
    };
    for row in rows {
        let (best_torch, best_mss) = (best(&row.torch_runs), best(&row.mss_runs));
        out += &format!(
            "| {} | {} | {} | {} | {:.2} | {} | {} | {} | {} |\n",
            row.length,
            row.label,
            row.torch_label,
            seconds(row.torch_s),
            row.mss_s,
            speed(row.torch_s, Some(row.mss_s)),
            seconds(best_torch),
            seconds(best_mss),
            speed(best_torch, best_mss),
        );
    }
    out
}

fn write_reports(dir: &Path, rows: &[Row], args: &VersusArgs) -> anyhow::Result<()> {
    std::fs::write(dir.join("table.md"), table(rows, args))?;
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(rows)?,
    )?;
    plot(&dir.join("time_vs_length.svg"), rows)
}

/// Time to first token against L for full attention and the FM / IMDC runs: `mss` solid,
/// PyTorch dashed, one colour per configuration.
fn plot(path: &Path, rows: &[Row]) -> anyhow::Result<()> {
    const SHOWN: [(&str, RGBColor); 5] = [
        ("full attention", RGBColor(88, 110, 117)),
        ("streaming_llm FM", RGBColor(220, 50, 47)),
        ("streaming_llm IMDC", RGBColor(133, 153, 0)),
        ("snapkv FM", RGBColor(38, 139, 210)),
        ("snapkv IMDC", RGBColor(211, 54, 130)),
    ];
    let mut lengths: Vec<usize> = rows.iter().map(|r| r.length).collect();
    lengths.dedup();
    let top = rows
        .iter()
        .flat_map(|r| [Some(r.mss_s), r.torch_s])
        .flatten()
        .fold(0.0f64, f64::max)
        * 1.1;
    let (lo, hi) = (
        *lengths.first().unwrap_or(&0) as f64,
        *lengths.last().unwrap_or(&1) as f64,
    );
    let root = SVGBackend::new(path, (760, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Time to first token on the CPU: mss (solid) vs PyTorch (dashed)",
            ("sans-serif", 17),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(lo..hi.max(lo + 1.0), 0.0..top.max(0.1))?;
    chart
        .configure_mesh()
        .x_desc("prompt length L (tokens)")
        .y_desc("seconds")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    for (label, color) in SHOWN {
        let series = |value: fn(&Row) -> Option<f64>| -> Vec<(f64, f64)> {
            rows.iter()
                .filter(|r| r.label == label)
                .filter_map(|r| Some((r.length as f64, value(r)?)))
                .collect()
        };
        let ours = series(|r| Some(r.mss_s));
        chart
            .draw_series(LineSeries::new(ours.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart.draw_series(ours.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        let theirs = series(|r| r.torch_s);
        chart.draw_series(DashedLineSeries::new(theirs, 6, 4, color.stroke_width(2)))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_gives_median_and_best_run_speeds() {
        let args = VersusArgs {
            python: None,
            torch_script: PathBuf::new(),
            lengths: vec![2048],
            chunk: 512,
            memory: 256,
            reps: 3,
            rounds: 1,
            out: PathBuf::new(),
        };
        let rows = [
            Row {
                length: 2048,
                label: "snapkv FM".into(),
                torch_label: "snapkv FM".into(),
                mss_s: 3.0,
                mss_runs: vec![3.0, 2.5, 6.0],
                torch_s: Some(4.5),
                torch_runs: vec![4.5, 5.0, 4.0],
            },
            Row {
                length: 2048,
                label: "h2o FM".into(),
                torch_label: "snapkv FM".into(),
                mss_s: 2.0,
                mss_runs: vec![2.0],
                torch_s: None,
                torch_runs: Vec::new(),
            },
        ];
        let table = table(&rows, &args);
        assert!(
            table.contains(
                "| 2048 | snapkv FM | snapkv FM | 4.50 | 3.00 | 1.50× | 4.00 | 2.50 | 1.60× |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| 2048 | h2o FM | snapkv FM | - | 2.00 | - | - | 2.00 | - |"),
            "{table}"
        );
        assert_eq!(best(&[]), None);
    }
}
