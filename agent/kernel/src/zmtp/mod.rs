//! ZMTP 3.0 (RFC 23), the wire protocol of every ZeroMQ socket the agent
//! uses: the frontends' ROUTERs and XPUB (NULL or CURVE), the DEALERs and
//! SUB that reach the kernel, and the agent endpoint.
//!
//! The proxy speaks the wire protocol itself so that every connection has
//! its own queue and a peer that stops reading costs only itself
//! ([`crate::frontend`]), and so that CurveZMQ needs no C library.
//! docs/kernel.md says why this was chosen over libzmq.

pub mod curve;
pub mod endpoint;
pub mod frame;
pub mod ipc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use frame::Properties;

/// The most one message from a frontend may hold, all frames together, by
/// default (`VENTURALITICA_MESSAGE_LIMIT_MIB` changes it). libzmq has no
/// limit; without one, every connection a local process opens could make
/// the proxy buffer whatever it announces. A frontend behind Jupyter Server
/// sends at most tornado's websocket limit, 10 MiB unless raised; 256 MiB
/// leaves room for the users who raise it (widget uploads) and for clients
/// that talk ZeroMQ directly.
pub const MESSAGE_LIMIT: u64 = 256 << 20;
/// The most frames one message may hold: a Jupyter message has its routing
/// ids, the delimiter, five parts and its buffers (a few per comm message).
const FRAMES_LIMIT: usize = 4096;
/// The most of a `PING`'s context that is echoed in its `PONG` (RFC 37,
/// and libzmq truncates to it).
pub const PING_CONTEXT_LIMIT: usize = 16;

/// Why a connection ended or was refused.
#[derive(Debug, thiserror::Error)]
pub enum ZmtpError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("the peer uses the {theirs} mechanism, this socket {ours}")]
    Mechanism { ours: &'static str, theirs: String },
    #[error("a {theirs} socket cannot talk to a {ours} socket")]
    SocketType { ours: &'static str, theirs: String },
    #[error("CURVE: {0}")]
    Crypto(&'static str),
    #[error("a frame of {size} bytes is over the limit of {limit}")]
    TooLarge { size: u64, limit: u64 },
}

/// Our socket's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketType {
    Router,
    XPub,
    Dealer,
    Sub,
}

impl ZmtpError {
    /// Whether the peer was turned away for its keys or mechanism (rather
    /// than a network or protocol failure).
    pub fn is_refusal(&self) -> bool {
        matches!(self, ZmtpError::Mechanism { .. } | ZmtpError::Crypto(_))
    }
}

impl SocketType {
    fn name(self) -> &'static str {
        match self {
            SocketType::Router => "ROUTER",
            SocketType::XPub => "XPUB",
            SocketType::Dealer => "DEALER",
            SocketType::Sub => "SUB",
        }
    }

    /// The peer types libzmq lets talk to this one.
    fn accepts(self, peer: &[u8]) -> bool {
        match self {
            SocketType::Router => matches!(peer, b"DEALER" | b"REQ" | b"ROUTER"),
            SocketType::XPub => matches!(peer, b"SUB" | b"XSUB"),
            SocketType::Dealer => matches!(peer, b"ROUTER" | b"DEALER" | b"REP"),
            SocketType::Sub => matches!(peer, b"PUB" | b"XPUB"),
        }
    }
}

/// How a connection is secured: CURVE is served to encrypted frontends,
/// and asked of the kernel where the proxy's hop to it is loopback TCP
/// rather than private ipc (Windows).
#[derive(Debug, Clone)]
pub enum Mechanism {
    Null,
    Curve(curve::ServerKeys),
    CurveClient(curve::ClientKeys),
}

impl Mechanism {
    fn name(&self) -> &'static str {
        match self {
            Mechanism::Null => "NULL",
            Mechanism::Curve(_) | Mechanism::CurveClient(_) => "CURVE",
        }
    }
}

/// What a connection receives.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Message(Vec<Bytes>),
    /// A ZMTP 3.1 `SUBSCRIBE` or `CANCEL` command (3.0 peers send messages).
    Subscription {
        topic: Bytes,
        on: bool,
    },
    /// A `PING`: the writer answers with `PONG` and this context.
    Ping(Bytes),
}

/// The receiving half of an accepted connection.
#[derive(Debug)]
pub struct Reader<R> {
    io: R,
    decoder: Option<curve::Decoder>,
    /// The most one message may hold.
    limit: u64,
    /// The frames of a message whose next frame comes after a command
    /// (libzmq's heartbeat can send a `PING` between two frames).
    partial: Vec<Bytes>,
    partial_size: u64,
}

