//! The model an eval runs: loaded once, named for the records, and handed to each run with the
//! RoPE that run asks for.

use std::path::Path;

use mss::models::RopeScaling;
use mss::{Tokenizer, Transformer};

use super::grid::RunSpec;
use super::{Backend, EvalArgs, args, backend};

/// The model of an eval process, its tokenizer and how records name it.
pub struct EvalModel {
    model: Transformer<Backend>,
    pub tokenizer: Tokenizer,
    /// The model folder's last component (`SmolLM2-135M-Instruct`), in records and manifests.
    pub name: String,
    /// The backend and dtype in records (`flex f32`, `cuda+cudnn bf16`).
    pub backend: String,
    /// The model's own RoPE scaling.
    own_rope: RopeScaling,
    /// The paper's step-wise dynamic NTK, for runs with `step_ntk`.
    step_ntk: RopeScaling,
}

impl EvalModel {
    /// The model and tokenizer of the Hugging Face folder `dir`, on `--device`, in `--dtype`.
    pub fn load(dir: &Path, args: &EvalArgs) -> anyhow::Result<Self> {
        let device = backend::device(args.device)?;
        let model = Transformer::<Backend>::load(dir, &device, args.dtype().dtype())?;
        let tokenizer = Tokenizer::from_dir(dir)?;
        Ok(Self {
            own_rope: model.config.rope_scaling,
            step_ntk: RopeScaling::StepNtk {
                max_length: model.config.max_position_embeddings,
            },
            model,
            tokenizer,
            name: args::folder_name(dir),
            backend: backend::label(args),
        })
    }

    /// The model with the RoPE of `spec` (its weights shared).
    pub fn for_run(&self, spec: &RunSpec) -> Transformer<Backend> {
        let scaling = if spec.step_ntk {
            self.step_ntk
        } else {
            self.own_rope
        };
        self.model.clone().with_rope_scaling(scaling)
    }
}
