//! `venturalitica kernel ...`: kernelspecs, the proxy and passive attach.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde_json::{json, Value};
use venturalitica_energy::{EnergyConfig, Meter, Window};
use venturalitica_engine::{evaluate, read_ipc_bytes, DataSet, Mapping};
use venturalitica_evidence::Store;
use venturalitica_kernel::agent::{AgentHandler, AgentRequest};
use venturalitica_kernel::kernelspec::{self, InstallOptions, InstallTarget};
use venturalitica_kernel::proxy::{self, Energy, ProxyOptions};
use venturalitica_kernel::recorder::Recorder;
use venturalitica_kernel::{attach, connection};
use venturalitica_policy::load_policy;

use crate::args::{
    KernelAttachArgs, KernelCommand, KernelInstallArgs, KernelListArgs, KernelProxyArgs,
    KernelUninstallArgs, LogLevel,
};
use crate::Outcome;

pub fn run(command: KernelCommand) -> anyhow::Result<Outcome> {
    match command {
        KernelCommand::Install(a) => install(a),
        KernelCommand::List(a) => list(a),
        KernelCommand::Uninstall(a) => uninstall(a),
        KernelCommand::Proxy(a) => run_proxy(a),
        KernelCommand::Attach(a) => run_attach(a),
    }
}

fn install(args: KernelInstallArgs) -> anyhow::Result<Outcome> {
    let target = match (args.prefix, args.sys_prefix) {
        (Some(p), _) => InstallTarget::Prefix(p),
        (None, true) => InstallTarget::SysPrefix,
        (None, false) => InstallTarget::User,
    };
    let agent = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("cannot find the venturalitica binary's own path")?;
    let dir = kernelspec::install(&InstallOptions {
        name: args.name,
        display_name: args.display_name,
        wrap: args.wrap.clone(),
        target,
        agent,
    })?;
    writeln!(
        std::io::stdout(),
        "Installed kernelspec {} (wraps {}) in {}",
        dir.file_name().unwrap_or_default().to_string_lossy(),
        args.wrap,
        dir.display()
    )?;
    Ok(Outcome::Passed)
}

fn list(args: KernelListArgs) -> anyhow::Result<Outcome> {
    let specs = kernelspec::list();
    let mut out = std::io::stdout().lock();
    if args.json {
        let rows: Vec<Value> = specs
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "display_name": s.display_name(),
                    "wraps": s.wraps(),
                    "resource_dir": s.resource_dir,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(Outcome::Passed);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "name",
        "display name",
        "venturalitica",
        "path",
    ]);
    for s in &specs {
        let through = match s.wraps() {
            Some(inner) => format!("proxy around {inner}"),
            None => "-".to_string(),
        };
        table.add_row([
            s.name.clone(),
            s.display_name().to_string(),
            through,
            s.resource_dir.display().to_string(),
        ]);
    }
    writeln!(out, "{table}")?;
    Ok(Outcome::Passed)
}

fn uninstall(args: KernelUninstallArgs) -> anyhow::Result<Outcome> {
    let dir = kernelspec::uninstall(&args.name)?;
    writeln!(std::io::stdout(), "Removed {}", dir.display())?;
    Ok(Outcome::Passed)
}

