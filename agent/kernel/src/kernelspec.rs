//! Kernelspecs: find the one to wrap, write the proxied one, list, remove.
//!
//! Directories are searched in jupyter_core's order: each `JUPYTER_PATH`
//! entry, the user data dir (`JUPYTER_DATA_DIR`, else
//! `~/.local/share/jupyter`; `~/Library/Jupyter` on macOS,
//! `%APPDATA%\jupyter` on Windows), the environment's prefix (`VIRTUAL_ENV`
//! or `CONDA_PREFIX`), then `/usr/local/share/jupyter` and
//! `/usr/share/jupyter` (`%PROGRAMDATA%\jupyter` on Windows).
//! ipykernel's `python3` is often not a file at all (Jupyter synthesises it
//! from the running Python); when no file is found, Python is asked for it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Map, Value};

use crate::KernelError;

/// The metadata key marking a spec as written by us.
const MARK: &str = "venturalitica";

/// A kernelspec found on disk (or synthesised by ipykernel).
#[derive(Debug, Clone)]
pub struct KernelSpec {
    pub name: String,
    /// The directory holding `kernel.json` and the logos.
    pub resource_dir: PathBuf,
    pub spec: Map<String, Value>,
}

impl KernelSpec {
    pub fn display_name(&self) -> &str {
        self.spec
            .get("display_name")
            .and_then(Value::as_str)
            .unwrap_or(&self.name)
    }

    /// The name of the spec this one wraps, if written by `kernel install`.
    pub fn wraps(&self) -> Option<&str> {
        self.spec.get("metadata")?.get(MARK)?.get("wraps")?.as_str()
    }
}

/// Where `kernel install` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallTarget {
    /// The user's Jupyter data dir.
    User,
    /// The current environment (`VIRTUAL_ENV`, `CONDA_PREFIX`, else Python's `sys.prefix`).
    SysPrefix,
    /// `PREFIX/share/jupyter/kernels`.
    Prefix(PathBuf),
}

/// What `kernel install` does.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub name: Option<String>,
    pub display_name: Option<String>,
    /// The spec to wrap (default `python3`).
    pub wrap: String,
    pub target: InstallTarget,
    /// The agent binary the new spec runs.
    pub agent: PathBuf,
    /// How the spec starts it.
    pub launcher: Launcher,
    /// Load the IPython extension (`--ext=venturalitica`) in the wrapped
    /// kernel, so `%vl_enforce` and friends work without `%load_ext`.
    pub load_extension: bool,
}

/// How a proxied spec starts the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launcher {
    /// `[<python>, "-m", "venturalitica.kernel", "--agent", <agent>, ...]`:
    /// the shape VS Code needs to list a `language: python` spec as a Python
    /// kernel. The module execs the agent, so no Python stays in the path.
    Python(PathBuf),
    /// `[<agent>, "kernel", "proxy", ...]`, for when no Python with the
    /// package can be found (what versions before 0.1 wrote).
    Agent,
}

/// The module `Launcher::Python` runs.
pub const LAUNCHER_MODULE: &str = "venturalitica.kernel";

/// The Python that can run [`LAUNCHER_MODULE`], as an absolute path:
/// `$VENTURALITICA_PYTHON`, else the `python3` or `python` beside the agent
/// binary (a virtual environment's `bin/`), else `python3` on `PATH`. Each
/// is asked to import the module, so the spec never names a Python that
/// cannot start it.
pub fn launcher_python(agent: &Path) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("VENTURALITICA_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    if let Some(dir) = agent.parent() {
        // A venv's `bin/` (Windows: `Scripts\`, with `python.exe` only).
        let exe = std::env::consts::EXE_SUFFIX;
        candidates.extend([
            dir.join(format!("python3{exe}")),
            dir.join(format!("python{exe}")),
        ]);
    }
    candidates.push(PathBuf::from("python3"));
    let ask = format!("import sys, {LAUNCHER_MODULE}; print(sys.executable)");
    candidates.into_iter().find_map(|python| {
        let out = Command::new(&python).args(["-c", &ask]).output().ok()?;
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        (out.status.success() && path.is_absolute()).then_some(path)
    })
}

/// What `load_extension` adds to an IPython kernel's command line.
pub const EXTENSION_ARG: &str = "--ext=venturalitica";

/// The kernel search path, most specific first.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("JUPYTER_PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    dirs.extend(user_data_dir());
    dirs.extend(env_prefix().map(|p| p.join("share/jupyter")));
    dirs.extend(system_data_dirs());
    let mut seen = std::collections::HashSet::new();
    dirs.into_iter()
        .map(|d| d.join("kernels"))
        .filter(|d| seen.insert(d.clone()))
        .collect()
}

