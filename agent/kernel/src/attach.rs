//! `venturalitica kernel attach`: timing for a kernel the proxy did not start.
//!
//! Subscribes to the kernel's IOPub only, so it changes nothing the kernel
//! or its frontends see, and records a `cell` event per execution (marked
//! `"mode": "attached"`) from the busy/idle status messages. Without the
//! shell channel it cannot see `aborted` replies or annotate replies; that is
//! what the proxy is for.

use std::path::Path;

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::connection;
use crate::intercept::Tracker;
use crate::recorder::Recorder;
use crate::upstream;
use crate::wire::{RawMessage, Signer};
use crate::KernelError;

/// Follows the kernel of `connection_file` until stopped (Ctrl-C, SIGTERM);
/// returns how many executions were recorded.
pub fn run(connection_file: &Path, recorder: Recorder) -> Result<u64, KernelError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(KernelError::Runtime)?;
    let connection = connection::read(connection_file)?;
    if connection.curve.is_some() {
        return Err(KernelError::ConnectionFile {
            path: connection_file.to_path_buf(),
            reason: "its transport is encrypted (CurveZMQ), and attach has no CURVE client: \
                     start the kernel through the proxy (`venturalitica kernel install`) instead"
                .into(),
        });
    }
    let info = connection.info;
    let signer = Signer::new(info.key.as_bytes());
    let endpoint = info.iopub_url();
    let count = runtime.block_on(async {
        let (tx, mut iopub) = mpsc::channel(1024);
        upstream::subscribe(&endpoint, tx, Instant::now() + Duration::from_secs(10)).await?;
        tracing::info!(%endpoint, "attached to IOPub");
        let mut stop = venturalitica_os::Notices::stop_only().map_err(KernelError::Runtime)?;
        let mut tracker = Tracker::default();
        let mut count = 0u64;
        loop {
            let frames = tokio::select! {
                m = iopub.recv() => match m {
                    Some(m) => m.frames,
                    None => break,
                },
                _ = stop.next() => break,
            };
            let raw = match RawMessage::parse(frames, &signer) {
                Ok(raw) => raw,
                Err(e) => {
                    tracing::warn!(%e, "dropped an IOPub message");
                    continue;
                }
            };
            let (Ok(header), Ok(parent)) = (raw.header(), raw.parent_header()) else {
                continue;
            };
            if !matches!(
                header.msg_type.as_str(),
                "status" | "execute_input" | "error"
            ) {
                continue;
            }
            let content = raw.content().unwrap_or_default();
            if let Some(record) = tracker.observe(&parent, &header.msg_type, &content) {
                recorder.record(record);
                count += 1;
            }
        }
        Ok::<u64, KernelError>(count)
    })?;
    recorder.finish();
    Ok(count)
}
