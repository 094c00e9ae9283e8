//! The tasks beside the grid's perplexity runs: question answering over a JSONL file (`--task
//! qa`), the passkey, and the synthetic tasks with their calibration. Each skips what its file
//! already holds and, under `--shard`, runs only its share.

use std::collections::HashSet;
use std::path::Path;

use mss::Tokenizer;

use super::eval_model::EvalModel;
use super::grid::{self, Grid, Method};
use super::{EvalArgs, calibration, corpus, guard, needle, qa, record, synthetic};

/// Every question under every run of the grids (each configuration once), into `qa.jsonl`
/// (or the shard's file), skipping what is done.
pub fn run_qa(
    args: &EvalArgs,
    grids: &[Grid],
    model: &EvalModel,
    task: &str,
    questions: &[qa::QaItem],
    out: &Path,
) -> anyhow::Result<()> {
    let path = args.file_of(out, "qa");
    let done = record::done_keys_in::<qa::QaRecord>(out, "qa")?;
    let mut planned = HashSet::new();
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
    let bar = crate::progress::bar(todo.len())?;
    for (spec, item) in todo {
        bar.set_message(format!("{} {} on {}", spec.pruner, spec.method, item.id));
        let transformer = model.for_run(&spec);
        let record = qa::run(
            &transformer,
            &model.tokenizer,
            &spec,
            task,
            item,
            args.answer_tokens,
        );
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
pub fn run_needles(
    args: &EvalArgs,
    axes: &grid::NeedleAxes,
    inputs: &TaskInputs,
    model: &EvalModel,
    out: &Path,
) -> anyhow::Result<()> {
    let path = args.file_of(out, "needle");
    let done: HashSet<String> = needle::read_folder(out)?
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
    let bar = crate::progress::bar(todo.len())?;
    for (spec, context, depth) in todo {
        bar.set_message(format!(
            "passkey: {} {} N={context} depth={depth}",
            spec.pruner, spec.method
        ));
        let transformer = model.for_run(spec);
        let record = needle::run(
            &transformer,
            &model.tokenizer,
            &inputs.haystack,
            spec,
            *context,
            *depth,
        );
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
pub fn run_synthetic(
    args: &EvalArgs,
    axes: &synthetic::SyntheticAxes,
    inputs: &TaskInputs,
    grids: &[Grid],
    model: &EvalModel,
    out: &Path,
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
    let bar = crate::progress::bar(questions * (axes.contexts.len() + runs.len()))?;
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
                let tokenizer = &model.tokenizer;
                let item = synthetic::item(task, tokenizer, haystack, tokens, depth, sample)?;
                let record = qa::run(
                    &model.for_run(spec),
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
pub struct TaskInputs {
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
    pub fn settle(
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
