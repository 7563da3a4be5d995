//! `venturalitica kernel ...`: kernelspecs, the proxy and passive attach.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde_json::{json, Value};
use venturalitica_evidence::Store;
use venturalitica_kernel::kernelspec::{self, InstallOptions, InstallTarget};
use venturalitica_kernel::proxy::{self, Energy, ProxyOptions};
use venturalitica_kernel::recorder::Recorder;
use venturalitica_kernel::{attach, connection};

use crate::args::{
    KernelAttachArgs, KernelCommand, KernelInstallArgs, KernelListArgs, KernelProxyArgs,
    KernelUninstallArgs, LogLevel,
};
use crate::Outcome;
use venturalitica_serve::{energy_setting, EngineHandler, Root};

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
    let launcher = match kernelspec::launcher_python(&agent) {
        Some(python) => kernelspec::Launcher::Python(python),
        None => {
            eprintln!(
                "warning: no Python with the venturalitica package was found (set VENTURALITICA_PYTHON); \
                 the kernelspec starts the agent directly, and VS Code will not list it as a Python kernel"
            );
            kernelspec::Launcher::Agent
        }
    };
    let dir = kernelspec::install(&InstallOptions {
        name: args.name,
        display_name: args.display_name,
        wrap: args.wrap.clone(),
        target,
        agent,
        launcher,
        load_extension: args.load_extension,
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
        energy_setting(&root)
    };
    let code = proxy::run(ProxyOptions {
        connection_file: args.connection_file,
        argv: args.argv,
        recorder,
        agent: Some(Arc::new(EngineHandler::new(
            Root::Session(root.clone()),
            "kernel",
            energy.clone(),
        ))),
        energy,
    })?;
    export_at_shutdown(&root, log.as_deref());
    Ok(Outcome::Exit(u8::try_from(code).unwrap_or(1)))
}

/// With `MLFLOW_TRACKING_URI` set for the kernel, its trace goes to MLflow
/// once the kernel has exited, by a detached `venturalitica export mlflow`
/// process: the proxy exits at once, so a shutdown or restart takes as long
/// as without the export (jupyter_client kills a kernel that takes more than
/// 5 s to stop). The exporter has its own process group, so signals to the
/// kernel's group do not reach it; its output goes to the proxy's log. A
/// failure there is logged, and the next export resumes where it stopped.
fn export_at_shutdown(root: &Path, log: Option<&Path>) {
    let Ok(uri) = std::env::var("MLFLOW_TRACKING_URI") else {
        return;
    };
    // Only HTTP servers: a `file:` or `sqlite:` URI needs the Python client.
    if !uri.starts_with("http://") && !uri.starts_with("https://") {
        tracing::info!(%uri, "MLFLOW_TRACKING_URI is not an HTTP server; not exporting");
        return;
    }
    match spawn_exporter(root, &uri, log) {
        Ok(pid) => tracing::info!(pid, %uri, "exporting to MLflow in the background"),
        Err(e) => tracing::error!("cannot start the MLflow export: {e:#}"),
    }
}

fn spawn_exporter(root: &Path, uri: &str, log: Option<&Path>) -> anyhow::Result<u32> {
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().context("cannot find the venturalitica binary")?;
    let output = || -> Stdio {
        log.and_then(|p| std::fs::OpenOptions::new().append(true).open(p).ok())
            .map_or_else(Stdio::null, Stdio::from)
    };
    let mut cmd = Command::new(exe);
    let child = venturalitica_os::detach(&mut cmd)
        .args(["export", "mlflow", "--tracking-uri", uri, "--root"])
        .arg(root)
        .args(["--session", &std::process::id().to_string()])
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output())
        .spawn()
        .context("cannot spawn `venturalitica export mlflow`")?;
    Ok(child.id())
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
