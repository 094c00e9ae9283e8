//! Unpacking downloads: one entry out of a zip (a wheel), or a whole `.tar.gz` (an sdist).

use std::path::Path;

use crate::error::{AssetError, IoContext, Result};
use crate::fsutil::Staging;

/// Copies `entry` out of the zip archive `archive` to the file `dest`, through a staging
/// file (the zip reader checks the entry's CRC-32 as it reads).
pub(crate) fn extract_zip_entry(archive: &Path, entry: &str, dest: &Path) -> Result<()> {
    let zip_err = |source| AssetError::Zip {
        path: archive.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(archive).at("opening", archive)?;
    let mut zip = zip::ZipArchive::new(file).map_err(zip_err)?;
    let mut reader = match zip.by_name(entry) {
        Ok(r) => r,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(AssetError::UnexpectedContent {
                path: archive.to_path_buf(),
                reason: format!("no entry {entry:?}"),
            });
        }
        Err(e) => return Err(zip_err(e)),
    };
    let staging = Staging::reserve(dest)?;
    let mut out = std::fs::File::create(staging.path()).at("creating", staging.path())?;
    std::io::copy(&mut reader, &mut out).at("extracting to", staging.path())?;
    out.sync_all().at("syncing", staging.path())?;
    drop(out);
    staging.commit()?;
    Ok(())
}

/// Unpacks the gzip-compressed tar `archive` into the existing folder `dest` (entries that
/// would land outside `dest` are refused by the tar reader).
pub(crate) fn untar_gz(archive: &Path, dest: &Path) -> Result<()> {
    let file = std::fs::File::open(archive).at("opening", archive)?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    tar.unpack(dest).map_err(|e| AssetError::UnexpectedContent {
        path: archive.to_path_buf(),
        reason: format!("unpacking into {}: {e}", dest.display()),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::fsutil::tests::TestDir;

    #[test]
    fn zip_entry_round_trip() {
        let t = TestDir::new("zip");
        let whl = t.0.join("p.whl");
        {
            let mut z = zip::ZipWriter::new(std::fs::File::create(&whl).unwrap());
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            z.start_file("pkg/data.bin", opts).unwrap();
            z.write_all(&[7u8; 1000]).unwrap();
            z.finish().unwrap();
        }
        let dest = t.0.join("out/data.bin");
        extract_zip_entry(&whl, "pkg/data.bin", &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), vec![7u8; 1000]);
        assert!(matches!(
            extract_zip_entry(&whl, "pkg/missing", &t.0.join("x")),
            Err(AssetError::UnexpectedContent { .. })
        ));
        std::fs::write(&whl, b"not a zip").unwrap();
        assert!(matches!(
            extract_zip_entry(&whl, "pkg/data.bin", &t.0.join("y")),
            Err(AssetError::Zip { .. })
        ));
        // Only what was placed is left.
        assert_eq!(std::fs::read_dir(t.0.join("out")).unwrap().count(), 1);
    }

    #[test]
    fn tar_gz_round_trip() {
        let t = TestDir::new("tgz");
        let tgz = t.0.join("p.tar.gz");
        {
            let gz = flate2::write::GzEncoder::new(
                std::fs::File::create(&tgz).unwrap(),
                flate2::Compression::fast(),
            );
            let mut b = tar::Builder::new(gz);
            let mut h = tar::Header::new_gnu();
            h.set_size(5);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, "p-1/texts/a_gut.txt", &b"hello"[..])
                .unwrap();
            b.into_inner().unwrap().finish().unwrap();
        }
        let dest = t.0.join("x");
        std::fs::create_dir(&dest).unwrap();
        untar_gz(&tgz, &dest).unwrap();
        assert_eq!(
            std::fs::read(dest.join("p-1/texts/a_gut.txt")).unwrap(),
            b"hello"
        );
        std::fs::write(&tgz, b"garbage").unwrap();
        assert!(matches!(
            untar_gz(&tgz, &dest),
            Err(AssetError::UnexpectedContent { .. })
        ));
    }
}
