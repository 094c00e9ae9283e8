//! Property tests of the schedule invariants (proptest).

use proptest::prelude::*;

use crate::{AttentionMode, CostModel, LogitRows, ModelDims, QueryBlocks};
use crate::{
    Budget, Curve, IncrementalType, MemoryType, Plan, ScheduleConfig, ScheduleError,
    adaptive_budgets, check_fits, fi_slices, plan, predict,
};

fn memory_type() -> impl Strategy<Value = MemoryType> {
    prop::sample::select(MemoryType::ALL.to_vec())
}

fn incremental() -> impl Strategy<Value = IncrementalType> {
    prop::sample::select(crate::names::valid_names::<IncrementalType>())
        .prop_map(|n| n.parse().unwrap())
}

/// A configuration and a prompt length with `n` chunks of the reference size.
fn case() -> impl Strategy<Value = (ScheduleConfig, usize)> {
    let sizes =
        (1usize..=64, 1usize..=2048).prop_flat_map(|(n, c)| (Just(c), ((n - 1) * c + 1)..=(n * c)));
    (
        memory_type(),
        incremental(),
        sizes,
        0usize..=4096,
        0usize..=8,
        any::<bool>(),
        1usize..=5,
    )
        .prop_map(|(t, inc, (c, l), m, s, dc, layers)| {
            let config = ScheduleConfig::new(t, c, m)
                .with_incremental(inc)
                .with_sinks(s)
                .with_decremental(dc && t == MemoryType::Im)
                .with_num_layers(layers);
            (config, l)
        })
}

