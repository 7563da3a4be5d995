//! `ipc://` endpoints: Unix domain sockets. tokio serves them on Unix only
//! (Windows has AF_UNIX since 10 1803, but tokio has no listener for it), so
//! elsewhere an ipc endpoint is refused with that reason; the proxy's own
//! hop to the kernel is loopback TCP there ([`crate::connection`]).

use std::path::Path;

use super::endpoint::Halves;

/// Connects to the socket at `path`.
pub async fn connect(path: &Path) -> std::io::Result<Halves> {
    sys::connect(path).await
}

/// A bound socket.
#[derive(Debug)]
pub struct Listener(sys::Listener);

impl Listener {
    /// Binds `path`, replacing a stale socket file there (as libzmq does).
    pub fn bind(path: &Path) -> std::io::Result<Listener> {
        let _ = std::fs::remove_file(path);
        sys::Listener::bind(path).map(Listener)
    }

    /// The next connection.
    pub async fn accept(&self) -> std::io::Result<Halves> {
        self.0.accept().await
    }
}

#[cfg(unix)]
mod sys {
    use std::path::Path;

    use tokio::net::{UnixListener, UnixStream};

    use super::Halves;

    pub async fn connect(path: &Path) -> std::io::Result<Halves> {
        let (r, w) = UnixStream::connect(path).await?.into_split();
        Ok((Box::new(r), Box::new(w)))
    }

    #[derive(Debug)]
    pub struct Listener(UnixListener);

    impl Listener {
        pub fn bind(path: &Path) -> std::io::Result<Listener> {
            UnixListener::bind(path).map(Listener)
        }

        pub async fn accept(&self) -> std::io::Result<Halves> {
            let (r, w) = self.0.accept().await?.0.into_split();
            Ok((Box::new(r), Box::new(w)))
        }
    }
}

#[cfg(not(unix))]
mod sys {
    use std::path::Path;

    use super::Halves;

    fn unsupported(path: &Path) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!(
                "ipc://{}: Unix domain sockets are served on Unix only; use tcp://127.0.0.1",
                path.display()
            ),
        )
    }

    pub async fn connect(path: &Path) -> std::io::Result<Halves> {
        Err(unsupported(path))
    }

    #[derive(Debug)]
    pub enum Listener {}

    impl Listener {
        pub fn bind(path: &Path) -> std::io::Result<Listener> {
            Err(unsupported(path))
        }

        pub async fn accept(&self) -> std::io::Result<Halves> {
            match *self {}
        }
    }
}
