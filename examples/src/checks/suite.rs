//! Every device check in one run, with a verdict each: `device_check`'s record of a device
//! (docs/results/). The checks run in `prefill_timing`'s order, after the same random-weight
//! model is built from the same seed, so that their random inputs — and so their figures —
//! are those of `prefill_timing --tokens 1024 --check-model` on the same device. A failing or
//! panicking check does not stop the ones after it: the record shows every failure at once.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use mss::DefaultBackend as B;
use mss::Transformer;

use crate::random::{self, ModelShape};

/// A family of device checks (one file of [`checks`](super)), as `device_check --checks`
/// names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    /// `snapkv`'s pooling against the shifted sums (to the bit).
    Pooling,
    /// The device top-k (the crate's kernels and Burn's operations) against the host's.
    TopK,
    /// The fused and flash attentions against blocked products.
    Attention,
    /// cuBLAS products against Burn's, and their ordering against Burn's kernels.
    Products,
    /// The model's last logits through the crate's kernels against Burn's operations.
    Model,
    /// The KV cache's join and gather kernels against Burn's operations (to the bit).
    Kv,
    /// The RoPE kernel against Burn's operations.
    Rope,
    /// The residual add with its RMSNorm and the MLP's gating kernels against Burn's operations.
    Elementwise,
    /// The attention statistics (products and flash kernels) against blocked products.
    Statistics,
}

impl Family {
    /// Every family, in the order they run.
    pub const ALL: [Family; 9] = [
        Family::Pooling,
        Family::TopK,
        Family::Attention,
        Family::Products,
        Family::Model,
        Family::Kv,
        Family::Rope,
        Family::Elementwise,
        Family::Statistics,
    ];

    /// The name on the command line and in the verdicts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pooling => "pooling",
            Self::TopK => "top-k",
            Self::Attention => "attention",
            Self::Products => "products",
            Self::Model => "model",
            Self::Kv => "kv",
            Self::Rope => "rope",
            Self::Elementwise => "elementwise",
            Self::Statistics => "statistics",
        }
    }
}

/// Prompt length of the random-weight model (the model check prefills its first 768 tokens):
/// `prefill_timing --tokens 1024`'s, whose checks these reproduce.
pub const MODEL_TOKENS: usize = 1024;

/// What the checks run on: the device, the random-weight model and its prompt, and whether
/// the flash kernels carry the attention between checks (`prefill_timing` without `--no-flash`).
pub struct Suite {
    device: burn::tensor::Device<B>,
    flash: bool,
    /// Whether cuDNN's attention was on when the suite was made (restored between checks).
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    cudnn: bool,
    model: Transformer<B>,
    ids: Vec<u32>,
}

impl Suite {
    /// Builds `prefill_timing`'s default random-weight model (SmolLM2's shape, bf16, seed 0)
    /// and prompt on `device`: first, as `prefill_timing` does, so that the random tensors of
    /// the checks after it come from the same stream.
    pub fn new(device: burn::tensor::Device<B>, flash: bool) -> Self {
        let model = random::model::<B>(
            ModelShape::Smollm2,
            MODEL_TOKENS,
            &device,
            burn::tensor::DType::BF16,
        )
        .with_host_kernels(true);
        let ids = random::ids(MODEL_TOKENS, model.config.vocab_size, 1);
        #[cfg(feature = "cuda")]
        let cudnn = mss::models::cudnn_attention_enabled();
        #[cfg(not(feature = "cuda"))]
        let cudnn = false;
        Self {
            device,
            flash,
            cudnn,
            model,
            ids,
        }
    }

    /// Runs the checks of `families` (in the suite's order, whatever the order asked): for
    /// each a header line, the check's own lines and a `PASS`, `FAIL` or `SKIP` line; then the
    /// summary line. Returns the verdicts.
    pub fn run(&self, families: &[Family]) -> Vec<Verdict> {
        let entries = self
            .entries()
            .into_iter()
            .filter(|entry| families.contains(&entry.family))
            .collect();
        run_entries(entries, || self.reset_switches())
    }