/// The invariants, checked directly rather than through `validate`.
fn check_invariants(plan: &Plan) -> Result<(), TestCaseError> {
    let config = plan.config();
    let (l, m, s) = (plan.prompt_len(), config.memory, config.sinks);
    let lengths = plan.chunk_lengths();
    prop_assert_eq!(lengths.len(), l.div_ceil(config.chunk));
    prop_assert_eq!(lengths.iter().sum::<usize>(), l);
    prop_assert!(lengths.iter().all(|&c| c >= 1));
    let mut start = 0;
    for step in plan.steps() {
        prop_assert_eq!(step.tokens.start, start);
        start = step.tokens.end;
        let seen = start - s.min(start);
        prop_assert!(step.budget.layer_max() <= m);
        prop_assert!(step.memory_after.layer_max() <= seen);
        prop_assert!(step.memory_after.layer_max() <= step.budget.layer_max());
        prop_assert!(step.memory_after.mean_max() <= step.budget.mean_max());
    }
    let last = &plan.steps()[plan.n_chunks() - 1].budget;
    prop_assert!(last.is_exact() && last.layer_max() == m && last.mean_max() == m);
    if let Some(memory) = plan.decremental_memory() {
        let n = lengths.len();
        if n >= 3 {
            let constant = lengths[1] + memory[0];
            for i in 1..n - 1 {
                prop_assert_eq!(lengths[i] + memory[i - 1], constant, "step {}", i);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every plan satisfies the invariants; the only possible failure is a decremental chunk
    /// of no tokens, and never when `M < L / n`.
    #[test]
    fn plans_satisfy_the_invariants((config, l) in case()) {
        match plan(&config, l) {
            Ok(plan) => check_invariants(&plan)?,
            Err(ScheduleError::NonPositiveChunk { size, .. }) => {
                prop_assert!(config.decremental);
                prop_assert!(size <= 0);
                let n = l.div_ceil(config.chunk);
                prop_assert!(config.memory >= l / n, "DC failed although M < L / n");
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    /// Decremental chunks with memory above the chunk size do fail somewhere: the property
    /// test above must meet typed errors, not panics.
    #[test]
    fn large_memory_breaks_decremental_chunks(n in 4usize..=64, c in 8usize..=1024) {
        let config = ScheduleConfig::new(MemoryType::Im, c, 4 * c * n).with_decremental(true);
        prop_assert!(
            matches!(plan(&config, n * c), Err(ScheduleError::NonPositiveChunk { .. })),
            "expected NonPositiveChunk"
        );
    }

    /// Absurd inputs give errors or plans, never panics.
    #[test]
    fn absurd_inputs_do_not_panic(
        t in memory_type(),
        inc in incremental(),
        c in prop_oneof![any::<usize>(), 0usize..4],
        m in any::<usize>(),
        s in prop_oneof![any::<usize>(), 0usize..8],
        l in prop_oneof![any::<usize>(), 0usize..100_000],
        layers in prop_oneof![any::<usize>(), 0usize..4],
        dc in any::<bool>(),
    ) {
        let config = ScheduleConfig::new(t, c, m)
            .with_incremental(inc)
            .with_sinks(s)
            .with_decremental(dc)
            .with_num_layers(layers);
        if let Ok(plan) = plan(&config, l) {
            check_invariants(&plan)?;
        }
    }

    /// Uniform curves are non-decreasing, never exceed M, and end at M.
    #[test]
    fn curves_grow_to_m(n in 1usize..=crate::MAX_CHUNKS, m in 0usize..=crate::MAX_TOKENS) {
        for curve in Curve::ALL {
            let steps = [0, 1, n / 3, n / 2, n.saturating_sub(3), n.saturating_sub(2)];
            let mut steps: Vec<usize> = steps.into_iter().filter(|&i| i < n).collect();
            steps.sort_unstable();
            let budgets: Vec<usize> = steps.iter().map(|&i| curve.budget(i, n, m)).collect();
            prop_assert!(budgets.windows(2).all(|w| w[0] <= w[1]), "{curve}: {budgets:?}");
            prop_assert!(budgets.iter().all(|&b| b <= m));
            prop_assert_eq!(curve.budget(n - 1, n, m), m);
        }
    }

    /// Adaptive budgets never exceed M, and the layers together keep at most
    /// `num_layers · (i+1) · a`, whatever the retention.
    #[test]
    fn adaptive_is_bounded(
        n in 1usize..=64,
        step in 0usize..=64,
        m in 0usize..=1 << 30,
        retention in prop::collection::vec(-50.0f64..50.0, 1..=40),
    ) {
        let layers = retention.len();
        let budgets = adaptive_budgets(step, n, m, layers, &retention).unwrap();
        prop_assert_eq!(budgets.len(), layers);
        prop_assert!(budgets.iter().all(|&b| b <= m));
        if step + 1 < n {
            let a = (m / n) as u128;
            let total: u128 = budgets.iter().map(|&b| b as u128).sum();
            prop_assert!(total <= (step as u128 + 1) * a * layers as u128);
        } else {
            prop_assert!(budgets.iter().all(|&b| b == m));
        }
    }

    /// FI slices sum to M, differ by at most one, and the larger come first.
    #[test]
    fn fi_slices_split_m(m in 0usize..=1 << 40, n in 1usize..=4096) {
        let slices = fi_slices(m, n).unwrap();
        prop_assert_eq!(slices.iter().sum::<usize>(), m);
        prop_assert!(slices.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1));
    }

    /// Names parse in any case.
    #[test]
    fn names_parse_in_any_case(
        name in prop::sample::select(crate::names::valid_names::<IncrementalType>()),
        upper in prop::collection::vec(any::<bool>(), 16),
    ) {
        let mixed: String = name
            .chars()
            .zip(upper.iter().cycle())
            .map(|(ch, &u)| if u { ch.to_ascii_uppercase() } else { ch })
            .collect();
        prop_assert_eq!(mixed.parse::<IncrementalType>().unwrap().name(), name);
    }

    /// The peak is the largest step, and the cap check refuses exactly below it.
    #[test]
    fn cap_check_matches_the_peak((config, l) in case(), statistics in any::<bool>()) {
        let Ok(plan) = plan(&config, l) else { return Ok(()) };
        let dims = ModelDims {
            n_layers: config.num_layers.unwrap_or(1),
            n_heads: 8,
            n_kv_heads: 2,
            head_dim: 64,
            hidden_size: 512,
            vocab_size: 1000,
        };
        let attention = match statistics {
            true => AttentionMode::Statistics {
                blocks: QueryBlocks::fixed(256),
            },
            false => AttentionMode::Fused,
        };
        let model = CostModel::new(dims, 2).with_attention(attention).with_logits(LogitRows::All);
        let prediction = predict(&plan, &model).unwrap();
        let peak = prediction.peak_bytes();
        prop_assert!(prediction.steps().iter().all(|s| s.total_bytes <= peak));
        prop_assert!(check_fits(&plan, &model, peak).is_ok());
        let refused = check_fits(&plan, &model, peak - 1);
        let Err(ScheduleError::ExceedsMemoryCap { step, predicted, cap, smaller_chunk, .. }) =
            refused
        else {
            return Err(TestCaseError::fail(format!("{refused:?}")));
        };
        prop_assert_eq!((step, predicted, cap), (prediction.peak_step(), peak, peak - 1));
        // A suggested chunk is smaller and fits.
        if let Some(chunk) = smaller_chunk {
            prop_assert!(chunk < plan.config().chunk);
            let smaller = crate::plan(
                &ScheduleConfig { chunk, ..plan.config().clone() },
                plan.prompt_len(),
            )
            .unwrap();
            prop_assert!(check_fits(&smaller, &model, peak - 1).is_ok());
        }
    }
}

#[test]
fn measured_memory_bounds_propagate() {
    // Adaptive, M large relative to chunks: the kept bounds never exceed the budget bounds.
    let config = ScheduleConfig::new(MemoryType::Im, 64, 4096)
        .with_incremental(crate::LayerwiseCurve::Adaptive)
        .with_num_layers(3);
    let plan = plan(&config, 64 * 10).unwrap();
    for step in plan.steps() {
        if let Budget::Measured {
            layer_max,
            mean_max,
        } = step.memory_after
        {
            assert!(layer_max <= step.tokens.end - 4);
            assert!(mean_max <= step.budget.mean_max());
        }
    }
}
