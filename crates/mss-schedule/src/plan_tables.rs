//! Table tests of [`plan`](crate::plan): the worked examples of spec §2.5 and §2.6 end to end.

use crate::{
    Budget, Curve, LayerwiseCurve, MemoryType, Result, ScheduleConfig, ScheduleError, plan,
};

fn uniform(plan: &crate::Plan) -> Vec<usize> {
    plan.steps()
        .iter()
        .map(|s| s.budget.layer(0).unwrap())
        .collect()
}

#[test]
fn im_curves_8192_1024_1024() -> Result<()> {
    let table: [(Curve, [usize; 8]); 5] = [
        (Curve::Linear, [128, 256, 384, 512, 640, 768, 896, 1024]),
        (Curve::Square, [128, 146, 201, 292, 420, 585, 786, 1024]),
        (Curve::Sqrt, [128, 466, 606, 714, 805, 885, 957, 1024]),
        (
            Curve::InverseConvex,
            [128, 146, 170, 204, 256, 341, 512, 1024],
        ),
        (
            Curve::InverseConcave,
            [128, 640, 810, 896, 947, 981, 1005, 1024],
        ),
    ];
    for (curve, expected) in table {
        let config = ScheduleConfig::new(MemoryType::Im, 1024, 1024).with_incremental(curve);
        let plan = plan(&config, 8192)?;
        assert_eq!(plan.chunk_lengths(), [1024; 8]);
        assert_eq!(uniform(&plan), expected, "{curve}");
        // Every budget is below the candidates here, so the cache holds exactly the budget.
        for step in plan.steps() {
            assert_eq!(step.memory_after, step.budget);
        }
    }
    Ok(())
}

#[test]
fn fi_8192_1024_1024_appends_128_per_chunk() -> Result<()> {
    let plan = plan(&ScheduleConfig::new(MemoryType::Fi, 1024, 1024), 8192)?;
    let slices: Vec<_> = plan.steps().iter().map(|s| s.fi_slice.unwrap()).collect();
    assert_eq!(slices, [128; 8]);
    let expected: Vec<usize> = (1..=8).map(|k| 128 * k).collect();
    assert_eq!(uniform(&plan), expected);
    let held: Vec<_> = plan
        .steps()
        .iter()
        .map(|s| s.memory_after.layer(0).unwrap())
        .collect();
    assert_eq!(held, expected);
    Ok(())
}

#[test]
fn linear_32768_1024_1024() -> Result<()> {
    let plan = plan(&ScheduleConfig::new(MemoryType::Im, 1024, 1024), 32768)?;
    let expected: Vec<usize> = (1..=32).map(|k| 32 * k).collect();
    assert_eq!(uniform(&plan), expected);
    Ok(())
}

#[test]
fn fm_keeps_m_once_there_are_enough_candidates() -> Result<()> {
    let plan = plan(&ScheduleConfig::new(MemoryType::Fm, 1024, 1024), 8192)?;
    let s = plan.steps();
    assert_eq!((s[0].sinks, s[0].fresh), (0, 1020));
    assert_eq!(s[0].memory_after, Budget::Uniform(1020));
    assert_eq!((s[1].sinks, s[1].memory_before.layer(0)), (4, Some(1020)));
    assert!(
        s[1..]
            .iter()
            .all(|s| s.memory_after == Budget::Uniform(1024))
    );
    Ok(())
}

/// Spec §2.6, all five examples, through the plan.
#[test]
fn decremental_examples() -> Result<()> {
    let cases: [(usize, usize, usize, &[usize]); 4] = [
        (
            8192,
            1024,
            1024,
            &[1024, 1408, 1280, 1152, 1024, 896, 768, 640],
        ),
        (32768, 8192, 4096, &[8192, 9216, 8192, 7168]),
        (8192, 2048, 512, &[2048, 2176, 2048, 1920]),
        (10000, 4096, 1024, &[3333, 3503, 3164]),
    ];
    for (l, c, m, expected) in cases {
        let config = ScheduleConfig::new(MemoryType::Im, c, m).with_decremental(true);
        let plan = plan(&config, l)?;
        assert_eq!(plan.chunk_lengths(), expected, "{l}/{c}/{m}");
        assert_eq!(plan.steps().last().map(|s| s.tokens.end), Some(l));
    }
    let config = ScheduleConfig::new(MemoryType::Im, 1024, 1024).with_decremental(true);
    let long = plan(&config, 32768)?;
    let lengths = long.chunk_lengths();
    assert_eq!(lengths.len(), 32);
    assert_eq!(lengths[..3], [1024, 1504, 1472]);
    assert_eq!(lengths[30..], [576, 544]);
    assert!(lengths.windows(2).skip(1).all(|w| w[0] - w[1] == 32));
    // The budgets under DC are those of IM, indexed by step with n from the reference C.
    let expected: Vec<usize> = (1..=32).map(|k| 32 * k).collect();
    assert_eq!(uniform(&long), expected);
    Ok(())
}

#[test]
fn decremental_memory_too_large_is_an_error() {
    let config = ScheduleConfig::new(MemoryType::Im, 1024, 4096).with_decremental(true);
    assert_eq!(
        plan(&config, 8192),
        Err(ScheduleError::NonPositiveChunk { step: 6, size: 0 })
    );
}

