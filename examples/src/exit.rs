//! How every binary of the project ends on an error: one line on stderr, the chain of causes
//! joined, a backtrace only when `RUST_BACKTRACE` asks, and an exit code that says what kind of
//! failure it was (the BSD `sysexits` values, as many Unix tools use).

use std::process::ExitCode;

use mss::assets::AssetError;
use mss::models::ModelError;

/// Bad command-line use (clap's own code for a flag it refuses).
pub const USAGE: u8 = 2;
/// The input data is wrong: a malformed or inconsistent model file, config or text.
pub const DATA: u8 = 65;
/// A file or folder named on the command line does not exist.
pub const NO_INPUT: u8 = 66;
/// A service the command needs is missing or failed (pip, the network behind it).
pub const UNAVAILABLE: u8 = 69;
/// The device ran out of memory: try again with smaller sizes (`EX_TEMPFAIL`).
pub const OUT_OF_MEMORY: u8 = 75;
/// Any other failure.
pub const FAILURE: u8 = 1;

/// Input data a binary itself finds wrong (an empty text, a JSONL line without its field): exit
/// code [`DATA`]. Build it with [`bad_data`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadData(pub String);

/// Arguments a binary itself refuses after parsing (sizes that contradict each other): exit
/// code [`USAGE`]. Build it with [`bad_usage`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadUsage(pub String);

/// An error of bad input data (exit code 65).
pub fn bad_data(message: impl Into<String>) -> anyhow::Error {
    BadData(message.into()).into()
}

/// An error of bad command-line use (exit code 2).
pub fn bad_usage(message: impl Into<String>) -> anyhow::Error {
    BadUsage(message.into()).into()
}

/// Runs `main`, turning an error into one line on stderr and its exit code.
pub fn run(main: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    match main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
                eprintln!("{}", error.backtrace());
            }
            ExitCode::from(code(&error))
        }
    }
}

/// The exit code of `error`: that of the first cause in its chain that has one.
pub fn code(error: &anyhow::Error) -> u8 {
    error.chain().find_map(code_of).unwrap_or(FAILURE)
}

fn code_of(cause: &(dyn std::error::Error + 'static)) -> Option<u8> {
    if cause.is::<BadData>() {
        return Some(DATA);
    }
    if cause.is::<BadUsage>() {
        return Some(USAGE);
    }
    if let Some(io) = cause.downcast_ref::<std::io::Error>() {
        return match io.kind() {
            std::io::ErrorKind::NotFound => Some(NO_INPUT),
            // Not UTF-8 where text was expected, and the like.
            std::io::ErrorKind::InvalidData => Some(DATA),
            _ => None,
        };
    }
    if let Some(error) = cause.downcast_ref::<mss::Error>() {
        // The facade's wrappers are transparent: the chain goes on with the wrapped error's
        // cause, not the wrapped error, so it is asked here.
        return match error {
            mss::Error::InvalidArgument { .. }
            | mss::Error::PastTrainedPositions { .. }
            | mss::Error::UnknownName(_)
            | mss::Error::Schedule(_)
            | mss::Error::Pruner(_) => Some(USAGE),
            mss::Error::TokenOutOfVocabulary { .. } => Some(DATA),
            mss::Error::OutOfMemory { .. } | mss::Error::NotEnoughDeviceMemory { .. } => {
                Some(OUT_OF_MEMORY)
            }
            mss::Error::Model(error) => model_code(error),
            mss::Error::Assets(error) => asset_code(error),
            _ => None,
        };
    }
    if let Some(error) = cause.downcast_ref::<ModelError>() {
        return model_code(error);
    }
    if let Some(error) = cause.downcast_ref::<AssetError>() {
        return asset_code(error);
    }
    if cause
        .downcast_ref::<mss::schedule::ScheduleError>()
        .is_some()
        || cause.downcast_ref::<mss::schedule::UnknownName>().is_some()
    {
        return Some(USAGE);
    }
    None
}

/// A model error's code; `None` for a failed read, whose I/O cause answers next in the chain.
fn model_code(error: &ModelError) -> Option<u8> {
    match error {
        ModelError::NotFound { .. } => Some(NO_INPUT),
        ModelError::Io { .. } | ModelError::Core(_) => None,
        _ => Some(DATA),
    }
}

/// An asset error's code; `None` for a failed file operation, whose I/O cause answers next.
fn asset_code(error: &AssetError) -> Option<u8> {
    match error {
        AssetError::PipMissing { .. } | AssetError::PipFailed { .. } => Some(UNAVAILABLE),
        AssetError::Io { .. } | AssetError::OutputExists { .. } => None,
        _ => Some(DATA),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A temporary file holding `bytes` (kept for the process's life).
    fn file_of(bytes: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("mss-exit-{}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn each_kind_of_failure_has_its_code() {
        let missing = anyhow::Error::new(ModelError::NotFound {
            what: "model folder",
            path: PathBuf::from("/nowhere"),
        })
        .context("loading the model");
        assert_eq!(code(&missing), NO_INPUT);
        // Through the facade's transparent wrapper too.
        let malformed = anyhow::Error::new(mss::Error::from(ModelError::ConfigInvalid {
            path: PathBuf::from("config.json"),
            field: "head_dim",
            reason: "odd".into(),
        }));
        assert_eq!(code(&malformed), DATA);
        let unreadable = anyhow::Error::new(mss::Error::from(ModelError::Io {
            path: PathBuf::from("/nowhere/model.safetensors"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        }));
        assert_eq!(code(&unreadable), NO_INPUT);
        let unknown = anyhow::Error::new(mss::Error::from(
            "perceiver"
                .parse::<mss::schedule::MemoryType>()
                .unwrap_err(),
        ));
        assert_eq!(code(&unknown), USAGE);
        let io = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(code(&io), NO_INPUT);
        let not_text = std::fs::read_to_string(file_of(&[0xff, 0xfe])).unwrap_err();
        assert_eq!(code(&anyhow::Error::new(not_text).context("reading")), DATA);
        assert_eq!(code(&bad_data("empty").context("reading the texts")), DATA);
        assert_eq!(code(&bad_usage("M > L")), USAGE);
        let oom = mss::Error::OutOfMemory {
            predicted: "1 GiB".into(),
            alternatives: "chunk 8: 0.5 GiB".into(),
            cause: "can't allocate buffer".into(),
        };
        assert_eq!(
            code(&anyhow::Error::new(oom).context("prefilling")),
            OUT_OF_MEMORY
        );
        assert_eq!(code(&anyhow::anyhow!("something else")), FAILURE);
    }
}
