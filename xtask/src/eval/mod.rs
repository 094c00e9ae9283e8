//! `cargo xtask eval`: perplexity, time to first token and peak memory over pruners × memory
//! types, resumable, with a Markdown/CSV report.
//!
//! Every finished run is appended at once to `results.jsonl` in the run folder; rerunning the
//! same command skips what is done, so Ctrl-C, a crash or a reboot loses at most the run in
//! flight. A configuration the library refuses is recorded as an error and the grid goes on.
//! One eval at a time writes to a run folder (`folder_lock`).

mod args;
mod backend;
mod calibration;
mod config_file;
mod corpus;
mod device_memory;
mod eval_model;
mod folder_lock;
mod grid;
mod guard;
mod manifest;
mod measure;
mod needle;
mod peak_memory;
mod perplexity;
mod plots;
mod qa;
mod record;
mod report;
mod scores;
mod shard;
mod summary;
mod synthetic;
mod tasks;
mod workers;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use mss::pruners::PrunerKind;
use mss::schedule::IncrementalType;
use mss_examples::Precision;

use eval_model::EvalModel;
use grid::Method;
use tasks::TaskInputs;

type Backend = mss::DefaultBackend;

/// Options of `cargo xtask eval`. Axis flags replace the preset's axis in every grid.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// `default` (minutes on 2 CPU cores) or `paper` (the paper's two experiments; 32K wants a
    /// GPU): the TOML files in `xtask/presets`.
    #[arg(long, default_value = "default", value_parser = ["default", "paper"])]
    preset: String,
    /// A TOML file of the eval instead of a preset (copy one of `xtask/presets`); flags given
    /// beside it replace its values.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// Pruners, comma-separated (e.g. `streaming_llm,snapkv,h2o`).
    #[arg(long, value_delimiter = ',')]
    pruners: Option<Vec<PrunerKind>>,
    /// Memory types, comma-separated: FM, IM, IMDC, FI, and `local` (no memory) — the same
    /// names as everywhere else (`--methods` is accepted too). Full attention is drawn unless
    /// `--no-full`.
    #[arg(long = "memory-type", alias = "methods", value_delimiter = ',')]
    methods: Option<Vec<Method>>,
    /// Chunk sizes, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = mss_examples::positive)]
    chunks: Option<Vec<usize>>,
    /// Memory sizes, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = mss_examples::positive)]
    memories: Option<Vec<usize>>,
    /// IM growth curve.
    #[arg(long)]
    incremental: Option<IncrementalType>,
    /// Tokens per document (the prompt length).
    #[arg(long, value_parser = mss_examples::positive)]
    tokens: Option<usize>,
    /// Number of documents.
    #[arg(long, value_parser = mss_examples::positive)]
    docs: Option<usize>,
    /// Skip the full-attention line.
    #[arg(long)]
    no_full: bool,
    /// Allow runs that rotate keys past the model's trained positions when its RoPE has no
    /// scaling (refused otherwise; the paper preset's 32K grids allow it).
    #[arg(long)]
    past_trained_positions: bool,
    /// Rotate with the paper's step-wise dynamic NTK (scaling the RoPE base once a step reaches
    /// past the model's context) instead of the model's own RoPE scaling.
    #[arg(long)]
    step_ntk: bool,
    /// Sink entries kept ahead of the memory (the prompt's first tokens).
    #[arg(long)]
    sinks: Option<usize>,
    /// RoPE positions of memory entries: `compact` (the paper: their index in the compacted
    /// cache) or `original` (their positions in the document).
    #[arg(long)]
    positions: Option<mss::PositionMode>,
    /// A folder of `.txt` files or a `.jsonl` file with a `text` field (default: the
    /// Shakespeare and Milton texts).
    #[arg(long)]
    data: Option<PathBuf>,
    /// A Hugging Face model folder (default: SmolLM2-135M-Instruct).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Weights' and activations' type (bf16 wants a GPU).
    #[arg(long, value_enum)]
    dtype: Option<Precision>,
    /// `perplexity` (the grid over documents, and the passkey) or `qa`: the questions of
    /// `--data file.jsonl` (`context`, `question`, `answers`) over the grid's runs.
    #[arg(long, value_enum, default_value_t = Task::Perplexity)]
    task: Task,
    /// New tokens generated for each answer of `--task qa`.
    #[arg(long, default_value_t = 16, value_parser = mss_examples::positive)]
    answer_tokens: usize,
    /// Only perplexity: skip the timed prefill.
    #[arg(long)]
    no_timing: bool,
    /// Timed prefills per run (after the perplexity pass): the report gives their median,
    /// with the minimum and maximum.
    #[arg(long, default_value_t = 1, value_parser = mss_examples::positive)]
    repeats: usize,
    /// Prompt lengths of the passkey task, comma-separated (default: the preset's).
    #[arg(long, value_delimiter = ',', value_parser = mss_examples::positive)]
    passkey_contexts: Option<Vec<usize>>,
    /// Depths of the passkey in the haystack, comma-separated fractions.
    #[arg(long, value_delimiter = ',')]
    passkey_depths: Option<Vec<f64>>,
    /// Chunk sizes of the passkey task, comma-separated (default: the preset's).
    #[arg(long, value_delimiter = ',', value_parser = mss_examples::positive)]
    passkey_chunks: Option<Vec<usize>>,
    /// Skip the passkey task.
    #[arg(long)]
    no_passkey: bool,
    /// Skip the synthetic tasks (multikey, variable tracking, common words) and their
    /// calibration.
    #[arg(long)]
    no_synthetic: bool,
    /// Context lengths the synthetic tasks calibrate over, comma-separated (default: the
    /// preset's).
    #[arg(long, value_delimiter = ',', value_parser = mss_examples::positive)]
    synthetic_contexts: Option<Vec<usize>>,
    /// Only rewrite `summary.md`, `summary.csv` and the plots from the run folder's results
    /// (every shard's, and those of the `--merge` folders); runs nothing.
    #[arg(long)]
    report_only: bool,
    /// Run only this share of the grid's runs and passkey cells, `i/n` (0 <= i < n): each
    /// shard writes its own files and several may share the folder; `--report-only` merges.
    #[arg(long)]
    shard: Option<shard::Shard>,
    /// With `--report-only`: also the results of these run folders (of the same model, dtype,
    /// backend and data), comma-separated.
    #[arg(long, value_delimiter = ',')]
    merge: Vec<PathBuf>,
    /// Run the grid on these devices at once, comma-separated (`0,1`): one worker process per
    /// device, each a shard, then the merged report. CPU builds run CPU workers.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["shard", "device", "report_only"])]
    devices: Option<Vec<usize>>,
    /// The device to run on (a CUDA device's index; CPU builds have one device, 0).
    #[arg(long)]
    device: Option<usize>,
    /// CUDA builds: attention and the pruners' statistics through cuBLAS products around a
    /// softmax instead of the flash kernels (`mss::models::use_flash_attention`, the default).
    /// They agree within bf16 rounding, not to the bit: the folder's backend is `cuda` with
    /// this flag and `cuda+flash` without it, so results of the two never share a report.
    #[arg(long)]
    no_flash_attention: bool,
    /// CUDA builds: attention through the flash kernel instead of cuDNN's fused attention (the
    /// default where cuDNN ≥ 9.11 is found, `mss::models::use_cudnn_attention`; the pruners'
    /// statistics come from its log-sum-exp through the flash statistics kernel). The two agree
    /// within bf16 rounding, not to the bit: the backend is `cuda+cudnn` through cuDNN and
    /// `cuda+flash` with this flag.
    #[arg(long)]
    no_cudnn_attention: bool,
    /// The run folder (default: `target/eval/<preset>` for the default model in f32, else
    /// `target/eval/<preset>-<model folder>-<dtype>`). A folder holds one model, dtype,
    /// backend and data (its `manifest.json`); another is refused.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// What the eval measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Task {
    /// Perplexity, time to first token and peak memory over documents; the passkey.
    Perplexity,
    /// Question answering over a JSONL file.
    Qa,
}