#[test]
fn layerwise_budgets_per_layer() -> Result<()> {
    let config = ScheduleConfig::new(MemoryType::Im, 1024, 1024)
        .with_incremental(LayerwiseCurve::SquareSqrt)
        .with_num_layers(4);
    let plan = plan(&config, 8192)?;
    assert_eq!(
        plan.steps()[1].budget,
        Budget::PerLayer(vec![146, 146, 466, 466])
    );
    assert_eq!(plan.layer_budget(1, 3, &[])?, 466);
    assert_eq!(plan.steps()[7].budget, Budget::PerLayer(vec![1024; 4]));
    assert!(matches!(
        plan.layer_budget(1, 4, &[]),
        Err(ScheduleError::LayerOutOfRange { .. })
    ));
    Ok(())
}

#[test]
fn layerwise_decremental_balances_the_layer_mean() -> Result<()> {
    let config = ScheduleConfig::new(MemoryType::Im, 1024, 1024)
        .with_incremental(LayerwiseCurve::DoubleInverse)
        .with_num_layers(2)
        .with_decremental(true);
    let plan = plan(&config, 8192)?;
    let convex = Curve::InverseConvex.budgets(8, 1024)?;
    let concave = Curve::InverseConcave.budgets(8, 1024)?;
    let mean: Vec<usize> = convex
        .iter()
        .zip(&concave)
        .map(|(a, b)| (a + b) / 2)
        .collect();
    assert_eq!(plan.decremental_memory(), Some(&mean[..]));
    let lengths = plan.chunk_lengths();
    let constant = lengths[1] + mean[0];
    assert!((1..7).all(|i| lengths[i] + mean[i - 1] == constant));
    // Adaptive balances the linear curve: the same chunks as linear IMDC.
    let adaptive = ScheduleConfig::new(MemoryType::Im, 1024, 1024)
        .with_incremental(LayerwiseCurve::Adaptive)
        .with_num_layers(3)
        .with_decremental(true);
    assert_eq!(
        crate::plan(&adaptive, 8192)?.chunk_lengths(),
        [1024, 1408, 1280, 1152, 1024, 896, 768, 640]
    );
    Ok(())
}

#[test]
fn adaptive_budgets_are_resolved_from_retention() -> Result<()> {
    let config = ScheduleConfig::new(MemoryType::Im, 1024, 1024)
        .with_incremental(LayerwiseCurve::Adaptive)
        .with_num_layers(2);
    let plan = plan(&config, 8192)?;
    assert_eq!(plan.steps()[0].budget, Budget::Uniform(128));
    assert_eq!(plan.steps()[1].budget, Budget::Uniform(256));
    assert_eq!(
        plan.steps()[2].budget,
        Budget::Measured {
            layer_max: 768,
            mean_max: 384
        }
    );
    assert_eq!(plan.steps()[7].budget, Budget::Uniform(1024));
    assert_eq!(plan.layer_budget(0, 1, &[])?, 128);
    assert_eq!(
        plan.resolve_budget(3, &[0.5, 0.5])?,
        Budget::PerLayer(vec![512, 512])
    );
    let skewed = plan.resolve_budget(3, &[2.0, 0.0])?;
    let (hi, lo) = (skewed.layer(0).unwrap(), skewed.layer(1).unwrap());
    assert!(hi > 512 && lo < 512 && hi + lo <= 1024);
    assert!(matches!(
        plan.layer_budget(3, 0, &[]),
        Err(ScheduleError::RetentionLength { .. })
    ));
    assert!(matches!(
        plan.resolve_budget(8, &[]),
        Err(ScheduleError::StepOutOfRange { .. })
    ));
    Ok(())
}

#[test]
fn memory_at_least_the_prompt_prunes_nothing() -> Result<()> {
    for t in MemoryType::ALL {
        let plan = plan(&ScheduleConfig::new(t, 1000, 100_000), 4000)?;
        for step in plan.steps() {
            let seen = step.tokens.end - 4;
            let kept = step.memory_after.layer(0).unwrap();
            match t {
                MemoryType::Fi => assert!(kept <= seen),
                MemoryType::Local => assert_eq!(kept, 0, "no memory keeps nothing"),
                _ => assert_eq!(kept, seen, "{t} step {}", step.index),
            }
        }
    }
    Ok(())
}

#[test]
fn prompt_shorter_than_the_sinks() -> Result<()> {
    let plan = plan(&ScheduleConfig::new(MemoryType::Im, 1024, 1024), 3)?;
    let step = &plan.steps()[0];
    assert_eq!((step.tokens.clone(), step.fresh), (0..3, 0));
    assert_eq!(step.memory_after, Budget::Uniform(0));
    assert_eq!(step.budget, Budget::Uniform(1024));
    Ok(())
}

#[test]
fn config_errors() {
    let im = ScheduleConfig::new(MemoryType::Im, 1024, 1024);
    assert_eq!(plan(&im, 0), Err(ScheduleError::EmptyPrompt));
    assert!(matches!(
        plan(&im, usize::MAX),
        Err(ScheduleError::TooLarge { .. })
    ));
    let tiny = ScheduleConfig::new(MemoryType::Im, 1, 0);
    assert!(matches!(
        plan(&tiny, crate::MAX_CHUNKS + 1),
        Err(ScheduleError::TooLarge {
            what: "number of chunks",
            ..
        })
    ));
    let wide = ScheduleConfig::new(MemoryType::Im, 1, 0)
        .with_incremental(LayerwiseCurve::SquareSqrt)
        .with_num_layers(crate::MAX_LAYERS);
    assert!(matches!(
        plan(&wide, 1 << 10),
        Err(ScheduleError::TooLarge { .. })
    ));
}