fn run_proxy(args: KernelProxyArgs) -> anyhow::Result<Outcome> {
    // Nothing about logging or evidence may keep the user's kernel from
    // starting: problems are reported (stderr reaches the server's log)
    // and the proxy runs without that part.
    let log = match start_log(&args.connection_file, args.log_level, "proxy") {
        Ok(path) => Some(path),
        Err(e) => {
            eprintln!("venturalitica: {e:#}; the proxy runs without a log file");
            None
        }
    };
    let root = super::project_root(args.root.as_deref())?;
    let recorder = if args.no_record {
        None
    } else {
        match recorder(&root, "proxy") {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("venturalitica: {e:#}; cells will not be recorded");
                tracing::error!("{e:#}; cells will not be recorded");
                None
            }
        }
    };
    tracing::info!(log = ?log, root = %root.display(), "proxy starting");
    let energy = if args.no_energy {
        Energy::Off
    } else {
        match EnergyConfig::load(&root) {
            Ok(config) if config.enabled => Energy::On(config),
            Ok(_) => Energy::Off,
            Err(e) => {
                // Bad settings must not cost the user their kernel: say so
                // in the log and on every cell instead.
                tracing::error!(%e, "energy settings; cells are not metered");
                Energy::Broken(e.to_string())
            }
        }
    };
    let code = proxy::run(ProxyOptions {
        connection_file: args.connection_file,
        argv: args.argv,
        recorder,
        agent: Some(Arc::new(EngineHandler::new(root.clone(), energy.clone()))),
        energy,
    })?;
    export_at_shutdown(&root);
    Ok(Outcome::Exit(u8::try_from(code).unwrap_or(1)))
}

/// With `MLFLOW_TRACKING_URI` set for the kernel, its trace goes to MLflow
/// once the kernel has exited (cells never wait for it). A failure is logged;
/// the next export resumes where this one stopped.
fn export_at_shutdown(root: &Path) {
    let Ok(uri) = std::env::var("MLFLOW_TRACKING_URI") else {
        return;
    };
    // Only HTTP servers: a `file:` or `sqlite:` URI needs the Python client.
    if !uri.starts_with("http://") && !uri.starts_with("https://") {
        tracing::info!(%uri, "MLFLOW_TRACKING_URI is not an HTTP server; not exporting");
        return;
    }
    match super::export::export(root, &uri, None, Some(u64::from(std::process::id())), false) {
        Ok(s) => tracing::info!(runs = s.runs.len(), %uri, "exported to MLflow"),
        Err(e) => tracing::error!("{e:#}"),
    }
}

fn run_attach(args: KernelAttachArgs) -> anyhow::Result<Outcome> {
    let log = start_log(&args.connection_file, args.log_level, "attach")?;
    let root = super::project_root(args.root.as_deref())?;
    // Check the file before saying anything, so a typo fails fast.
    connection::read(&args.connection_file)?;
    eprintln!(
        "Recording executions of {} into {} (log: {}); Ctrl-C to stop.",
        args.connection_file.display(),
        root.join(".venturalitica").display(),
        log.display()
    );
    let count = attach::run(&args.connection_file, recorder(&root, "attached")?)?;
    eprintln!("Recorded {count} execution(s).");
    Ok(Outcome::Passed)
}

fn recorder(root: &Path, mode: &str) -> anyhow::Result<Recorder> {
    let store = Store::open(root)
        .with_context(|| format!("cannot open the evidence store in {}", root.display()))?;
    let mut extra = serde_json::Map::new();
    extra.insert("mode".to_string(), json!(mode));
    // jupyter_server names the notebook of a kernel's session in its env.
    if let Ok(notebook) = std::env::var("JPY_SESSION_NAME") {
        extra.insert("notebook".to_string(), json!(notebook));
    }
    Ok(Recorder::start(store, extra))
}

/// Logs to `venturalitica-<what>-<kernel>.log` in the Jupyter runtime dir
/// (`JUPYTER_RUNTIME_DIR`, else the connection file's directory).
fn start_log(connection_file: &Path, level: LogLevel, what: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("JUPYTER_RUNTIME_DIR")
        .map(PathBuf::from)
        .or_else(|| connection_file.parent().map(Path::to_path_buf))
        .unwrap_or_else(std::env::temp_dir);
    let stem = connection_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kernel".to_string());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("venturalitica-{what}-{stem}.log"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open the log {}", path.display()))?;
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))?;
    Ok(path)
}