    /// Every check of the suite, in order.
    fn entries(&self) -> Vec<Entry<'_>> {
        let device = &self.device;
        let flash = self.flash;
        let mut entries = vec![
            Entry::new(Family::Pooling, "check_pooling", move || {
                super::check_pooling(device)
            }),
            Entry::new(Family::TopK, "check_selection", move || {
                super::check_selection(device, false)
            }),
            Entry::new(Family::Attention, "check_long_chunks", move || {
                super::check_long_chunks(device, flash)
            }),
        ];
        #[cfg(feature = "cuda")]
        {
            // Without the library the products are Burn's on both sides: nothing to compare.
            let skip = (!mss::models::cublas_available())
                .then_some("cuBLAS not found: the crate's products fall back to Burn's");
            entries.extend([
                Entry::new(Family::Pooling, "check_score_kernel", move || {
                    super::check_score_kernel(device)
                }),
                Entry::new(Family::Products, "check_linear_products", move || {
                    super::check_linear_products(device, true)
                })
                .skipped(skip),
                Entry::new(Family::Products, "check_product_chain", move || {
                    super::check_product_chain(device, true)
                })
                .skipped(skip),
                Entry::new(Family::Model, "check_model_kernels", move || {
                    super::check_model_kernels(&self.model, &self.ids)
                })
                .skipped(skip),
                Entry::new(Family::Kv, "check_kv_kernels", move || {
                    super::check_kv_kernels(&self.model, &self.ids)
                }),
            ]);
        }
        #[cfg(not(feature = "cuda"))]
        let _ = (&self.model, &self.ids);
        entries.push(Entry::new(Family::Rope, "check_rope", move || {
            super::check_rope(device)
        }));
        #[cfg(feature = "cuda")]
        entries.push(Entry::new(
            Family::Elementwise,
            "check_elementwise_kernels",
            move || super::check_elementwise_kernels(device),
        ));
        entries.extend([
            Entry::new(
                Family::Statistics,
                "check_statistics_attention",
                move || super::check_statistics_attention(device),
            ),
            Entry::new(Family::Statistics, "check_model_statistics", move || {
                super::check_model_statistics(device, flash)
            }),
        ]);
        entries
    }

    /// The process-wide switches as `prefill_timing` holds them between its checks by default
    /// (the crate's kernels on, cuBLAS on CubeCL's stream, the fused attention, the flash
    /// kernels as asked): restored before each check, so that one that failed half-way does not
    /// send the next down another path.
    fn reset_switches(&self) {
        #[cfg(feature = "cuda")]
        {
            mss::models::use_cublas(true);
            mss::models::order_cublas(mss::models::ProductOrdering::CubeclStream);
            mss::models::use_rope_kernel(true);
            mss::models::use_flash_attention(self.flash);
            mss::models::use_cudnn_attention(self.cudnn);
            mss::pruners::use_top_k_kernel(true);
            mss::core::cuda::use_kv_kernels(true);
            mss::pruners::use_score_kernel(true);
        }
        mss::core::attention::use_attention_kernel(mss::core::attention::AttentionKernel::Fused);
    }
}

/// One check of the suite, not yet run.
struct Entry<'a> {
    family: Family,
    name: &'static str,
    /// Why it is not run here, if it is not.
    skip: Option<&'static str>,
    check: Box<dyn FnOnce() -> anyhow::Result<()> + 'a>,
}

impl<'a> Entry<'a> {
    fn new(
        family: Family,
        name: &'static str,
        check: impl FnOnce() -> anyhow::Result<()> + 'a,
    ) -> Self {
        Self {
            family,
            name,
            skip: None,
            check: Box::new(check),
        }
    }

    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    fn skipped(self, skip: Option<&'static str>) -> Self {
        Self { skip, ..self }
    }
}

/// How a check ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It ran and agreed.
    Pass,
    /// It ran and disagreed, or could not run (an error or a panic): the message.
    Fail(String),
    /// It was not run here: why.
    Skip(&'static str),
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Its family.
    pub family: Family,
    /// Its function's name (`check_pooling`, ...).
    pub name: &'static str,
    /// How it ended.
    pub outcome: Outcome,
    /// Seconds it took (compiling and tuning kernels included, on a fresh device).
    pub seconds: f64,
}

impl Verdict {
    /// The verdict's line: `PASS`, `FAIL` or `SKIP`, the family and the check, the time, and
    /// for a failure the message (its lines indented below).
    pub fn line(&self) -> String {
        let what = format!(
            "{}: {} [{:.1} s]",
            self.family.name(),
            self.name,
            self.seconds
        );
        match &self.outcome {
            Outcome::Pass => format!("PASS {what}"),
            Outcome::Fail(message) => {
                format!("FAIL {what}: {}", message.replace('\n', "\n    "))
            }
            Outcome::Skip(why) => format!("SKIP {what}: {why}"),
        }
    }
}