/// The sending half. Messages are buffered; [`Writer::flush`] sends them.
#[derive(Debug)]
pub struct Writer<W> {
    io: W,
    encoder: Option<curve::Encoder>,
    buf: BytesMut,
}

/// The peer's side of a finished handshake.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Its `Identity` property, if it set one.
    pub identity: Option<Bytes>,
}

/// Greets, checks the mechanism and socket type, and runs the handshake.
/// `identity` is the `Identity` property we announce (a DEALER's routing id).
pub async fn handshake<R, W>(
    mut r: R,
    mut w: W,
    ours: SocketType,
    identity: Option<&[u8]>,
    mechanism: &Mechanism,
) -> Result<(Peer, Reader<R>, Writer<W>), ZmtpError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let as_server = matches!(mechanism, Mechanism::Curve(_));
    w.write_all(&frame::greeting(mechanism.name(), as_server))
        .await?;
    w.flush().await?;
    let mut greeting = [0u8; frame::GREETING_LEN];
    r.read_exact(&mut greeting[..11]).await?;
    // A ZMTP peer that hangs up once it has seen our version and mechanism
    // (libzmq does) refused our mechanism.
    if let Err(e) = r.read_exact(&mut greeting[11..]).await {
        return Err(
            if e.kind() == std::io::ErrorKind::UnexpectedEof && greeting[0] == 0xFF {
                ZmtpError::Mechanism {
                    ours: mechanism.name(),
                    theirs: "another (it hung up on seeing ours)".into(),
                }
            } else {
                e.into()
            },
        );
    }
    let theirs = frame::peer_mechanism(&greeting)?;
    if theirs != mechanism.name() {
        return Err(ZmtpError::Mechanism {
            ours: mechanism.name(),
            theirs,
        });
    }
    let mut metadata = Vec::new();
    frame::put_properties(&mut metadata, &[("Socket-Type", ours.name().as_bytes())]);
    if let Some(identity) = identity {
        frame::put_properties(&mut metadata, &[("Identity", identity)]);
    }
    let (properties, encoder, decoder) = match mechanism {
        Mechanism::Null => {
            w.write_all(&frame::command_frame("READY", &metadata))
                .await?;
            w.flush().await?;
            let f = frame::read_frame(&mut r, 64 * 1024).await?;
            let (name, data) = frame::parse_command(&f.body)?;
            if !f.command || name != b"READY" {
                return Err(ZmtpError::Protocol("expected READY".into()));
            }
            (Properties::parse(data)?, None, None)
        }
        Mechanism::Curve(keys) => {
            let (p, e, d) = curve::accept(&mut r, &mut w, keys, &metadata).await?;
            (p, Some(e), Some(d))
        }
        Mechanism::CurveClient(keys) => {
            let (p, e, d) = curve::connect(&mut r, &mut w, keys, &metadata).await?;
            (p, Some(e), Some(d))
        }
    };
    let socket_type = properties.get("socket-type").cloned().unwrap_or_default();
    if !ours.accepts(&socket_type) {
        return Err(ZmtpError::SocketType {
            ours: ours.name(),
            theirs: String::from_utf8_lossy(&socket_type).into_owned(),
        });
    }
    let identity = properties
        .get("identity")
        .filter(|i| !i.is_empty())
        .cloned();
    Ok((
        Peer { identity },
        Reader::new(r, decoder),
        Writer {
            io: w,
            encoder,
            buf: BytesMut::with_capacity(64 * 1024),
        },
    ))
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// A reader of what follows a handshake on `io`, opening CURVE
    /// `MESSAGE`s with `decoder` where there is one.
    pub fn new(io: R, decoder: Option<curve::Decoder>) -> Reader<R> {
        Reader {
            io,
            decoder,
            limit: MESSAGE_LIMIT,
            partial: Vec::new(),
            partial_size: 0,
        }
    }

    /// Sets the most one message may hold (the default: [`MESSAGE_LIMIT`]).
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    async fn frame(&mut self) -> Result<frame::Frame, ZmtpError> {
        // A CURVE `MESSAGE` adds its command name, nonce, MAC and flags.
        let wire_limit = self.limit.saturating_sub(self.partial_size) + 64;
        let wire = frame::read_frame(&mut self.io, wire_limit).await?;
        match &mut self.decoder {
            None => Ok(wire),
            Some(d) => d.open(&wire),
        }
    }

    /// The next message or command; `Err` when the connection is over. A
    /// command between the frames of a message is returned at once, and
    /// the message continues with the next call.
    pub async fn recv(&mut self) -> Result<Incoming, ZmtpError> {
        loop {
            let f = self.frame().await?;
            if f.command {
                if let Some(incoming) = command(&f.body)? {
                    return Ok(incoming);
                }
                continue;
            }
            self.partial_size += f.body.len() as u64;
            if self.partial_size > self.limit || self.partial.len() >= FRAMES_LIMIT {
                return Err(ZmtpError::TooLarge {
                    size: self.partial_size,
                    limit: self.limit,
                });
            }
            self.partial.push(f.body);
            if !f.more {
                self.partial_size = 0;
                return Ok(Incoming::Message(std::mem::take(&mut self.partial)));
            }
        }
    }
}

