//! Plans kept between processes, beside CubeCL's kernel caches: a plan of cuDNN's fused
//! attention compiles its kernel with NVRTC when built (about a second per shape); read back
//! from its serialised form (`CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION`, which cuDNN
//! gives for its runtime-compiled engines) it is not built again. A saved plan holds for one
//! cuDNN version and one GPU model: both name its folder.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::spec::SdpaShape;

static FOLDER: OnceLock<PathBuf> = OnceLock::new();

/// Keeps cuDNN's attention plans under `folder` from now on (the first folder given wins).
pub(crate) fn keep_plans_in(folder: &Path) {
    let _ = FOLDER.set(folder.to_path_buf());
}

/// Where the plans of this cuDNN `version` on `gpu` are kept, if plans are kept: a folder per
/// version of the graph (`graph::GRAPH_SOURCE`) too.
pub(super) fn plans_folder(version: usize, gpu: &str) -> Option<PathBuf> {
    let gpu: String = gpu
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let graph = super::graph::GRAPH_SOURCE;
    Some(
        FOLDER
            .get()?
            .join(format!("cudnn-{version}-graph-{graph:016x}"))
            .join(gpu),
    )
}

/// The file name of `shape`'s plan: every field of the shape, so that no two shapes share one.
fn file_name(shape: &SdpaShape) -> String {
    let [q, k, v] = [shape.q, shape.k, shape.v].map(|s| format!("{}_{}_{}", s[0], s[1], s[2]));
    format!(
        "{:?}-h{}-kv{}-d{}-{}x{}-q{q}-k{k}-v{v}.json",
        shape.io, shape.heads, shape.kv_heads, shape.head_dim, shape.queries, shape.keys
    )
}

/// The plan of `shape` saved in `folder`, if there is one.
pub(super) fn read(folder: &Path, shape: &SdpaShape) -> Option<Vec<u8>> {
    std::fs::read(folder.join(file_name(shape))).ok()
}

/// Saves `shape`'s plan in `folder` (written whole, then renamed, so that a reader never sees
/// half of one); a failure is said once on standard error and changes nothing else.
pub(super) fn write(folder: &Path, shape: &SdpaShape, plan: &[u8]) {
    let path = folder.join(file_name(shape));
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    let written = std::fs::create_dir_all(folder)
        .and_then(|()| std::fs::write(&partial, plan))
        .and_then(|()| std::fs::rename(&partial, &path));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&partial);
        static SAID: OnceLock<()> = OnceLock::new();
        SAID.get_or_init(|| {
            eprintln!(
                "mss: cuDNN attention plans are not kept ({}: {error})",
                path.display()
            )
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::spec::Io;
    use super::*;

    fn shape(keys: usize) -> SdpaShape {
        SdpaShape::of_model(Io::Bf16, [32, 8, 128], 1024, keys)
    }

    #[test]
    fn a_saved_plan_is_read_back_for_its_own_shape_only() {
        let folder = tempfile::tempdir().unwrap();
        let inner = folder.path().join("cudnn-91400").join("NVIDIA-H200");
        assert_eq!(read(&inner, &shape(2048)), None);
        write(&inner, &shape(2048), b"plan of 2048 keys");
        assert_eq!(
            read(&inner, &shape(2048)).as_deref(),
            Some(&b"plan of 2048 keys"[..])
        );
        assert_eq!(read(&inner, &shape(1536)), None);
        let mut strided = shape(2048);
        strided.k[2] = 1024;
        assert_eq!(
            read(&inner, &strided),
            None,
            "another layout is another plan"
        );
        // Nothing half-written is left beside the plan.
        let files: Vec<_> = std::fs::read_dir(&inner).unwrap().collect();
        assert_eq!(files.len(), 1);
    }

    #[test]
    fn file_names_differ_in_every_field() {
        let base = shape(2048);
        let mut variants = vec![base];
        let mut push = |change: fn(&mut SdpaShape)| {
            let mut s = base;
            change(&mut s);
            variants.push(s);
        };
        push(|s| s.io = Io::F16);
        push(|s| s.heads = 16);
        push(|s| s.kv_heads = 32);
        push(|s| s.head_dim = 64);
        push(|s| s.queries = 512);
        push(|s| s.keys = 1024);
        push(|s| s.q[0] += 1);
        push(|s| s.k[1] += 1);
        push(|s| s.v[2] += 1);
        let names: std::collections::HashSet<_> = variants.iter().map(file_name).collect();
        assert_eq!(names.len(), variants.len());
    }
}