/// The summary line of a run: how many checks passed of those run, the failures and skips by
/// name, the total time.
pub fn summary(verdicts: &[Verdict]) -> String {
    let named = |keep: fn(&Outcome) -> bool| -> Vec<String> {
        verdicts
            .iter()
            .filter(|v| keep(&v.outcome))
            .map(|v| format!("{}: {}", v.family.name(), v.name))
            .collect()
    };
    let failed = named(|o| matches!(o, Outcome::Fail(_)));
    let skipped = named(|o| matches!(o, Outcome::Skip(_)));
    let run = verdicts.len() - skipped.len();
    let mut line = format!("summary: {} of {run} checks passed", run - failed.len());
    if !failed.is_empty() {
        line += &format!("; FAILED {}", failed.join(", "));
    }
    if !skipped.is_empty() {
        line += &format!("; skipped {}", skipped.join(", "));
    }
    let seconds: f64 = verdicts.iter().map(|v| v.seconds).sum();
    line + &format!(" [{seconds:.0} s]")
}

/// Whether every check that ran passed.
pub fn all_passed(verdicts: &[Verdict]) -> bool {
    verdicts
        .iter()
        .all(|v| !matches!(v.outcome, Outcome::Fail(_)))
}

/// Runs `entries` in order, `before` ahead of each: a header line, the check's own lines, its
/// verdict's line; then the summary line.
fn run_entries(entries: Vec<Entry<'_>>, before: impl Fn()) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for entry in entries {
        let start = Instant::now();
        let outcome = match entry.skip {
            Some(why) => Outcome::Skip(why),
            None => {
                println!("-- {}: {}", entry.family.name(), entry.name);
                before();
                match catch_unwind(AssertUnwindSafe(entry.check)) {
                    Ok(Ok(())) => Outcome::Pass,
                    Ok(Err(error)) => Outcome::Fail(format!("{error:#}")),
                    Err(payload) => {
                        Outcome::Fail(format!("panicked: {}", mss::panic_message(&*payload)))
                    }
                }
            }
        };
        let verdict = Verdict {
            family: entry.family,
            name: entry.name,
            outcome,
            seconds: start.elapsed().as_secs_f64(),
        };
        println!("{}", verdict.line());
        verdicts.push(verdict);
    }
    println!("{}", summary(&verdicts));
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_runs_and_the_summary_names_the_failures() {
        let ran = std::cell::Cell::new(0);
        let entries = vec![
            Entry::new(Family::Pooling, "passes", || Ok(())),
            Entry::new(Family::TopK, "fails", || anyhow::bail!("off by\nthis much")),
            Entry::new(Family::Rope, "panics", || panic!("a kernel panicked")),
            Entry::new(Family::Model, "not here", || Ok(())).skipped(Some("no cuBLAS")),
            Entry::new(Family::Statistics, "passes too", || Ok(())),
        ];
        let verdicts = run_entries(entries, || ran.set(ran.get() + 1));
        assert_eq!(
            ran.get(),
            4,
            "switches reset before each check run, none for a skip"
        );
        let outcomes: Vec<_> = verdicts.iter().map(|v| v.outcome.clone()).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Pass,
                Outcome::Fail("off by\nthis much".into()),
                Outcome::Fail("panicked: a kernel panicked".into()),
                Outcome::Skip("no cuBLAS"),
                Outcome::Pass,
            ]
        );
        assert!(!all_passed(&verdicts));
        assert!(verdicts[1].line().starts_with("FAIL top-k: fails ["));
        assert!(verdicts[1].line().ends_with("]: off by\n    this much"));
        let summary = summary(&verdicts);
        assert!(
            summary.starts_with(
                "summary: 2 of 4 checks passed; FAILED top-k: fails, rope: panics; skipped \
                 model: not here ["
            ),
            "{summary}"
        );
        assert!(all_passed(&verdicts[..1]) && all_passed(&verdicts[3..]));
    }

    #[test]
    fn the_families_run_in_prefill_timings_order_under_their_command_line_names() {
        use clap::ValueEnum;
        for family in Family::ALL {
            let value = family.to_possible_value().expect("every family is a value");
            assert_eq!(value.get_name(), family.name());
        }
        assert_eq!(Family::ALL.len(), Family::value_variants().len());
    }
}