/// Answers the kernel's requests: `enforce` with the policy engine,
/// `monitor_start` / `monitor_stop` with the energy meter.
#[derive(Debug)]
struct EngineHandler {
    root: PathBuf,
    energy: Energy,
    meter: OnceLock<Arc<Meter>>,
    /// Open `monitor` windows by token, with their names.
    windows: Mutex<HashMap<String, (String, Window)>>,
}

impl AgentHandler for EngineHandler {
    fn handle(&self, request: &AgentRequest) -> Result<Value, String> {
        let answer = match request.op() {
            "enforce" => self.enforce(request),
            "monitor_start" => self.monitor_start(request),
            "monitor_stop" => self.monitor_stop(request),
            op => Err(anyhow::anyhow!(
                "unknown op {op:?} (known: ping, enforce, monitor_start, monitor_stop)"
            )),
        };
        answer.map_err(|e| format!("{e:#}"))
    }
}

impl EngineHandler {
    fn new(root: PathBuf, energy: Energy) -> EngineHandler {
        EngineHandler {
            root,
            energy,
            meter: OnceLock::new(),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Opens a window over `pid` (the kernel's, as the caller says).
    fn monitor_start(&self, request: &AgentRequest) -> anyhow::Result<Value> {
        let h = &request.header;
        let name = h["name"]
            .as_str()
            .context("monitor_start needs a \"name\"")?;
        let pid = h["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .context("monitor_start needs the \"pid\" to measure")?;
        let config = match &self.energy {
            Energy::On(config) => config.clone(),
            Energy::Off => anyhow::bail!("energy measurement is off for this kernel"),
            Energy::Broken(why) => anyhow::bail!("energy settings: {why}"),
        };
        let meter = self.meter.get_or_init(|| Arc::new(Meter::new(config)));
        let token = window_token();
        let window = meter.start(pid);
        self.windows
            .lock()
            .map_err(|_| anyhow::anyhow!("monitor windows lock poisoned"))?
            .insert(token.clone(), (name.to_string(), window));
        Ok(json!({ "token": token }))
    }

    /// Closes a window, records a `monitor` event and returns its report.
    fn monitor_stop(&self, request: &AgentRequest) -> anyhow::Result<Value> {
        let token = request.header["token"]
            .as_str()
            .context("monitor_stop needs the \"token\" monitor_start gave")?;
        let (name, window) = self
            .windows
            .lock()
            .map_err(|_| anyhow::anyhow!("monitor windows lock poisoned"))?
            .remove(token)
            .with_context(|| format!("no open monitor window {token:?}"))?;
        let report = serde_json::to_value(window.finish())?;
        if request.header["record"].as_bool() != Some(false) {
            Store::open(&self.root)?.append(
                super::monitor::MONITOR_EVENT,
                json!({ "name": name, "origin": "kernel", "energy": report }),
            )?;
        }
        Ok(report)
    }

    fn enforce(&self, request: &AgentRequest) -> anyhow::Result<Value> {
        let h = &request.header;
        let policy_path = h["policy"]
            .as_str()
            .context("the request has no \"policy\" path")?;
        let policy = load_policy(Path::new(policy_path))?;
        let data = request
            .payload
            .first()
            .context("the request carries no data frame (an Arrow IPC file)")?;
        let source = h["source"].as_str().unwrap_or("dataframe");
        let frame = read_ipc_bytes(data, source)?;
        let mut mapping = Mapping::new();
        if let Some(map) = h["mapping"].as_object() {
            for (var, col) in map {
                let col = col
                    .as_str()
                    .with_context(|| format!("mapping {var:?}: the column must be a string"))?;
                mapping = mapping.with(var, col);
            }
        }
        let data = DataSet {
            frame,
            source: source.to_string(),
            streaming: false,
        };
        let results = evaluate(&policy, data, &mapping)?;
        if h["record"].as_bool() != Some(false) {
            super::enforce::record(&self.root, &policy, &results, "kernel")?;
        }
        Ok(serde_json::to_value(&results)?)
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
