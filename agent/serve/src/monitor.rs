//! Energy windows the Python package opens and closes by token (`vl.monitor`,
//! `%%vl_monitor`): each closed window is recorded as a `monitor` event.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde_json::{json, Value};
use venturalitica_energy::{Meter, Window};
use venturalitica_evidence::artifact::{self, Artifact, Artifacts};
use venturalitica_evidence::{EventKind, Store};
use venturalitica_kernel::agent::{AgentError, ErrorKind};
use venturalitica_kernel::proxy::Energy;

/// A window to open: what `monitor_start` was told.
#[derive(Debug)]
pub struct Opening {
    pub name: String,
    pub pid: u32,
    pub label: Option<String>,
    pub inputs: Vec<PathBuf>,
    pub outputs: Vec<PathBuf>,
}

/// A `monitor` block being measured: its name, the inputs' fingerprints
/// taken when it opened, and the outputs to fingerprint when it closes.
#[derive(Debug)]
struct OpenWindow {
    name: String,
    label: Option<String>,
    inputs: Vec<Artifact>,
    outputs: Vec<PathBuf>,
    window: Window,
}

/// The open windows of one agent, and the meter they share.
#[derive(Debug)]
pub struct Windows {
    energy: Energy,
    meter: OnceLock<Arc<Meter>>,
    open: Mutex<HashMap<String, OpenWindow>>,
}

impl Windows {
    pub fn new(energy: Energy) -> Windows {
        Windows {
            energy,
            meter: OnceLock::new(),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Opens a window over `pid` (the kernel's, as the caller says); the
    /// token closes it.
    pub fn start(&self, opening: Opening) -> Result<String, AgentError> {
        let config = match &self.energy {
            Energy::On(config) => config.as_ref().clone(),
            Energy::Off => {
                return Err(AgentError::request(
                    "energy measurement is off for this kernel",
                ))
            }
            Energy::Broken(why) => {
                return Err(AgentError::request(format!("energy settings: {why}")))
            }
        };
        let meter = self.meter.get_or_init(|| Arc::new(Meter::new(config)));
        let token = window_token();
        // Inputs are fingerprinted before the window opens, so hashing a
        // large data set is not counted as the block's energy.
        let inputs = opening.inputs.iter().map(|p| artifact::read(p)).collect();
        let window = meter.start(opening.pid);
        self.open()?.insert(
            token.clone(),
            OpenWindow {
                name: opening.name,
                label: opening.label,
                inputs,
                outputs: opening.outputs,
                window,
            },
        );
        Ok(token)
    }

    /// Closes the window of `token`, records a `monitor` event (into the
    /// store at `root`, when given) and returns its energy report with the
    /// artifacts beside it.
    pub fn stop(
        &self,
        token: &str,
        origin: &str,
        root: Option<PathBuf>,
    ) -> Result<Value, AgentError> {
        let open = self
            .open()?
            .remove(token)
            .ok_or_else(|| AgentError::request(format!("no open monitor window {token:?}")))?;
        let internal = |e: &dyn std::fmt::Display| AgentError::new(ErrorKind::Internal, e);
        let mut report = serde_json::to_value(open.window.finish()).map_err(|e| internal(&e))?;
        let artifacts = Artifacts {
            outputs: open.outputs.iter().map(|p| artifact::read(p)).collect(),
            inputs: open.inputs,
        };
        if let Some(root) = root {
            let mut payload = json!({ "name": open.name, "origin": origin, "energy": report });
            if let Some(label) = &open.label {
                payload["label"] = json!(label);
            }
            if !artifacts.inputs.is_empty() || !artifacts.outputs.is_empty() {
                payload["artifacts"] = json!(artifacts);
            }
            Store::open(&root)
                .and_then(|store| store.append(EventKind::Monitor, payload))
                .map_err(|e| internal(&e))?;
        }
        report["artifacts"] = json!(artifacts);
        Ok(report)
    }

    fn open(&self) -> Result<MutexGuard<'_, HashMap<String, OpenWindow>>, AgentError> {
        self.open
            .lock()
            .map_err(|_| AgentError::new(ErrorKind::Internal, "monitor windows lock poisoned"))
    }
}

/// A token naming a monitor window. Access is guarded by the endpoint's key,
/// so a counter is enough.
fn window_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "w{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
