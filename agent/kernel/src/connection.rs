//! Connection files: the one the server wrote for the proxy, and the one the
//! proxy writes for the real kernel (same key, fresh loopback ports, or a
//! private ipc directory when the frontends' side is encrypted).

use std::path::{Path, PathBuf};

use jupyter_protocol::connection_info::{ConnectionInfo, Transport};

use crate::zmtp::curve::{ClientKeys, ServerKeys};
use crate::zmtp::Mechanism;
use crate::KernelError;

/// A connection file as the proxy reads it.
#[derive(Debug, Clone)]
pub struct Connection {
    pub info: ConnectionInfo,
    /// `curve_publickey` and `curve_secretkey` (jupyter_client's
    /// `transport_encryption`): the frontends' sockets speak CurveZMQ.
    pub curve: Option<ServerKeys>,
}

/// A connection file: Jupyter's fields and the CurveZMQ keys it may carry.
#[derive(Debug, serde::Deserialize)]
struct File {
    #[serde(flatten)]
    info: ConnectionInfo,
    curve_publickey: Option<String>,
    curve_secretkey: Option<String>,
}

/// Reads a Jupyter connection file.
pub fn read(path: &Path) -> Result<Connection, KernelError> {
    let text = std::fs::read_to_string(path).map_err(|source| KernelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |reason: String| KernelError::ConnectionFile {
        path: path.to_path_buf(),
        reason,
    };
    let File {
        info,
        curve_publickey,
        curve_secretkey,
    } = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let curve = match (curve_publickey, curve_secretkey) {
        (None, None) => None,
        (Some(public), Some(secret)) => {
            Some(ServerKeys::from_z85(&public, &secret).map_err(invalid)?)
        }
        _ => {
            return Err(invalid(
                "it has one of curve_publickey and curve_secretkey but not the other".into(),
            ))
        }
    };
    if info.signature_scheme != "hmac-sha256" && !info.key.is_empty() {
        return Err(KernelError::ConnectionFile {
            path: path.to_path_buf(),
            reason: format!(
                "signature scheme {:?} is not supported (only hmac-sha256)",
                info.signature_scheme
            ),
        });
    }
    Ok(Connection { info, curve })
}

/// The five channel endpoints of a connection.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub shell: String,
    pub control: String,
    pub stdin: String,
    pub iopub: String,
    pub hb: String,
}

impl Endpoints {
    pub fn of(info: &ConnectionInfo) -> Endpoints {
        Endpoints {
            shell: info.shell_url(),
            control: info.control_url(),
            stdin: info.stdin_url(),
            iopub: info.iopub_url(),
            hb: info.hb_url(),
        }
    }
}

/// The real kernel's connection, and the private directory its ipc sockets
/// live in (removed when this is dropped).
#[derive(Debug)]
pub struct Inner {
    pub info: ConnectionInfo,
    /// The kernel's CURVE keys, when its hop is encrypted loopback TCP.
    pub curve: Option<ServerKeys>,
    _private: Option<tempfile::TempDir>,
}

impl Inner {
    /// How the proxy connects to the kernel.
    pub fn mechanism(&self) -> Mechanism {
        match &self.curve {
            Some(keys) => Mechanism::CurveClient(ClientKeys::for_server(keys)),
            None => Mechanism::Null,
        }
    }
}

/// Forces the encrypted kernel hop onto loopback TCP with CURVE even where
/// private ipc exists (`tcp`): Windows' path, run on Linux by the tests.
pub const INNER_TRANSPORT_ENV: &str = "VENTURALITICA_INNER_TRANSPORT";

