//! Shared by the data targets: write the bytes to a file with the extension
//! the reader is chosen by, then open and evaluate it as `enforce` does.
//! libfuzzer-sys aborts on any panic (before the engine's guard could catch
//! it), and a caught one ([`DataError::Corrupt`]) is raised again, so the
//! fuzzer sees every reader panic even where the product survives it.

use std::path::Path;

use venturalitica_engine::{evaluate, open_data, DataError, DataSet, Mapping, References};

const POLICY: &str = "- id: di\n  metric_key: disparate_impact\n  operator: '>='\n  threshold: 0.8\n  input.dimension: g\n- id: acc\n  metric_key: accuracy\n  operator: '>='\n  threshold: 0.5\n";

pub fn run(bytes: &[u8], ext: &str) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join(format!("data.{ext}"));
    if std::fs::write(&path, bytes).is_err() {
        return;
    }
    let Ok(policy) = venturalitica_policy::parse_policy(Path::new("p.yaml"), POLICY) else {
        return;
    };
    let outcome = open_data(&path).and_then(|frame| {
        let mapping = Mapping::new().with("target", "y").with("prediction", "p");
        let data = DataSet {
            frame,
            source: path.display().to_string(),
            streaming: false,
        };
        evaluate(&policy, data, &mapping, &References::none())
    });
    if let Err(DataError::Corrupt { message, .. }) = outcome {
        panic!("reader panic: {message}");
    }
}
