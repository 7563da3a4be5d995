//! Command-line arguments. The `///` comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Compliance as metadata for ML: evaluate fairness and data-quality
/// policies, and keep a tamper-evident evidence trail.
#[derive(Debug, Parser)]
#[command(name = "venturalitica", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses this process's arguments. Usage lines name the program as it
    /// was invoked (`vl` or `venturalitica`), without Windows' `.exe`.
    pub fn try_parse_invoked() -> Result<Cli, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let invoked = std::env::args_os()
            .next()
            .and_then(|arg0| {
                let stem = std::path::Path::new(&arg0).file_stem()?;
                Some(stem.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "venturalitica".to_string());
        let matches = Cli::command().bin_name(invoked).try_get_matches()?;
        Cli::from_arg_matches(&matches)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate a policy on a dataset (CSV, Parquet or Arrow IPC).
    ///
    /// Exits 0 when every blocking control passes, 1 when one fails or
    /// cannot be evaluated, 2 on bad input.
    Enforce(EnforceArgs),
    /// Record a reference dataset that drift controls compare with: per
    /// column, quantile bins (numeric) or category counts, never a row,
    /// kept under its SHA-256 with a `reference` event.
    ///
    /// Exits 0 when recorded, 2 on bad input.
    Reference(ReferenceArgs),
    /// Check that the evidence trail was not edited, cut, reordered or
    /// re-signed, and say which key signed what.
    ///
    /// Safe to run while notebooks and other commands are recording. Exits 0
    /// when the chain, every signature, the anchors given and every policy
    /// copy check out, 1 otherwise.
    Verify(VerifyArgs),
    /// Approve the evidence trail up to its head, signed with your SSH key:
    /// an `approval` event anyone can check with `ssh-keygen -Y verify`.
    ///
    /// Refuses a trail that does not verify. Exits 0 when recorded, 2 when
    /// the key, the trail or the head cannot be used.
    Approve(ApproveArgs),
    /// The Ed25519 key that signs this user's evidence.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Run notebook kernels through the agent: each cell's timing and energy
    /// are recorded and added to its execute_reply.
    #[command(subcommand)]
    Kernel(KernelCommand),
    /// Measure one command's energy and carbon, like `time` measures its
    /// duration; the summary goes to stderr and the run to the evidence trail.
    ///
    /// Exits with the command's exit status.
    Monitor(MonitorArgs),
    /// Write the project's bill of materials (CycloneDX 1.6), the latest
    /// result of every control and OSCAL assessment results to
    /// .venturalitica/, and report whether the project passes.
    ///
    /// Exits 1 when the latest result of a blocking control failed or
    /// errored, 0 otherwise.
    Scan(ScanArgs),
    /// Push the evidence trail to an experiment tracker.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Write a document from the evidence.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Serve the dashboard: Evidence Graph, Policy Status, Energy and a
    /// printable report, live from the evidence store.
    ///
    /// Binds 127.0.0.1 by default; on any other address every request needs
    /// the token printed at start.
    Ui(UiArgs),
    /// Serve the agent endpoint for the Python package outside a proxied
    /// kernel (a script, a plain kernel); the package starts it itself.
    ///
    /// Prints {"endpoint", "key", "pid"} as one JSON line, then serves until
    /// standard input closes.
    Agent(AgentArgs),
}

#[derive(Debug, Args)]
pub struct UiArgs {
    /// Address to listen on; anything but loopback requires a token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,

    /// Port to listen on (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 8501)]
    pub port: u16,

    /// Project root holding .venturalitica/ [default: as for enforce]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Require this token on every request [default: none on loopback,
    /// a random one otherwise; also read from VENTURALITICA_UI_TOKEN]
    #[arg(long, value_name = "TOKEN", env = "VENTURALITICA_UI_TOKEN")]
    pub token: Option<String>,

    /// Also answer requests for this host name on loopback (a reverse
    /// proxy's name); others are refused against DNS rebinding. Repeatable.
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,

    /// Open the dashboard in the default browser.
    #[arg(long)]
    pub open: bool,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Project root for the evidence trail and [tool.venturalitica]
    /// settings [default: each request's project, found from the caller's
    /// working directory as for enforce]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The technical documentation of the EU AI Act (Article 11, Annex IV):
    /// each of its nine points filled from the trail, the bill of materials,
    /// the policies and their risks, the latest results and the energy
    /// records, every statement with the events it rests on; what the
    /// evidence cannot say is listed as missing. The prose a person must
    /// write comes from [tool.venturalitica.annex-iv] in pyproject.toml.
    AnnexIv(AnnexIvArgs),
}

#[derive(Debug, Args)]
pub struct AnnexIvArgs {
    #[arg(long, value_enum, default_value = "md")]
    pub format: DocFormat,

    /// Write here [default: stdout for md and html; annex-iv.pdf for pdf]
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Project root holding .venturalitica/ [default: as for enforce]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DocFormat {
    Md,
    Html,
    /// Printed by headless Chromium (`chromium` on PATH, or VENTURALITICA_CHROMIUM).
    Pdf,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Export to an MLflow tracking server: one run per notebook session (or
    /// other writing process) with per-cell energy and per-control
    /// compliance metrics, the trail and policies as artifacts, and the
    /// session as an MLflow Trace (a span per cell, evaluation, control and
    /// monitor window). Only what was not exported before is sent.
    Mlflow(MlflowArgs),
}

#[derive(Debug, Args)]
pub struct MlflowArgs {
    /// Tracking server [default: MLFLOW_TRACKING_URI]. Auth from
    /// MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD.
    #[arg(long, value_name = "URI")]
    pub tracking_uri: Option<String>,

    /// Experiment name, created if missing [default: MLFLOW_EXPERIMENT_NAME,
    /// else "venturalitica"]
    #[arg(long, value_name = "NAME")]
    pub experiment: Option<String>,

    /// Project root holding .venturalitica/ [default: as for enforce]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Export only this session: the pid that wrote its events (the
    /// `venturalitica.pid` tag of its run).
    #[arg(long, value_name = "PID")]
    pub session: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Project root [default: as for enforce]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Also write a JUnit XML report (one test case per control) to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// A name for the run in the evidence trail [default: the command]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Print the report as JSON (to stderr) instead of the summary.
    #[arg(long)]
    pub json: bool,

    /// Project root for the evidence trail and [tool.venturalitica]
    /// settings [default: as for enforce]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Do not record the run in the evidence trail.
    #[arg(long)]
    pub no_record: bool,

    /// The command to run.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum KernelCommand {
    /// Install a kernelspec that runs an existing kernel through the proxy.
    Install(KernelInstallArgs),
    /// List kernelspecs, showing which run through venturalitica.
    List(KernelListArgs),
    /// Remove a kernelspec written by `kernel install`.
    Uninstall(KernelUninstallArgs),
    /// Run a kernel behind the proxy (what an installed kernelspec runs).
    Proxy(KernelProxyArgs),
    /// Record the timing of each execution of a kernel not started through
    /// the proxy, by listening to its IOPub channel. Stops on Ctrl-C.
    Attach(KernelAttachArgs),
}

#[derive(Debug, Args)]
pub struct KernelInstallArgs {
    /// Name of the new kernelspec [default: venturalitica-<wrapped>]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Name shown in Jupyter [default: "<wrapped display name> (Venturalitica)"]
    #[arg(long, value_name = "TEXT")]
    pub display_name: Option<String>,

    /// The kernelspec to wrap.
    #[arg(long, value_name = "SPEC", default_value = "python3")]
    pub wrap: String,

    /// Load the venturalitica IPython extension in every kernel started from
    /// this spec (IPython kernels only; the package must be importable there).
    #[arg(long)]
    pub load_extension: bool,

    /// Install for the current user (the default).
    #[arg(long, conflicts_with_all = ["sys_prefix", "prefix"])]
    pub user: bool,

    /// Install into the current environment (VIRTUAL_ENV, CONDA_PREFIX or
    /// Python's sys.prefix).
    #[arg(long, conflicts_with = "prefix")]
    pub sys_prefix: bool,

    /// Install into PREFIX/share/jupyter/kernels.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KernelListArgs {
    /// Print the list as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KernelUninstallArgs {
    /// The kernelspec to remove.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// Log verbosity of the long-running kernel commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Args)]
pub struct KernelProxyArgs {
    /// The connection file written by the Jupyter server.
    #[arg(short = 'f', long = "connection-file", value_name = "FILE")]
    pub connection_file: PathBuf,

    /// Log verbosity; the log is venturalitica-proxy-<connection file
    /// name>.log in the Jupyter runtime dir. It never contains the key.
    #[arg(long, value_enum, default_value_t = LogLevel::Info, env = "VENTURALITICA_LOG_LEVEL")]
    pub log_level: LogLevel,

    /// Project root for the evidence trail [default: as for enforce, from
    /// the kernel's working directory]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Do not record cells in the evidence trail.
    #[arg(long)]
    pub no_record: bool,

    /// Do not measure cells' energy (also VENTURALITICA_ENERGY=off).
    #[arg(long)]
    pub no_energy: bool,

    /// The real kernel's command line, with {connection_file}.
    #[arg(last = true, required = true, value_name = "ARGV")]
    pub argv: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KernelAttachArgs {
    /// The kernel's connection file.
    #[arg(value_name = "CONNECTION_FILE")]
    pub connection_file: PathBuf,

    /// Log verbosity (the log goes to the Jupyter runtime dir).
    #[arg(long, value_enum, default_value_t = LogLevel::Info, env = "VENTURALITICA_LOG_LEVEL")]
    pub log_level: LogLevel,

    /// Project root for the evidence trail [default: as for enforce]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

/// Output formats of `enforce`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// The results JSON (see schemas/results.schema.json).
    Json,
}

#[derive(Debug, Args)]
pub struct EnforceArgs {
    /// The dataset: .csv, .tsv, .parquet, .arrow, .ipc or .feather.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,

    /// The policy: OSCAL YAML or JSON (component-definition, catalog,
    /// profile, system-security-plan, assessment-plan) or a list of controls.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,

    /// Column bound to the policy's `target` variable.
    #[arg(long, value_name = "COLUMN")]
    pub target: Option<String>,

    /// Column bound to the policy's `prediction` variable.
    #[arg(long, value_name = "COLUMN")]
    pub prediction: Option<String>,

    /// Bind a policy variable to a column, e.g. gender=Attribute9.
    #[arg(value_name = "VAR=COLUMN", value_parser = parse_mapping)]
    pub mapping: Vec<(String, String)>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Also write a JUnit XML report (one test case per control) to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Project root holding .venturalitica/ [default: the nearest ancestor
    /// with .venturalitica/, .git or pyproject.toml]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Do not record this evaluation in the evidence trail.
    #[arg(long)]
    pub no_record: bool,

    /// Stream the data through each query instead of reading the used
    /// columns into memory (automatic for files over 2 GiB): slower, but for
    /// data larger than memory.
    #[arg(long)]
    pub streaming: bool,

    /// Decide every control on its interval (pass when all of it satisfies
    /// the rule, fail when none does, else inconclusive) or on its value,
    /// whatever the policy's `decision` props say [default: as the policy
    /// says; `point` where it says nothing]
    #[arg(long, value_enum, value_name = "HOW")]
    pub decision: Option<DecisionArg>,

    /// The reference (recorded with `venturalitica reference`) that drift
    /// controls naming none compare with.
    #[arg(long, value_name = "NAME")]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReferenceArgs {
    /// The reference dataset: .csv, .tsv, .parquet, .arrow, .ipc or .feather.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,

    /// The name drift controls give as input.reference.
    #[arg(long, value_name = "NAME")]
    pub name: String,

    /// The columns to summarise, comma-separated [default: every column].
    #[arg(long, value_name = "COLUMNS", value_delimiter = ',')]
    pub columns: Vec<String>,

    /// Quantile bins per numeric column.
    #[arg(long, value_name = "N", default_value_t = venturalitica_engine::reference::DEFAULT_BINS)]
    pub bins: usize,

    /// Project root holding .venturalitica/ [default: as for enforce]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

/// `--decision`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DecisionArg {
    Point,
    Interval,
}

impl DecisionArg {
    pub fn decision(self) -> venturalitica_policy::Decision {
        match self {
            DecisionArg::Point => venturalitica_policy::Decision::Point,
            DecisionArg::Interval => venturalitica_policy::Decision::Interval,
        }
    }
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Project root holding .venturalitica/ [default: as for enforce]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,

    /// Require every event to be signed by this public key (PEM, as
    /// `venturalitica key show --pem` or `openssl pkey -pubout` print, or 64
    /// hex digits); repeat for several keys.
    #[arg(long, value_name = "FILE")]
    pub trusted_key: Vec<PathBuf>,

    /// Prove that no event up to this point changed since it was recorded
    /// (the `venturalitica.head` tag of an MLflow run, or the
    /// `evidence.anchor` of a trace_latest.json kept by CI); repeatable.
    #[arg(long, value_name = "SEQ:HASH", value_parser = parse_head)]
    pub head: Vec<venturalitica_evidence::Head>,

    /// Check every event from the first, not only those after the last
    /// trusted checkpoint; prints events per second.
    #[arg(long)]
    pub full: bool,

    /// Check every approval against this allowed_signers file (as
    /// `ssh-keygen -Y verify` reads it) and say who approved what; an
    /// approval that does not hold fails the verification.
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Your OpenSSH private key [default: ~/.ssh/id_ed25519; through
    /// ssh-agent (SSH_AUTH_SOCK) when it is encrypted or absent]
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// Who approves, as allowed_signers names you [default: the key's
    /// comment]
    #[arg(long, value_name = "NAME")]
    pub principal: Option<String>,

    /// The capacity you approve in ("model owner", "compliance officer").
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,

    /// What you approve, in words.
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,

    /// The event to approve the trail up to [default: the trail's last]
    #[arg(long, value_name = "SEQ:HASH", value_parser = parse_head)]
    pub head: Option<venturalitica_evidence::Head>,

    /// Project root holding .venturalitica/ [default: as for enforce]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the key's id, where it is kept, and its public half (creating
    /// the key on first use).
    Show(KeyShowArgs),
}

#[derive(Debug, Args)]
pub struct KeyShowArgs {
    /// Print only the public key as PEM, for `verify --trusted-key`.
    #[arg(long)]
    pub pem: bool,
}

fn parse_head(s: &str) -> Result<venturalitica_evidence::Head, String> {
    venturalitica_evidence::Head::parse(s)
        .filter(|_| s.contains(':'))
        .ok_or_else(|| format!("{s:?} is not SEQ:HASH (a number, a colon, 64 hex digits)"))
}

fn parse_mapping(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((var, col)) if !var.trim().is_empty() && !col.trim().is_empty() => {
            Ok((var.trim().to_string(), col.trim().to_string()))
        }
        _ => Err(format!(
            "expected VAR=COLUMN (e.g. gender=Attribute9), got {s:?}"
        )),
    }
}