/// A connection for the real kernel: the proxy's key and transport, new ports.
///
/// TCP ports are found by binding port 0 and releasing it, as jupyter_client
/// does; the kernel binds them a moment later. When the frontends' side is
/// encrypted, the kernel's side is never plain loopback TCP, which every
/// local user can reach: it is ipc in a directory only this user can enter
/// (Unix), or loopback TCP under CURVE with keys made for this kernel
/// (Windows, which has no ipc here; or `VENTURALITICA_INNER_TRANSPORT=tcp`).
pub fn for_child(outer: &Connection) -> Result<Inner, KernelError> {
    let encrypted = outer.curve.is_some();
    let over_tcp = !cfg!(unix)
        || std::env::var(INNER_TRANSPORT_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("tcp"));
    let mut inner = outer.info.clone();
    let outer = &outer.info;
    let mut private = None;
    let mut curve = None;
    match outer.transport {
        Transport::TCP if encrypted && !over_tcp => {
            let dir =
                venturalitica_os::private::temp_dir("vl-").map_err(|source| KernelError::Io {
                    path: std::env::temp_dir(),
                    source,
                })?;
            inner.transport = Transport::IPC;
            inner.ip = dir.path().join("k").to_string_lossy().into_owned();
            [
                inner.shell_port,
                inner.iopub_port,
                inner.stdin_port,
                inner.control_port,
                inner.hb_port,
            ] = [1, 2, 3, 4, 5];
            private = Some(dir);
        }
        Transport::TCP => {
            curve = encrypted.then(ServerKeys::generate);
            inner.ip = "127.0.0.1".to_string();
            let listeners = (0..5)
                .map(|_| std::net::TcpListener::bind(("127.0.0.1", 0)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| KernelError::Io {
                    path: PathBuf::from("127.0.0.1:0"),
                    source,
                })?;
            let ports = listeners
                .iter()
                .map(|l| l.local_addr().map(|a| a.port()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| KernelError::Io {
                    path: PathBuf::from("127.0.0.1:0"),
                    source,
                })?;
            [
                inner.shell_port,
                inner.iopub_port,
                inner.stdin_port,
                inner.control_port,
                inner.hb_port,
            ] = [ports[0], ports[1], ports[2], ports[3], ports[4]];
        }
        Transport::IPC => {
            // IPC "ip" is a path prefix; the kernel's sockets go beside ours.
            inner.ip = format!("{}-vl-kernel", outer.ip);
        }
    }
    if inner.transport == Transport::IPC {
        // The longest channel suffix is "-" and five digits.
        let longest = format!("{}-65535", inner.ip);
        if longest.len() > UNIX_PATH_MAX {
            return Err(KernelError::Socket {
                endpoint: format!("ipc://{longest}"),
                reason: format!(
                    "longer than the {UNIX_PATH_MAX} bytes a Unix socket path can hold; \
                     set TMPDIR (or the runtime directory) to a shorter path"
                ),
            });
        }
    }
    Ok(Inner {
        info: inner,
        curve,
        _private: private,
    })
}

/// `sun_path` holds 108 bytes on Linux, with the final NUL.
const UNIX_PATH_MAX: usize = 107;

/// Writes the kernel's connection file next to the proxy's, readable by the
/// user only: with its CURVE keys when its hop is encrypted TCP (ipykernel
/// then serves CURVE, as under `transport_encryption`).
pub fn write_child_file(outer_path: &Path, inner: &Inner) -> Result<PathBuf, KernelError> {
    let stem = outer_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kernel".to_string());
    let path = outer_path.with_file_name(format!("{stem}-vl-inner.json"));
    let mut json = serde_json::to_value(&inner.info).unwrap_or_default();
    if let (Some(keys), Some(fields)) = (&inner.curve, json.as_object_mut()) {
        fields.insert("curve_publickey".into(), keys.public_z85().into());
        fields.insert("curve_secretkey".into(), keys.secret_z85().into());
    }
    // It holds the kernel's CURVE secret key where there is one.
    let text = zeroize::Zeroizing::new(serde_json::to_string_pretty(&json).unwrap_or_default());
    // A new file, never written through a link planted at its name.
    venturalitica_os::private::replace_file(&path, text.as_bytes()).map_err(|source| {
        KernelError::Io {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipc(ip: &str) -> Connection {
        let text = format!(
            r#"{{"ip": "{ip}", "transport": "ipc", "shell_port": 1, "iopub_port": 2,
                "stdin_port": 3, "control_port": 4, "hb_port": 5, "key": "k",
                "signature_scheme": "hmac-sha256"}}"#
        );
        Connection {
            info: serde_json::from_str(&text).expect("connection info"),
            curve: None,
        }
    }

    #[test]
    fn an_ipc_path_too_long_for_a_unix_socket_is_refused_with_the_reason() {
        let inner = for_child(&ipc("/run/user/1000/jupyter/kernel-1")).expect("short enough");
        assert_eq!(inner.info.ip, "/run/user/1000/jupyter/kernel-1-vl-kernel");
        let long = format!("/tmp/{}", "d".repeat(100));
        let err = for_child(&ipc(&long)).expect_err("too long").to_string();
        assert!(
            err.contains("107 bytes a Unix socket path can hold"),
            "{err}"
        );
    }

    #[test]
    fn curve_keys_come_in_pairs_and_must_match() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = crate::zmtp::curve::ServerKeys::generate();
        let write = |extra: &str| {
            let path = dir.path().join("kernel.json");
            let text = format!(
                r#"{{"ip": "127.0.0.1", "transport": "tcp", "shell_port": 1, "iopub_port": 2,
                    "stdin_port": 3, "control_port": 4, "hb_port": 5, "key": "k",
                    "signature_scheme": "hmac-sha256"{extra}}}"#
            );
            std::fs::write(&path, text).expect("write");
            read(&path)
        };
        assert!(write("").expect("plain").curve.is_none());
        let pair = format!(
            r#", "curve_publickey": "{}", "curve_secretkey": "{}""#,
            keys.public_z85(),
            keys.secret_z85()
        );
        assert!(write(&pair).expect("encrypted").curve.is_some());
        let half = format!(r#", "curve_publickey": "{}""#, keys.public_z85());
        let err = write(&half).expect_err("half a pair").to_string();
        assert!(err.contains("not the other"), "{err}");
    }
}
