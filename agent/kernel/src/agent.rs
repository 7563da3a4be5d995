//! The agent endpoint: how code inside the kernel talks to the agent.
//!
//! The proxy binds a ROUTER-compatible socket on loopback (ZMTP, like the
//! proxy's others: [`crate::zmtp`]) and gives the kernel its
//! address and a fresh key in `VENTURALITICA_AGENT` and
//! `VENTURALITICA_AGENT_KEY`. A request is `[signature, header, payload...]`:
//! `header` is JSON with an `id` and an `op`, the payload frames carry data
//! (an Arrow IPC stream for `enforce`), and `signature` is the hex
//! HMAC-SHA256 of the header and every payload frame, as Jupyter signs its
//! messages. The reply has the same shape; its header holds `id`, `ok` and
//! `result` or `error`. The requests and replies are typed in
//! [`crate::protocol`]; docs/agent-protocol.md is the reference.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::BufReader;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::protocol::{Reply, Request};
use crate::wire::Signer;
use crate::zmtp::{self, Incoming, Mechanism, SocketType};
use crate::KernelError;

/// Environment variable with the endpoint address.
pub const ENV_ENDPOINT: &str = "VENTURALITICA_AGENT";
/// Environment variable with the key (hex; used as bytes, like Jupyter's).
pub const ENV_KEY: &str = "VENTURALITICA_AGENT_KEY";

/// One request, verified and typed.
#[derive(Debug)]
pub struct AgentRequest {
    pub request: Request,
    /// The caller's working directory (a script's own agent records in
    /// the project found from there).
    pub cwd: Option<PathBuf>,
    /// The payload frames (an Arrow IPC file for `enforce`).
    pub payload: Vec<Bytes>,
}

/// Answers requests other than `ping` (`venturalitica-serve` plugs the
/// policy engine in).
pub trait AgentHandler: Send + Sync + std::fmt::Debug {
    /// The result for `request`, or what was wrong with it.
    fn handle(&self, request: AgentRequest) -> Result<Reply, AgentError>;
}

/// What every request header carries besides its op's fields.
#[derive(Debug, Default, Deserialize)]
struct Envelope {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    cwd: Option<PathBuf>,
}

/// What a failed request ran into; the reply carries it as `kind`, and the
/// Python package raises the matching exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is wrong (unknown op, a missing field).
    Request,
    /// The policy cannot be used (with its file, line and column).
    Policy,
    /// The data cannot be used (unreadable frame, no rows).
    Data,
    /// The agent failed (the evidence store cannot be written, ...).
    Internal,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Request => "request",
            ErrorKind::Policy => "policy",
            ErrorKind::Data => "data",
            ErrorKind::Internal => "internal",
        }
    }
}

/// A failed request: its kind and the message shown to the user.
#[derive(Debug, Clone)]
pub struct AgentError {
    pub kind: ErrorKind,
    pub message: String,
}

impl AgentError {
    pub fn new(kind: ErrorKind, message: impl std::fmt::Display) -> AgentError {
        AgentError {
            kind,
            message: message.to_string(),
        }
    }

    pub fn request(message: impl std::fmt::Display) -> AgentError {
        AgentError::new(ErrorKind::Request, message)
    }
}

/// A running endpoint; it stops when the proxy's runtime does.
#[derive(Debug)]
pub struct AgentEndpoint {
    address: String,
    key: String,
}

impl AgentEndpoint {
    /// Binds a loopback port and serves requests with `handler`.
    pub async fn start(handler: Arc<dyn AgentHandler>) -> Result<AgentEndpoint, KernelError> {
        const ANY_PORT: &str = "tcp://127.0.0.1:0";
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| KernelError::bind(ANY_PORT, e))?;
        let address = listener
            .local_addr()
            .map_err(|e| KernelError::bind(ANY_PORT, e))?;
        let key = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        // Never empty, so the signer always checks: an unsigned agent request is
        // refused, unlike Jupyter's empty-key convention.
        let signer = Signer::new(key.as_bytes());
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(serve_connection(stream, handler.clone(), signer.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(%e, "agent endpoint: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(AgentEndpoint {
            address: format!("tcp://{address}"),
            key,
        })
    }

    /// The `tcp://127.0.0.1:PORT` address it listens on.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The key requests are signed with.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The variables that tell the kernel where the agent is.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (ENV_ENDPOINT.to_string(), self.address.clone()),
            (ENV_KEY.to_string(), self.key.clone()),
        ]
    }
}

/// Serves `handler` on a fresh endpoint outside any proxy (`venturalitica
/// agent`, which the Python package starts when no proxy gave it one).
/// `ready` is told the address and key; the endpoint then serves until
/// standard input closes, so it never outlives the process that started it.
pub fn serve_until_stdin_closes(
    handler: Arc<dyn AgentHandler>,
    ready: impl FnOnce(&AgentEndpoint) -> std::io::Result<()>,
) -> Result<(), KernelError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(KernelError::Runtime)?;
    runtime.block_on(async move {
        let endpoint = AgentEndpoint::start(handler).await?;
        ready(&endpoint).map_err(KernelError::Runtime)?;
        let (closed, wait) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            // Read to EOF (the parent closed its end or died), then stop.
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = closed.send(());
        });
        let _ = wait.await;
        Ok(())
    })
}

