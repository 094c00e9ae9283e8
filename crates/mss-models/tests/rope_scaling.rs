//! A RoPE scaling is passed in when a model is built for a run (`with_rope_scaling`), over the
//! same weights.

use mss_models::RopeScaling;
use mss_testkit::{ids, logits, tiny};

#[test]
fn a_scaling_passed_in_changes_positions_past_the_trained_length_only() {
    let model = tiny("tiny_llama");
    let max = model.config.max_position_embeddings;
    let own = model.config.rope_scaling;
    let step_ntk = RopeScaling::StepNtk { max_length: max };
    let vocab = model.config.vocab_size;

    // Within the trained length the step-wise NTK changes nothing.
    let short = ids(max, vocab, 5);
    let ntk_model = model.clone().with_rope_scaling(step_ntk);
    assert_eq!(ntk_model.config.rope_scaling, step_ntk);
    assert_eq!(logits(&ntk_model, &short), logits(&model, &short));

    // Past it, the base is scaled; passing the model's own scaling back restores it exactly.
    let long = ids(max + 32, vocab, 5);
    let plain = logits(&model, &long);
    let scaled = logits(&ntk_model, &long);
    assert!(mss_testkit::relative_error(&scaled, &plain) > 1e-3);
    let back = ntk_model.with_rope_scaling(own);
    assert_eq!(logits(&back, &long), plain);
    assert_eq!(
        model.config.rope_scaling, own,
        "the original model is untouched"
    );
}