/// Runs the grid, then writes the report.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let (args, file) = args.resolve()?;
    backend::select_attention(&args)?;
    let grids = args.grids(&file)?;
    let out = args.out_folder();
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let threshold = file
        .synthetic_axes()
        .map_err(mss_examples::exit::bad_data)?
        .map_or(calibration::DEFAULT_THRESHOLD, |axes| axes.threshold);
    if args.report_only {
        return report::write(&args, &out, threshold);
    }
    if let Some(devices) = &args.devices {
        workers::run(devices, &out)?;
        return report::write(&args, &out, threshold);
    }
    let _lock = match &args.shard {
        Some(shard) => folder_lock::FolderLock::acquire_shard(&out, shard)?,
        None => folder_lock::FolderLock::acquire(&out)?,
    };
    let dir = match &args.model {
        Some(dir) => dir.clone(),
        None => mss::assets::ensure_default_model().context("fetching the default model")?,
    };
    let model = EvalModel::load(&dir, &args)?;
    let (texts, questions) = match args.task {
        Task::Perplexity => (corpus::texts(args.data.as_deref())?, Vec::new()),
        Task::Qa => {
            let path = args.data.as_deref().ok_or_else(|| {
                mss_examples::exit::bad_usage("--task qa needs --data file.jsonl")
            })?;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            (vec![(args::folder_name(path), text)], qa::read(path)?)
        }
    };
    let manifest = manifest::Manifest {
        model: model.name.clone(),
        model_path: dir.display().to_string(),
        model_hash: manifest::model_hash(&dir)?,
        dtype: args.dtype().name().into(),
        backend: backend::name(&args),
        data: match &args.data {
            Some(path) => path.display().to_string(),
            None => "Shakespeare and Milton (modern spelling)".into(),
        },
        data_hash: manifest::data_hash(&texts),
        code_version: env!("CARGO_PKG_VERSION").into(),
    };
    // The tasks beside the grid settle their runs and haystacks before anything runs or the
    // folder is claimed, so a bad length or chunk size is refused at once.
    let (needles, synthetic) = match args.task {
        Task::Perplexity => (args.needle_axes(&file), args.synthetic_axes(&file)?),
        Task::Qa => (None, None),
    };
    let needles = needles
        .map(|axes| {
            let inputs = TaskInputs::settle(
                &grids,
                &texts,
                &model.tokenizer,
                "passkey",
                axes.contexts.iter().copied().max().unwrap_or(0),
                axes.chunks.as_deref(),
                "pass --passkey-chunks with one of them, or --no-passkey",
            )?;
            anyhow::Ok((axes, inputs))
        })
        .transpose()?;
    let synthetic = synthetic
        .map(|axes| {
            let inputs = TaskInputs::settle(
                &grids,
                &texts,
                &model.tokenizer,
                "synthetic",
                axes.longest(),
                axes.chunks.as_deref(),
                "set [synthetic] chunks to some of them, or pass --no-synthetic",
            )?;
            anyhow::Ok((axes, inputs))
        })
        .transpose()?;
    manifest.claim(&out)?;
    match args.task {
        Task::Qa => {
            let path = args.data.as_deref().unwrap_or(Path::new("qa"));
            let task = path
                .file_stem()
                .map_or_else(|| "qa".into(), |s| s.to_string_lossy().into_owned());
            tasks::run_qa(&args, &grids, &model, &task, &questions, &out)?;
        }
        Task::Perplexity => {
            perplexity::run(&args, &grids, &texts, &model, &out)?;
            if let Some((axes, inputs)) = &needles {
                tasks::run_needles(&args, axes, inputs, &model, &out)?;
            }
            if let Some((axes, inputs)) = &synthetic {
                tasks::run_synthetic(&args, axes, inputs, &grids, &model, &out)?;
            }
        }
    }
    if let Some(shard) = &args.shard {
        eprintln!(
            "shard {shard} done; when every shard is, `cargo xtask eval --report-only --out {}` \
             writes the merged report",
            out.display()
        );
        return Ok(());
    }
    report::write(&args, &out, threshold)
}
