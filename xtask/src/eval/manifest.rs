//! A run folder's identity (`manifest.json`): which model, dtype, backend and data its results
//! come from. A later eval into the same folder with another identity is refused, naming what
//! differs, so results of two models are never mixed under one report.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use mss_examples::exit::bad_usage;

/// File name of the manifest in a run folder.
pub const FILE: &str = "manifest.json";

/// What a run folder's results depend on beyond each run's own key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The model folder's name (`SmolLM2-135M-Instruct`).
    pub model: String,
    /// Where it was read from (informative; not compared).
    pub model_path: String,
    /// SHA-256 of `config.json` and of every safetensors header (names, dtypes, shapes,
    /// offsets), the first 16 hex digits: another model, or the same one converted otherwise,
    /// differs.
    pub model_hash: String,
    /// Weights' and activations' dtype (`f32`, `bf16`).
    pub dtype: String,
    /// Burn backend (`flex`, `cuda`).
    pub backend: String,
    /// The texts' source (`--data` or the default corpus).
    pub data: String,
    /// SHA-256 of every text's name and content, the first 16 hex digits.
    pub data_hash: String,
    /// The `mss` version that wrote the folder first (informative; not compared).
    pub code_version: String,
}

impl Manifest {
    /// The fields that decide whether results can share a folder, with their values.
    fn identity(&self) -> [(&'static str, String); 4] {
        [
            ("model", format!("{} ({})", self.model, self.model_hash)),
            ("dtype", self.dtype.clone()),
            ("backend", self.backend.clone()),
            ("data", format!("{} ({})", self.data, self.data_hash)),
        ]
    }

    /// A one-line name for titles: `SmolLM2-135M-Instruct, f32 on flex`.
    pub fn title(&self) -> String {
        format!("{}, {} on {}", self.model, self.dtype, self.backend)
    }

    /// Writes the manifest into `folder` if it has none; refuses when the one there differs in
    /// model, dtype, backend or data. A folder of results from before manifests existed is
    /// adopted (its results are taken to be this model's).
    pub fn claim(&self, folder: &Path) -> anyhow::Result<()> {
        let path = folder.join(FILE);
        match read(folder)? {
            None => {
                // Shards may claim the folder at once: the manifest appears whole or not at all
                // (a hard link fails if another shard's is there already), and the loser
                // compares.
                let text = serde_json::to_string_pretty(self)? + "\n";
                let staged = folder.join(format!("{FILE}.{}", std::process::id()));
                std::fs::write(&staged, text)
                    .with_context(|| format!("writing {}", staged.display()))?;
                let linked = std::fs::hard_link(&staged, &path);
                let _ = std::fs::remove_file(&staged);
                match linked {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => self.claim(folder),
                    Err(e) => Err(e).with_context(|| format!("writing {}", path.display())),
                }
            }
            Some(old) => old.check_same(self, folder),
        }
    }

    /// Refuses, naming what differs, when `other` (of `folder`) is of another model, dtype,
    /// backend or data.
    pub fn check_same(&self, other: &Manifest, folder: &Path) -> anyhow::Result<()> {
        let differences: Vec<String> = self
            .identity()
            .into_iter()
            .zip(other.identity())
            .filter(|((_, a), (_, b))| a != b)
            .map(|((field, a), (_, b))| format!("{field} {a} there, {b} now"))
            .collect();
        // The attention path is the one difference a flag undoes in place.
        let backend_hint = if self.backend != other.backend {
            " (the backend `cuda` is `--no-flash-attention`'s, `cuda+flash` \
             `--no-cudnn-attention`'s or where no cuDNN ≥ 9.11 is found, `cuda+cudnn` the \
             default's)"
        } else {
            ""
        };
        match differences.is_empty() {
            true => Ok(()),
            false => Err(bad_usage(format!(
                "{} holds results of another run: {}{backend_hint}; give another --out (or \
                 omit it: each model and dtype then gets its own folder)",
                folder.display(),
                differences.join("; ")
            ))),
        }
    }
}

/// The manifest of `folder`, if it has one.
pub fn read(folder: &Path) -> anyhow::Result<Option<Manifest>> {
    let path = folder.join(FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest = serde_json::from_str(&text)
        .map_err(|e| mss_examples::exit::bad_data(format!("{}: {e}", path.display())))?;
    Ok(Some(manifest))
}

/// The hash of a model folder: `config.json`, then each `*.safetensors` file's header, in name
/// order (the weights themselves are not read).
pub fn model_hash(dir: &Path) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    let config = dir.join("config.json");
    hasher.update(std::fs::read(&config).with_context(|| format!("reading {}", config.display()))?);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    for file in files {
        hasher.update(safetensors_header(&file)?);
    }
    Ok(short(hasher))
}

/// The 8-byte length and the JSON header of a safetensors file.
fn safetensors_header(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .with_context(|| format!("reading {}", path.display()))?;
    // A header larger than this is no safetensors file; the loader says so, not the hash.
    let n = u64::from_le_bytes(len).min(100 << 20);
    let mut header = len.to_vec();
    file.take(n).read_to_end(&mut header)?;
    Ok(header)
}

/// The hash of the texts, each name and content.
pub fn data_hash(texts: &[(String, String)]) -> String {
    let mut hasher = Sha256::new();
    for (name, text) in texts {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    short(hasher)
}

fn short(hasher: Sha256) -> String {
    hasher.finalize()[..8]
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(model_hash: &str, dtype: &str) -> Manifest {
        Manifest {
            model: "tiny".into(),
            model_path: "/models/tiny".into(),
            model_hash: model_hash.into(),
            dtype: dtype.into(),
            backend: "flex".into(),
            data: "texts".into(),
            data_hash: "d".into(),
            code_version: "0.1.0".into(),
        }
    }

    #[test]
    fn a_folder_is_claimed_once_and_refused_to_another_identity() {
        let dir = tempfile::tempdir().unwrap();
        manifest("aa", "f32").claim(dir.path()).unwrap();
        // The same identity, another path or version: fine.
        let mut same = manifest("aa", "f32");
        same.model_path = "/elsewhere/tiny".into();
        same.code_version = "0.2.0".into();
        same.claim(dir.path()).unwrap();
        let err = manifest("bb", "bf16")
            .claim(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model tiny (aa) there, tiny (bb) now"),
            "{err}"
        );
        assert!(err.contains("dtype f32 there, bf16 now"), "{err}");
        assert!(!err.contains("backend"), "only what differs: {err}");
        assert_eq!(read(dir.path()).unwrap(), Some(manifest("aa", "f32")));
    }

    #[test]
    fn hashes_see_config_headers_and_texts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{\"a\": 1}").unwrap();
        let mut st = 2u64.to_le_bytes().to_vec();
        st.extend_from_slice(b"{}");
        std::fs::write(dir.path().join("model.safetensors"), &st).unwrap();
        let first = model_hash(dir.path()).unwrap();
        assert_eq!(first.len(), 16);
        std::fs::write(dir.path().join("config.json"), "{\"a\": 2}").unwrap();
        assert_ne!(model_hash(dir.path()).unwrap(), first);
        let texts = |t: &str| vec![("a.txt".to_string(), t.to_string())];
        assert_eq!(data_hash(&texts("x")), data_hash(&texts("x")));
        assert_ne!(data_hash(&texts("x")), data_hash(&texts("y")));
    }
}