fn user_data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("JUPYTER_DATA_DIR") {
        return Some(PathBuf::from(d));
    }
    if cfg!(windows) {
        return std::env::var_os("APPDATA").map(|d| PathBuf::from(d).join("jupyter"));
    }
    if cfg!(target_os = "macos") {
        return std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Library/Jupyter"));
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return Some(PathBuf::from(d).join("jupyter"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/jupyter"))
}

/// jupyter_core's `SYSTEM_JUPYTER_PATH`.
fn system_data_dirs() -> Vec<PathBuf> {
    if cfg!(windows) {
        return std::env::var_os("PROGRAMDATA")
            .map(|d| PathBuf::from(d).join("jupyter"))
            .into_iter()
            .collect();
    }
    vec![
        PathBuf::from("/usr/local/share/jupyter"),
        PathBuf::from("/usr/share/jupyter"),
    ]
}

fn env_prefix() -> Option<PathBuf> {
    ["VIRTUAL_ENV", "CONDA_PREFIX"]
        .iter()
        .find_map(|v| std::env::var_os(v).map(PathBuf::from))
}

/// Every spec on the search path; the first of each name wins, as in Jupyter.
pub fn list() -> Vec<KernelSpec> {
    let mut specs: Vec<KernelSpec> = Vec::new();
    for dir in search_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<KernelSpec> = entries
            .flatten()
            .filter_map(|e| read_spec(&e.path()).ok())
            .filter(|s| !specs.iter().any(|k| k.name == s.name))
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        specs.extend(found);
    }
    specs
}

fn read_spec(dir: &Path) -> Result<KernelSpec, KernelError> {
    let path = dir.join("kernel.json");
    let text = std::fs::read_to_string(&path).map_err(|source| KernelError::Io {
        path: path.clone(),
        source,
    })?;
    let spec: Map<String, Value> = serde_json::from_str(&text).map_err(|e| {
        KernelError::Kernelspec(format!("{}: not a kernelspec: {e}", path.display()))
    })?;
    if !spec.get("argv").is_some_and(Value::is_array) {
        return Err(KernelError::Kernelspec(format!(
            "{}: no \"argv\" list",
            path.display()
        )));
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    Ok(KernelSpec {
        name,
        resource_dir: dir.to_path_buf(),
        spec,
    })
}

/// Finds `name` on the search path, or (for `python3`) asks ipykernel.
pub fn find(name: &str) -> Result<KernelSpec, KernelError> {
    let name = name.to_lowercase();
    for dir in search_dirs() {
        let candidate = dir.join(&name);
        if candidate.join("kernel.json").is_file() {
            return read_spec(&candidate);
        }
    }
    if name == "python3" {
        return native_python3();
    }
    let known: Vec<String> = list().into_iter().map(|s| s.name).collect();
    Err(KernelError::Kernelspec(format!(
        "no kernelspec named {name:?} (found: {}; searched {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        },
        search_dirs()
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// The Python used to ask ipykernel: `VENTURALITICA_PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("VENTURALITICA_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn native_python3() -> Result<KernelSpec, KernelError> {
    const ASK: &str = "import json; from ipykernel import kernelspec as k; \
        print(json.dumps({'spec': k.get_kernel_dict(), 'resources': k.RESOURCES}))";
    let python = python();
    let out = Command::new(&python)
        .args(["-c", ASK])
        .output()
        .map_err(|e| KernelError::Kernelspec(format!("no python3 kernelspec on the search path, and `{python}` cannot be run to ask ipykernel: {e}")))?;
    if !out.status.success() {
        return Err(KernelError::Kernelspec(format!(
            "no python3 kernelspec on the search path, and `{python}` has no ipykernel \
             (pip install ipykernel, or set VENTURALITICA_PYTHON): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let answer: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| KernelError::Kernelspec(format!("ipykernel's kernelspec: {e}")))?;
    let spec = answer["spec"].as_object().cloned().unwrap_or_default();
    Ok(KernelSpec {
        name: "python3".to_string(),
        resource_dir: PathBuf::from(answer["resources"].as_str().unwrap_or_default()),
        spec,
    })
}

fn kernels_dir(target: &InstallTarget) -> Result<PathBuf, KernelError> {
    let base = match target {
        InstallTarget::User => user_data_dir()
            .ok_or_else(|| KernelError::Kernelspec("no HOME to install into".to_string()))?,
        InstallTarget::Prefix(p) => p.join("share/jupyter"),
        InstallTarget::SysPrefix => match env_prefix() {
            Some(p) => p.join("share/jupyter"),
            None => python_prefix()?.join("share/jupyter"),
        },
    };
    Ok(base.join("kernels"))
}

fn python_prefix() -> Result<PathBuf, KernelError> {
    let python = python();
    let out = Command::new(&python)
        .args(["-c", "import sys; print(sys.prefix)"])
        .output()
        .map_err(|e| KernelError::Kernelspec(format!("`{python}` for --sys-prefix: {e}")))?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Writes a spec that runs the proxy around `options.wrap`; returns its directory.
pub fn install(options: &InstallOptions) -> Result<PathBuf, KernelError> {
    let wrapped = find(&options.wrap)?;
    if let Some(inner) = wrapped.wraps() {
        return Err(KernelError::Kernelspec(format!(
            "{:?} already runs through venturalitica (it wraps {inner:?}); wrap {inner:?} instead",
            wrapped.name
        )));
    }
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| format!("venturalitica-{}", wrapped.name));
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    {
        return Err(KernelError::Kernelspec(format!(
            "kernel name {name:?}: use letters, digits, '-', '.' and '_' only"
        )));
    }
    let dest = kernels_dir(&options.target)?.join(name.to_lowercase());
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KernelError::Io { path, source }
    };
    std::fs::create_dir_all(&dest).map_err(io(&dest))?;
    // Logos, kernel.js and the like travel with the spec.
    if let Ok(entries) = std::fs::read_dir(&wrapped.resource_dir) {
        for entry in entries.flatten() {
            let from = entry.path();
            if from.is_file() && entry.file_name() != "kernel.json" {
                let to = dest.join(entry.file_name());
                std::fs::copy(&from, &to).map_err(io(&to))?;
            }
        }
    }
    let mut spec = wrap_spec(
        &wrapped,
        &options.agent,
        &options.launcher,
        options.display_name.as_deref(),
    );
    if options.load_extension {
        let language = wrapped.spec.get("language").and_then(Value::as_str);
        if language != Some("python") {
            return Err(KernelError::Kernelspec(format!(
                "--load-extension needs an IPython kernel; {} is {}",
                wrapped.name,
                language.unwrap_or("of no stated language")
            )));
        }
        if let Some(argv) = spec.get_mut("argv").and_then(Value::as_array_mut) {
            argv.push(json!(EXTENSION_ARG));
        }
    }
    let path = dest.join("kernel.json");
    let text = serde_json::to_string_pretty(&spec).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(io(&path))?;
    Ok(dest)
}

/// The proxied spec for `wrapped`.
pub fn wrap_spec(
    wrapped: &KernelSpec,
    agent: &Path,
    launcher: &Launcher,
    display_name: Option<&str>,
) -> Value {
    let mut spec = wrapped.spec.clone();
    let inner_argv = spec.remove("argv").unwrap_or_else(|| json!([]));
    let agent = json!(agent.to_string_lossy());
    let mut argv = match launcher {
        Launcher::Python(python) => vec![
            json!(python.to_string_lossy()),
            json!("-m"),
            json!(LAUNCHER_MODULE),
            json!("--agent"),
            agent,
        ],
        Launcher::Agent => vec![agent, json!("kernel"), json!("proxy")],
    };
    argv.extend([json!("-f"), json!("{connection_file}"), json!("--")]);
    argv.extend(inner_argv.as_array().cloned().unwrap_or_default());
    spec.insert("argv".to_string(), Value::Array(argv));
    let display = display_name
        .map(str::to_string)
        .unwrap_or_else(|| format!("{} (Venturalitica)", wrapped.display_name()));
    spec.insert("display_name".to_string(), json!(display));
    let mut metadata = spec
        .remove("metadata")
        .and_then(|m| m.as_object().cloned())
        .unwrap_or_default();
    metadata.insert(
        MARK.to_string(),
        json!({"wraps": wrapped.name, "version": env!("CARGO_PKG_VERSION")}),
    );

    spec.insert("metadata".to_string(), Value::Object(metadata));
    Value::Object(spec)
}

/// Removes the venturalitica spec `name`; returns the directory removed.
pub fn uninstall(name: &str) -> Result<PathBuf, KernelError> {
    let spec = find(name)?;
    if spec.wraps().is_none() {
        return Err(KernelError::Kernelspec(format!(
            "{:?} ({}) was not installed by venturalitica; not removing it",
            spec.name,
            spec.resource_dir.display()
        )));
    }
    std::fs::remove_dir_all(&spec.resource_dir).map_err(|source| KernelError::Io {
        path: spec.resource_dir.clone(),
        source,
    })?;
    Ok(spec.resource_dir)
}
