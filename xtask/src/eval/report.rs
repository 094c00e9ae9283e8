//! The report of a run folder: `summary.md` (leaderboard, tables, calibration, question
//! answering, plots) and `summary.csv`, from every shard's results and those of `--merge`.

use std::path::Path;

use super::{EvalArgs, calibration, manifest, needle, plots, qa, record, summary};

/// Writes `summary.md`, `summary.csv` and the plots from the run folder's results;
/// `threshold` is the synthetic tasks' calibration threshold.
pub fn write(args: &EvalArgs, out: &Path, threshold: f64) -> anyhow::Result<()> {
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
