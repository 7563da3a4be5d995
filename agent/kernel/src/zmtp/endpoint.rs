//! ZeroMQ endpoints: `tcp://HOST:PORT` and `ipc://PATH`.

use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp { host: String, port: u16 },
    Ipc(PathBuf),
}

/// The two halves of a connected stream.
pub type Halves = (
    Box<dyn AsyncRead + Send + Unpin>,
    Box<dyn AsyncWrite + Send + Unpin>,
);

impl Endpoint {
    /// Parses `endpoint`; `*` (bind to every interface) becomes `0.0.0.0`.
    pub fn parse(endpoint: &str) -> Result<Endpoint, String> {
        if let Some(path) = endpoint.strip_prefix("ipc://") {
            return Ok(Endpoint::Ipc(PathBuf::from(path)));
        }
        let (host, port) = endpoint
            .strip_prefix("tcp://")
            .and_then(|a| a.rsplit_once(':'))
            .ok_or_else(|| format!("{endpoint}: not a tcp:// or ipc:// endpoint"))?;
        let host = match host.trim_start_matches('[').trim_end_matches(']') {
            "*" => "0.0.0.0",
            h => h,
        };
        let port = port
            .parse()
            .map_err(|e| format!("{endpoint}: bad port: {e}"))?;
        Ok(Endpoint::Tcp {
            host: host.to_string(),
            port,
        })
    }

    /// Connects, with `TCP_NODELAY`: each message is one write, and Nagle's
    /// algorithm would only delay it.
    pub async fn connect(&self) -> std::io::Result<Halves> {
        Ok(match self {
            Endpoint::Tcp { host, port } => {
                let stream = TcpStream::connect((host.as_str(), *port)).await?;
                stream.set_nodelay(true)?;
                let (r, w) = stream.into_split();
                (Box::new(r), Box::new(w))
            }
            Endpoint::Ipc(path) => super::ipc::connect(path).await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_jupyter_writes() {
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:5555"),
            Ok(Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 5555
            })
        );
        assert_eq!(
            Endpoint::parse("tcp://*:1"),
            Ok(Endpoint::Tcp {
                host: "0.0.0.0".into(),
                port: 1
            })
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:7"),
            Ok(Endpoint::Tcp {
                host: "::1".into(),
                port: 7
            })
        );
        assert_eq!(
            Endpoint::parse("ipc:///tmp/k-1"),
            Ok(Endpoint::Ipc(PathBuf::from("/tmp/k-1")))
        );
        assert!(Endpoint::parse("udp://x:1").is_err());
        assert!(Endpoint::parse("tcp://x:port").is_err());
    }
}
