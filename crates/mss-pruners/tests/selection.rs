//! Every pruner's selection on hand-made candidates and statistics.

use burn::prelude::*;
use mss_core::{AttentionStats, LayerKv, PruneInput, Pruner};
use mss_pruners::PrunerKind;

type B = burn::backend::Flex;

/// `heads` KV heads × `len` candidates of width 2, positions 100.. .
fn candidates(heads: usize, len: usize) -> LayerKv<B> {
    let device = Default::default();
    let keys = Tensor::<B, 4>::zeros([1, heads, len, 2], &device);
    let positions = Tensor::<B, 1, Int>::arange(100..100 + len as i64, &device)
        .reshape([1, len])
        .repeat_dim(0, heads);
    LayerKv::new(keys.clone(), keys, positions).unwrap()
}

fn stat(rows: &[&[f32]]) -> Tensor<B, 2> {
    let len = rows[0].len();
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(
        TensorData::new(flat, [rows.len(), len]),
        &Default::default(),
    )
}

struct Case {
    kv: LayerKv<B>,
    stats: AttentionStats<B>,
    from_memory: usize,
}

impl Case {
    fn new(heads: usize, len: usize) -> Self {
        Self {
            kv: candidates(heads, len),
            stats: AttentionStats::none(),
            from_memory: 0,
        }
    }

    fn prune(&self, pruner: &mut dyn Pruner<B>, budget: usize, step: usize) -> Vec<Vec<i32>> {
        let input = PruneInput::all(0, step, &self.kv, &self.stats, self.from_memory, budget);
        let kept = pruner.prune(input);
        let [heads, k] = kept.dims();
        let flat: Vec<i32> = kept.into_data().to_vec().unwrap();
        (0..heads)
            .map(|h| flat[h * k..(h + 1) * k].to_vec())
            .collect()
    }
}

fn build(kind: PrunerKind) -> Box<dyn Pruner<B>> {
    kind.build::<B>(7)
}

#[test]
fn streaming_llm_keeps_the_most_recent_on_every_head() {
    let case = Case::new(2, 6);
    assert_eq!(
        case.prune(build(PrunerKind::StreamingLlm).as_mut(), 3, 0),
        vec![vec![3, 4, 5]; 2]
    );
}

#[test]
fn chunk_prefix_keeps_the_oldest() {
    let case = Case::new(2, 6);
    assert_eq!(
        case.prune(build(PrunerKind::ChunkPrefix).as_mut(), 2, 0),
        vec![vec![0, 1]; 2]
    );
}

#[test]
fn mean_attention_divides_by_the_visible_queries_per_kv_head() {
    let mut case = Case::new(2, 4);
    // Head 0: sums favour 0 and 3, but 3 is seen by 1 query only: means 0.4, 0.1, 0.2, 0.3.
    // Head 1 (another GQA group) ranks differently: means 0.05, 0.3, 0.25, 0.1.
    case.stats.column_sums = Some(stat(&[&[1.6, 0.4, 0.4, 0.3], &[0.2, 1.2, 0.5, 0.1]]));
    case.stats.visible_queries = Some(stat(&[&[4., 4., 2., 1.], &[4., 4., 2., 1.]]));
    assert_eq!(
        case.prune(build(PrunerKind::MeanAttention).as_mut(), 2, 0),
        vec![vec![0, 3], vec![1, 2]]
    );
}

#[test]
fn tova_uses_the_last_query_row() {
    let mut case = Case::new(2, 5);
    case.stats.last_query = Some(stat(&[
        &[0.1, 0.5, 0.05, 0.3, 0.05],
        &[0.6, 0.1, 0.1, 0.1, 0.1],
    ]));
    // Head 1 ties four ways at 0.1: the most recent wins.
    assert_eq!(
        case.prune(build(PrunerKind::Tova).as_mut(), 2, 0),
        vec![vec![1, 3], vec![0, 4]]
    );
}

#[test]
fn snapkv_keeps_the_neighbours_of_a_heavy_hitter() {
    let mut case = Case::new(1, 9);
    // One spike at 4 plus a lone, smaller value at 0: pooling spreads the spike over 2..=6
    // (1.0 each, 1.12 at 2) and the lone value over 0..=2 (0.12 each).
    case.stats.column_sums = Some(stat(&[&[0.6, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0]]));
    case.stats.visible_queries = Some(stat(&[&[1.0; 9]]));
    assert_eq!(
        case.prune(build(PrunerKind::SnapKv).as_mut(), 5, 0),
        vec![vec![2, 3, 4, 5, 6]]
    );
    // Mean attention alone would keep the lone value.
    assert_eq!(
        case.prune(build(PrunerKind::MeanAttention).as_mut(), 2, 0),
        vec![vec![0, 4]]
    );
}

