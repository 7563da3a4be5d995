//! The kernel side of the agent: the proxy between Jupyter and a kernel.
//!
//! # Layout
//!
//! - [`connection`]: connection files, the server's and the kernel's.
//! - [`wire`]: Jupyter messages as raw frames; HMAC signing and checking.
//! - [`zmtp`]: the wire protocol of the frontends' side, NULL and CURVE.
//! - [`frontend`]: the frontends' sockets, a bounded queue per connection.
//! - [`intercept`]: follows each execution and builds its cell record.
//! - [`proxy`]: `kernel proxy`, the forwarding loop.
//! - [`upstream`]: the proxy's connections to the kernel.
//! - [`child`]: the real kernel as a child process; signals and exit.
//! - [`recorder`]: writes cell events to the evidence trail off the hot path.
//! - [`agent`]: the endpoint the kernel's Python package talks to.
//! - [`protocol`]: its requests and replies, typed.
//! - [`attach`]: passive timing of a kernel that was not started by the proxy.
//! - [`kernelspec`]: `kernel install / list / uninstall`.

pub mod agent;
pub mod attach;
pub mod child;
pub mod connection;
pub mod frontend;
pub mod intercept;
pub mod kernelspec;
pub mod protocol;
pub mod proxy;
pub mod recorder;
pub mod upstream;
pub mod wire;
pub mod zmtp;

use std::path::PathBuf;

/// Errors of the kernel proxy and the kernelspec commands.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A connection file is not valid.
    #[error("{}: not a usable connection file: {reason}", path.display())]
    ConnectionFile { path: PathBuf, reason: String },
    /// A socket could not be bound or connected.
    #[error("{endpoint}: {reason}")]
    Socket { endpoint: String, reason: String },
    /// `kernel proxy` was given no command after `--`.
    #[error("no kernel command: give it after `--`")]
    NoKernelCommand,
    /// The kernel command does not take the connection file.
    #[error("the kernel command takes no connection file (neither {{connection_file}} nor the proxy's own): {argv}")]
    NoPlaceholder { argv: String },
    /// The kernel could not be started.
    #[error("cannot start the kernel `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// The async runtime or a signal handler could not be set up.
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    /// A kernelspec problem (not found, bad kernel.json, exists already).
    #[error("{0}")]
    Kernelspec(String),
}

impl KernelError {
    pub(crate) fn bind(endpoint: &str, e: impl std::fmt::Display) -> KernelError {
        KernelError::Socket {
            endpoint: endpoint.to_string(),
            reason: e.to_string(),
        }
    }
}
