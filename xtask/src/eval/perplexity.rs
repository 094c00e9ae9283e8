//! The grid's runs over the documents: perplexity, time to first token and peak memory, one
//! record a run appended to the results file as soon as it is done.

use std::collections::HashSet;
use std::path::Path;

use super::eval_model::EvalModel;
use super::grid::Grid;
use super::{EvalArgs, corpus, guard, measure, record};

/// Runs every run of `grids` over its documents of `texts` that the results in `out` do not
/// hold yet (under `--shard`, of this shard's share).
pub fn run(
    args: &EvalArgs,
    grids: &[Grid],
    texts: &[(String, String)],
    model: &EvalModel,
    out: &Path,
) -> anyhow::Result<()> {
    let results = args.file_of(out, "results");
    let mut plan = Vec::new();
    // Flags can make two grids alike (`--preset paper --step-ntk`): each run once.
    let mut planned = HashSet::new();
    for g in grids {
        let docs = corpus::documents(texts, &model.tokenizer, g.doc_tokens, g.docs)?;
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
    let done = record::done_keys_in::<record::Record>(out, "results")?;
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
    let bar = crate::progress::bar(todo.len())?;
    for (spec, doc) in todo {
        bar.set_message(format!(
            "{} {} C={} M={} on {}",
            spec.pruner, spec.method, spec.chunk, spec.memory, doc.name
        ));
        let transformer = model.for_run(spec);
        let mut record = measure::run(
            &transformer,
            spec,
            doc,
            args.timed_prefills(),
            &model.backend,
        );
        record.model.clone_from(&model.name);
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
    Ok(())
}