#[test]
fn roco_demotes_the_most_stable_candidates() {
    let mut case = Case::new(1, 4);
    // Means (2 queries each): 0.5, 0.4, 0.3, 0.2. Stds: 0.0, 0.2, 0.1, 0.2 → with budget 2 the
    // lowest-std candidate (0) is demoted, so 1 and 2 survive instead of 0 and 1.
    case.stats.column_sums = Some(stat(&[&[1.0, 0.8, 0.6, 0.4]]));
    case.stats.visible_queries = Some(stat(&[&[2.0; 4]]));
    let means = [0.5f32, 0.4, 0.3, 0.2];
    let stds = [0.0f32, 0.2, 0.1, 0.2];
    let squares: Vec<f32> = means
        .iter()
        .zip(stds)
        .map(|(m, s)| 2.0 * (s * s + m * m))
        .collect();
    case.stats.second_moments = Some(stat(&[&squares]));
    assert_eq!(
        case.prune(build(PrunerKind::Roco).as_mut(), 2, 0),
        vec![vec![1, 2]]
    );
}

#[test]
fn h2o_accumulates_scores_of_survivors() {
    let mut pruner = build(PrunerKind::H2o);
    // Step 0: four chunk candidates; keep two (1 and 3).
    let mut step0 = Case::new(1, 4);
    step0.stats.column_sums = Some(stat(&[&[0.1, 0.9, 0.2, 0.8]]));
    assert_eq!(step0.prune(pruner.as_mut(), 2, 0), vec![vec![1, 3]]);
    // Step 1: the two memory entries (accumulated 0.9, 0.8) and three new ones. This step's
    // sums alone would favour the new entries 2 and 3; with the history, memory entry 0
    // (0.9 + 0.3 = 1.2) beats new entry 3 (1.0).
    let mut step1 = Case::new(1, 5);
    step1.from_memory = 2;
    step1.stats.column_sums = Some(stat(&[&[0.3, 0.1, 1.1, 1.0, 0.2]]));
    assert_eq!(step1.prune(pruner.as_mut(), 2, 1), vec![vec![0, 2]]);
    // After a reset the history is gone.
    pruner.reset();
    assert_eq!(step1.prune(pruner.as_mut(), 2, 1), vec![vec![2, 3]]);
}

#[test]
fn random_is_seeded_sorted_and_the_same_on_every_head() {
    let case = Case::new(3, 50);
    let a = case.prune(build(PrunerKind::Random).as_mut(), 10, 0);
    let b = case.prune(build(PrunerKind::Random).as_mut(), 10, 0);
    assert_eq!(a, b, "same seed, same selection");
    assert!(a.iter().all(|h| h == &a[0]), "one index set per layer");
    assert!(
        a[0].windows(2).all(|w| w[0] < w[1]),
        "sorted and unique: {:?}",
        a[0]
    );
    let other_step = case.prune(build(PrunerKind::Random).as_mut(), 10, 1);
    assert_ne!(a, other_step, "another step draws anew");
    let other_seed = {
        let input_case = Case::new(3, 50);
        input_case.prune(PrunerKind::Random.build::<B>(8).as_mut(), 10, 0)
    };
    assert_ne!(a, other_seed);
}

#[test]
fn a_budget_covering_every_candidate_keeps_them_all() {
    let mut case = Case::new(2, 3);
    case.stats.column_sums = Some(stat(&[&[0.1, 0.2, 0.3], &[0.3, 0.2, 0.1]]));
    case.stats.visible_queries = Some(stat(&[&[1.0; 3], &[1.0; 3]]));
    for kind in [
        PrunerKind::StreamingLlm,
        PrunerKind::MeanAttention,
        PrunerKind::SnapKv,
        PrunerKind::H2o,
    ] {
        assert_eq!(
            case.prune(build(kind).as_mut(), 3, 0),
            vec![vec![0, 1, 2]; 2],
            "{kind}"
        );
    }
}
