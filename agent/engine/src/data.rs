//! Opening data files lazily: only the columns a policy needs are read.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use thiserror::Error;

/// A data file that cannot be used.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("{path}: unsupported data format {ext:?}; expected .csv, .tsv, .parquet, .arrow, .ipc or .feather")]
    UnsupportedFormat { path: PathBuf, ext: String },
    #[error("{path}: no such file")]
    Missing { path: PathBuf },
    #[error("{path}: cannot read the data: {source}")]
    Read { path: PathBuf, source: PolarsError },
    #[error("cannot evaluate the data: {0}")]
    Polars(#[from] PolarsError),
    /// The reader gave up on malformed input by panicking (polars does so on
    /// some corrupt Parquet and IPC files); caught, so the caller lives.
    #[error("{file}: cannot read the data (the file looks corrupt: {message})")]
    Corrupt { file: String, message: String },
    /// A reference snapshot that cannot be made of this data.
    #[error("{source_name}: cannot record the reference: {reason}")]
    Reference { source_name: String, reason: String },
}

/// Runs `f`, turning a panic inside the data reader into [`DataError::Corrupt`]
/// naming `source`: a malformed file must be an error, never a crashed agent.
pub(crate) fn guard<T>(
    source: &str,
    f: impl FnOnce() -> Result<T, DataError>,
) -> Result<T, DataError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the reader panicked".into());
        Err(DataError::Corrupt {
            file: source.to_string(),
            message,
        })
    })
}

/// Opens a file as a lazy frame, choosing the reader by extension.
pub fn open_data(path: &Path) -> Result<LazyFrame, DataError> {
    guard(&path.display().to_string(), || open_data_unguarded(path))
}

fn open_data_unguarded(path: &Path) -> Result<LazyFrame, DataError> {
    if !path.exists() {
        return Err(DataError::Missing {
            path: path.to_path_buf(),
        });
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let pl_path = PlRefPath::new(path.to_string_lossy().as_ref());
    let read = |source| DataError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut lf = match ext.as_str() {
        "csv" => LazyCsvReader::new(pl_path).with_has_header(true).finish(),
        "tsv" => LazyCsvReader::new(pl_path)
            .with_has_header(true)
            .with_separator(b'\t')
            .finish(),
        "parquet" | "pq" => LazyFrame::scan_parquet(pl_path, ScanArgsParquet::default()),
        "arrow" | "ipc" | "feather" => LazyFrame::scan_ipc(
            pl_path,
            IpcScanOptions::default(),
            UnifiedScanArgs::default(),
        ),
        _ => {
            return Err(DataError::UnsupportedFormat {
                path: path.to_path_buf(),
                ext,
            })
        }
    }
    .map_err(read)?;
    // Reading the schema here surfaces a corrupt file as a read error.
    lf.collect_schema().map_err(read)?;
    Ok(lf)
}

/// Reads an in-memory Arrow IPC file (the Feather v2 format: what pyarrow's
/// `ipc.new_file` and polars' `write_ipc` produce), as sent by the kernel.
pub fn read_ipc_bytes(bytes: &[u8], source: &str) -> Result<LazyFrame, DataError> {
    guard(source, || {
        let frame = IpcReader::new(std::io::Cursor::new(bytes))
            .finish()
            .map_err(|e| DataError::Read {
                path: PathBuf::from(source),
                source: e,
            })?;
        Ok(frame.lazy())
    })
}