/// The commands a connection passes on; `None` for those it ignores.
fn command(body: &Bytes) -> Result<Option<Incoming>, ZmtpError> {
    let (name, data) = frame::parse_command(body)?;
    let data = body.slice(body.len() - data.len()..);
    Ok(match name {
        b"SUBSCRIBE" => Some(Incoming::Subscription {
            topic: data,
            on: true,
        }),
        b"CANCEL" => Some(Incoming::Subscription {
            topic: data,
            on: false,
        }),
        // TTL (2 bytes), then the context to echo: at most 16 octets of it.
        b"PING" if data.len() >= 2 => Some(Incoming::Ping(
            data.slice(2..data.len().min(2 + PING_CONTEXT_LIMIT)),
        )),
        b"ERROR" => {
            let reason = data
                .get(1..)
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            return Err(ZmtpError::Protocol(format!(
                "the peer sent ERROR: {reason}"
            )));
        }
        _ => None,
    })
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    /// Buffers one message.
    pub fn put(&mut self, parts: &[Bytes]) {
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.iter().enumerate() {
            self.put_frame(i < last, false, part);
        }
    }

    /// Buffers a `PONG` for a `PING`'s context.
    pub fn put_pong(&mut self, context: &[u8]) {
        let body = frame::command_body("PONG", context);
        self.put_frame(false, true, &body);
    }

    fn put_frame(&mut self, more: bool, command: bool, body: &[u8]) {
        match &mut self.encoder {
            None => {
                frame::put_header(&mut self.buf, more, command, body.len());
                self.buf.extend_from_slice(body);
            }
            Some(e) => e.put(&mut self.buf, more, command, body),
        }
    }

    /// How many bytes are buffered.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Writes what is buffered.
    pub async fn flush(&mut self) -> Result<(), ZmtpError> {
        self.io.write_all(&self.buf).await?;
        self.buf.clear();
        if self.buf.capacity() > 4 << 20 {
            // One large message should not pin its size for the connection's life.
            self.buf = BytesMut::with_capacity(64 * 1024);
        }
        self.io.flush().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ends of an in-memory connection, shaken hands.
    async fn pair(
        server: SocketType,
        client: SocketType,
        server_mechanism: Mechanism,
        client_mechanism: Mechanism,
    ) -> (
        Result<(Peer, Reader<impl AsyncRead>, Writer<impl AsyncWrite>), ZmtpError>,
        Result<(Peer, Reader<impl AsyncRead>, Writer<impl AsyncWrite>), ZmtpError>,
    ) {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (ar, aw) = tokio::io::split(a);
        let (br, bw) = tokio::io::split(b);
        tokio::join!(
            handshake(ar, aw, server, None, &server_mechanism),
            handshake(br, bw, client, Some(b"me"), &client_mechanism),
        )
    }

    #[tokio::test]
    async fn null_peers_exchange_identities_and_multipart_messages() {
        let (server, client) = pair(
            SocketType::Router,
            SocketType::Dealer,
            Mechanism::Null,
            Mechanism::Null,
        )
        .await;
        let (peer, mut server_reader, mut server_writer) = server.expect("server side");
        let (_, mut client_reader, mut client_writer) = client.expect("client side");
        assert_eq!(peer.identity.as_deref(), Some(&b"me"[..]));
        let message = vec![
            Bytes::from_static(b"a"),
            Bytes::new(),
            Bytes::from(vec![7u8; 300]),
        ];
        client_writer.put(&message);
        client_writer.flush().await.expect("flush");
        assert_eq!(
            server_reader.recv().await.expect("recv"),
            Incoming::Message(message)
        );
        server_writer.put_pong(b"ctx");
        server_writer.put(&[Bytes::from_static(b"reply")]);
        server_writer.flush().await.expect("flush");
        // A PONG is not a message: the reader skips it.
        assert_eq!(
            client_reader.recv().await.expect("recv"),
            Incoming::Message(vec![Bytes::from_static(b"reply")])
        );
    }

    #[tokio::test]
    async fn a_ping_between_frames_is_answered_and_keeps_the_message_whole() {
        for (server_mechanism, client_mechanism) in [(Mechanism::Null, Mechanism::Null), {
            let keys = curve::ServerKeys::generate();
            let client = curve::ClientKeys::for_server(&keys);
            (Mechanism::Curve(keys), Mechanism::CurveClient(client))
        }] {
            let (server, client) = pair(
                SocketType::Router,
                SocketType::Dealer,
                server_mechanism,
                client_mechanism,
            )
            .await;
            let (_, mut reader, _) = server.expect("server side");
            let (_, _, mut writer) = client.expect("client side");
            writer.put_frame(true, false, b"one");
            // TTL, then a context longer than RFC 37's 16 octets.
            let ping = frame::command_body("PING", b"\x00\x0a0123456789abcdef-and-more");
            writer.put_frame(false, true, &ping);
            writer.put_frame(false, false, b"two");
            writer.flush().await.expect("flush");
            assert_eq!(
                reader.recv().await.expect("the ping"),
                Incoming::Ping(Bytes::from_static(b"0123456789abcdef"))
            );
            assert_eq!(
                reader.recv().await.expect("the message"),
                Incoming::Message(vec![Bytes::from_static(b"one"), Bytes::from_static(b"two")])
            );
        }
    }

    #[tokio::test]
    async fn a_message_over_the_limit_ends_the_connection_whatever_its_frames() {
        let (server, client) = pair(
            SocketType::Router,
            SocketType::Dealer,
            Mechanism::Null,
            Mechanism::Null,
        )
        .await;
        let (_, mut reader, _) = server.expect("server side");
        let (_, _, mut writer) = client.expect("client side");
        reader.set_limit(100);
        writer.put(&[Bytes::from(vec![1u8; 100])]);
        writer.put(&[Bytes::from(vec![1u8; 60]), Bytes::from(vec![2u8; 60])]);
        writer.flush().await.expect("flush");
        assert!(matches!(reader.recv().await, Ok(Incoming::Message(m)) if m.len() == 1));
        let err = reader.recv().await.expect_err("over the limit");
        assert!(
            matches!(err, ZmtpError::TooLarge { limit: 100, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn our_curve_client_and_server_talk_and_a_wrong_server_key_fails() {
        let keys = curve::ServerKeys::generate();
        let (server, client) = pair(
            SocketType::Router,
            SocketType::Dealer,
            Mechanism::Curve(keys.clone()),
            Mechanism::CurveClient(curve::ClientKeys::for_server(&keys)),
        )
        .await;
        let (peer, mut server_reader, mut server_writer) = server.expect("server side");
        let (_, mut client_reader, mut client_writer) = client.expect("client side");
        assert_eq!(peer.identity.as_deref(), Some(&b"me"[..]));
        for i in 0..3u8 {
            let message = vec![Bytes::from(vec![i; 10]), Bytes::from_static(b"x")];
            client_writer.put(&message);
            client_writer.flush().await.expect("flush");
            assert_eq!(
                server_reader.recv().await.expect("recv"),
                Incoming::Message(message)
            );
            server_writer.put(&[Bytes::from(vec![i; 3])]);
            server_writer.flush().await.expect("flush");
            assert_eq!(
                client_reader.recv().await.expect("recv"),
                Incoming::Message(vec![Bytes::from(vec![i; 3])])
            );
        }
        // A client that expects another server cannot open its HELLO.
        let other = curve::ServerKeys::generate();
        let (server, client) = pair(
            SocketType::Router,
            SocketType::Dealer,
            Mechanism::Curve(keys),
            Mechanism::CurveClient(curve::ClientKeys::for_server(&other)),
        )
        .await;
        assert!(matches!(server, Err(ZmtpError::Crypto(_))));
        assert!(client.is_err());
    }

    #[tokio::test]
    async fn mismatched_socket_types_and_mechanisms_are_refused() {
        let (server, _) = pair(
            SocketType::XPub,
            SocketType::Dealer,
            Mechanism::Null,
            Mechanism::Null,
        )
        .await;
        assert!(matches!(server, Err(ZmtpError::SocketType { .. })));
        let keys = curve::ServerKeys::generate();
        let (server, _) = pair(
            SocketType::Router,
            SocketType::Dealer,
            Mechanism::Curve(keys),
            Mechanism::Null,
        )
        .await;
        let err = server.err().expect("refused");
        assert!(err.is_refusal(), "{err}");
    }
}