/// Serves one client connection: each request is answered on the blocking
/// pool (a policy on a large frame can be slow), and its reply goes back on
/// this connection as soon as it is ready, in whatever order they finish.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    handler: Arc<dyn AgentHandler>,
    signer: Signer,
) {
    let (r, w) = stream.into_split();
    let r = BufReader::with_capacity(64 * 1024, r);
    let shake = zmtp::handshake(r, w, SocketType::Router, None, &Mechanism::Null);
    let Ok(Ok((_, mut reader, mut writer))) =
        tokio::time::timeout(std::time::Duration::from_secs(10), shake).await
    else {
        tracing::debug!("agent endpoint: a client failed the handshake");
        return;
    };
    let (replies, mut outgoing) = mpsc::unbounded_channel::<Vec<Bytes>>();
    let writing = async move {
        while let Some(reply) = outgoing.recv().await {
            writer.put(&reply);
            if let Err(e) = writer.flush().await {
                tracing::debug!(%e, "agent reply not delivered");
                return;
            }
        }
    };
    let reading = async move {
        loop {
            let frames = match reader.recv().await {
                Ok(Incoming::Message(frames)) => frames,
                Ok(_) => continue,
                Err(_) => return,
            };
            let Some((header, payload)) = split_request(frames, &signer) else {
                tracing::warn!("agent endpoint: dropped an unsigned or malformed request");
                continue;
            };
            let (handler, signer, replies) = (handler.clone(), signer.clone(), replies.clone());
            tokio::spawn(async move {
                let envelope = Envelope::deserialize(&header).unwrap_or_default();
                let id = envelope.id;
                let cwd = envelope.cwd;
                let answer = tokio::task::spawn_blocking(move || {
                    answer(handler.as_ref(), &header, cwd, payload)
                })
                .await
                .unwrap_or_else(|e| {
                    Err(AgentError::new(
                        ErrorKind::Internal,
                        format!("the agent failed: {e}"),
                    ))
                });
                let header = match answer {
                    Ok(result) => json!({"id": id, "ok": true, "result": result}),
                    Err(e) => {
                        json!({"id": id, "ok": false, "error": e.message, "kind": e.kind.name()})
                    }
                };
                let header = Bytes::from(header.to_string());
                let signature = Bytes::from(signer.sign(std::slice::from_ref(&header)));
                let _ = replies.send(vec![signature, header]);
            });
        }
    };
    // The connection ends when the client closes it (or stops reading).
    tokio::select! {
        () = writing => {}
        () = reading => {}
    }
}

/// `[signature, header, payload...]`, verified: the header and the
/// payload frames.
fn split_request(frames: Vec<Bytes>, signer: &Signer) -> Option<(Value, Vec<Bytes>)> {
    let mut it = frames.into_iter();
    let signature = it.next()?;
    let rest: Vec<Bytes> = it.collect();
    if rest.is_empty() || !signer.is_signed() || !signer.verify(&signature, &rest) {
        return None;
    }
    let mut rest = rest.into_iter();
    let header: Value = serde_json::from_slice(&rest.next()?).ok()?;
    Some((header, rest.collect()))
}

fn answer(
    handler: &dyn AgentHandler,
    header: &Value,
    cwd: Option<PathBuf>,
    payload: Vec<Bytes>,
) -> Result<Value, AgentError> {
    let reply = match Request::parse(header)? {
        Request::Ping => Reply::Ping {
            agent: concat!("venturalitica ", env!("CARGO_PKG_VERSION")).to_string(),
            pid: std::process::id(),
        },
        request => handler.handle(AgentRequest {
            request,
            cwd,
            payload,
        })?,
    };
    serde_json::to_value(reply).map_err(|e| AgentError::new(ErrorKind::Internal, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_header_and_payload() {
        let s = Signer::new(b"k");
        let frames = [
            Bytes::from_static(b"{\"op\":\"ping\"}"),
            Bytes::from_static(b"arrow"),
        ];
        let sig = s.sign(&frames);
        assert!(s.verify(sig.as_bytes(), &frames));
        let tampered = [frames[0].clone(), Bytes::from_static(b"arrow!")];
        assert!(!s.verify(sig.as_bytes(), &tampered));
        assert!(!Signer::new(b"other").verify(sig.as_bytes(), &frames));
        // An unsigned signer never serves agent requests.
        let mut request = vec![Bytes::new()];
        request.extend(frames.iter().cloned());
        assert!(split_request(request, &Signer::new(b"")).is_none());
    }
}
