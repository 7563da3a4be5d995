//! The sockets frontends connect to: four ROUTERs (shell, control, stdin,
//! heartbeat) and the IOPub XPUB, every connection with its own bounded
//! queue and writer task.
//!
//! Nothing the proxy sends to a frontend waits for that frontend: a message
//! is queued for each connection it is for, and a connection whose queue is
//! full (it stopped reading) loses what does not fit, as libzmq's PUB drops
//! past its high-water mark. The bounds are wide ([`IOPUB_LIMIT`]), so a
//! frontend that keeps reading loses nothing even under a flood; one that
//! stopped costs only its own queue.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::connection::Endpoints;
use crate::zmtp::endpoint::Endpoint;
use crate::zmtp::{self, ipc, Incoming, Mechanism, SocketType};
use crate::KernelError;

/// The Jupyter channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Shell,
    Control,
    Stdin,
    Iopub,
    Hb,
}

/// A connection's queue bound: whichever is reached first.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub messages: usize,
    pub bytes: usize,
}

/// Per IOPub subscriber: posit's ark uses 100,000 messages, libzmq's default
/// is 1,000 (which loses output under a flood even for a reading client).
pub const IOPUB_LIMIT: Limit = Limit {
    messages: 100_000,
    bytes: 512 << 20,
};
/// Per ROUTER peer (replies, input requests, heartbeats).
pub const ROUTER_LIMIT: Limit = Limit {
    messages: 10_000,
    bytes: 256 << 20,
};
/// A connection that has not finished its handshake by then is closed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The writer sends what it has once this much is buffered.
const WRITE_BATCH: usize = 1 << 20;

/// Connections refused for their keys or mechanism, for the log.
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// A connection's number, unique for the proxy's life.
pub type ConnId = u64;

/// What the frontend sockets tell the forwarding loop.
#[derive(Debug)]
pub enum Event {
    /// A message from a ROUTER peer, its identity first, as libzmq's ROUTER
    /// delivers it.
    Message {
        channel: Channel,
        frames: Vec<Bytes>,
    },
    Joined {
        channel: Channel,
        conn: ConnId,
        identity: Bytes,
        queue: Queue,
    },
    Left {
        channel: Channel,
        conn: ConnId,
    },
    /// An IOPub subscription starts (`on`) or ends.
    Subscription {
        conn: ConnId,
        topic: Bytes,
        on: bool,
    },
}

enum Outgoing {
    Message(Vec<Bytes>),
    Pong(Bytes),
}

/// One connection's outgoing queue.
#[derive(Clone)]
pub struct Queue {
    tx: mpsc::UnboundedSender<Outgoing>,
    load: Arc<Load>,
    limit: Limit,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("messages", &self.load.messages.load(Ordering::Relaxed))
            .field("dropped", &self.load.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

#[derive(Default)]
struct Load {
    messages: AtomicUsize,
    bytes: AtomicUsize,
    dropped: AtomicU64,
    dropping: AtomicBool,
}

/// Whether a message was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// The queue is full: the peer is not reading.
    Dropped,
    /// The connection is gone.
    Closed,
}

impl Queue {
    fn new(limit: Limit) -> (Queue, mpsc::UnboundedReceiver<Outgoing>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let load = Arc::new(Load::default());
        (Queue { tx, load, limit }, rx)
    }

    /// Queues `frames` unless the bound is reached; never waits.
    pub fn offer(&self, frames: Vec<Bytes>) -> Offer {
        let size: usize = frames.iter().map(Bytes::len).sum();
        let load = &self.load;
        if load.messages.load(Ordering::Relaxed) >= self.limit.messages
            || load.bytes.load(Ordering::Relaxed) + size > self.limit.bytes
        {
            load.dropped.fetch_add(1, Ordering::Relaxed);
            return Offer::Dropped;
        }
        load.messages.fetch_add(1, Ordering::Relaxed);
        load.bytes.fetch_add(size, Ordering::Relaxed);
        match self.tx.send(Outgoing::Message(frames)) {
            Ok(()) => Offer::Queued,
            Err(_) => Offer::Closed,
        }
    }

    /// Whether `offer` started a streak of drops (`Some(true)`), ended one
    /// (`Some(false)`), or neither: the log says so once per streak.
    fn streak(&self, offer: Offer) -> Option<bool> {
        if offer == Offer::Closed {
            return None; // gone, not reading again
        }
        let dropping = offer == Offer::Dropped;
        (self.load.dropping.swap(dropping, Ordering::Relaxed) != dropping).then_some(dropping)
    }

    /// How many messages this connection has lost to its bound.
    pub fn dropped(&self) -> u64 {
        self.load.dropped.load(Ordering::Relaxed)
    }

    fn taken(&self, frames: &[Bytes]) {
        let size: usize = frames.iter().map(Bytes::len).sum();
        self.load.messages.fetch_sub(1, Ordering::Relaxed);
        self.load.bytes.fetch_sub(size, Ordering::Relaxed);
    }
}

/// A ROUTER's peers by identity.
#[derive(Debug)]
pub struct Router {
    channel: Channel,
    peers: HashMap<Bytes, (ConnId, Queue)>,
}

impl Router {
    pub fn new(channel: Channel) -> Router {
        Router {
            channel,
            peers: HashMap::new(),
        }
    }

    /// A new connection takes its identity over from an older one, as with
    /// libzmq's `ROUTER_HANDOVER`.
    pub fn join(&mut self, identity: Bytes, conn: ConnId, queue: Queue) {
        if self.peers.insert(identity, (conn, queue)).is_some() {
            tracing::debug!(channel = ?self.channel, conn, "identity handed over to a new connection");
        }
    }

    pub fn leave(&mut self, conn: ConnId) {
        self.peers.retain(|_, (c, _)| *c != conn);
    }

    /// Routes `frames` by their first frame, the peer's identity.
    pub fn send(&mut self, mut frames: Vec<Bytes>) {
        if frames.is_empty() {
            return;
        }
        let identity = frames.remove(0);
        let Some((conn, queue)) = self.peers.get(&identity) else {
            // A frontend that went away (a closed tab) is normal.
            tracing::debug!(channel = ?self.channel, "no peer with that identity: message dropped");
            return;
        };
        let offer = queue.offer(frames);
        log_streak(self.channel, *conn, queue, offer);
    }
}

fn log_streak(channel: Channel, conn: ConnId, queue: &Queue, offer: Offer) {
    match queue.streak(offer) {
        Some(true) => tracing::warn!(
            ?channel,
            conn,
            limit = queue.limit.messages,
            "a frontend stopped reading: dropping its messages past its queue's bound"
        ),
        Some(false) => tracing::warn!(
            ?channel,
            conn,
            dropped = queue.dropped(),
            "a frontend reads again"
        ),
        None => {}
    }
}

/// The IOPub subscribers.
#[derive(Debug, Default)]
pub struct Publisher {
    subscribers: HashMap<ConnId, Subscriber>,
}

#[derive(Debug)]
struct Subscriber {
    topics: Vec<Bytes>,
    queue: Queue,
}

impl Publisher {
    pub fn join(&mut self, conn: ConnId, queue: Queue) {
        self.subscribers.insert(
            conn,
            Subscriber {
                topics: Vec::new(),
                queue,
            },
        );
    }

    pub fn leave(&mut self, conn: ConnId) {
        self.subscribers.remove(&conn);
    }

    /// Records a subscription; returns whether the connection is known.
    pub fn subscribe(&mut self, conn: ConnId, topic: Bytes, on: bool) -> bool {
        let Some(s) = self.subscribers.get_mut(&conn) else {
            return false;
        };
        if on {
            s.topics.push(topic);
        } else if let Some(i) = s.topics.iter().position(|t| *t == topic) {
            s.topics.remove(i);
        }
        true
    }

    /// Queues `frames` for every subscriber whose topics match its first frame.
    pub fn publish(&mut self, frames: Vec<Bytes>) {
        let first = frames.first().cloned().unwrap_or_default();
        for (conn, s) in &self.subscribers {
            if s.topics.iter().any(|t| first.starts_with(t)) {
                let offer = s.queue.offer(frames.clone());
                log_streak(Channel::Iopub, *conn, &s.queue, offer);
            }
        }
    }

    /// Queues `frames` for one subscriber only (its `iopub_welcome`).
    pub fn send_to(&mut self, conn: ConnId, frames: Vec<Bytes>) {
        if let Some(s) = self.subscribers.get(&conn) {
            s.queue.offer(frames);
        }
    }
}

/// The frontends' five sockets and their connections, by identity (the
/// ROUTERs) or by subscriber (IOPub).
#[derive(Debug)]
pub struct Frontends {
    pub shell: Router,
    pub control: Router,
    pub stdin: Router,
    pub hb: Router,
    pub iopub: Publisher,
    /// Kept for their ipc socket files, removed when dropped.
    _bound: Vec<Bound>,
}

impl Frontends {
    /// Binds the five endpoints with `mechanism`; what their connections
    /// receive, and when they come and go, goes to `events`.
    pub async fn bind(
        ends: &Endpoints,
        mechanism: &Mechanism,
        events: mpsc::Sender<Event>,
    ) -> Result<Frontends, KernelError> {
        let ids = Arc::new(AtomicU64::new(1));
        let mut bound = Vec::new();
        for (endpoint, channel) in [
            (&ends.shell, Channel::Shell),
            (&ends.control, Channel::Control),
            (&ends.stdin, Channel::Stdin),
            (&ends.hb, Channel::Hb),
            (&ends.iopub, Channel::Iopub),
        ] {
            let ctx = ConnContext {
                channel,
                kind: if channel == Channel::Iopub {
                    SocketType::XPub
                } else {
                    SocketType::Router
                },
                mechanism: mechanism.clone(),
                events: events.clone(),
                ids: ids.clone(),
            };
            bound.push(bind(endpoint, ctx).await?);
        }
        Ok(Frontends {
            shell: Router::new(Channel::Shell),
            control: Router::new(Channel::Control),
            stdin: Router::new(Channel::Stdin),
            hb: Router::new(Channel::Hb),
            iopub: Publisher::default(),
            _bound: bound,
        })
    }

    /// A connection's handshake is done: it can be sent to.
    pub fn join(&mut self, channel: Channel, conn: ConnId, identity: Bytes, queue: Queue) {
        match self.router(channel) {
            Some(router) => router.join(identity, conn, queue),
            None => self.iopub.join(conn, queue),
        }
    }

    pub fn leave(&mut self, channel: Channel, conn: ConnId) {
        match self.router(channel) {
            Some(router) => router.leave(conn),
            None => self.iopub.leave(conn),
        }
    }

    fn router(&mut self, channel: Channel) -> Option<&mut Router> {
        match channel {
            Channel::Shell => Some(&mut self.shell),
            Channel::Control => Some(&mut self.control),
            Channel::Stdin => Some(&mut self.stdin),
            Channel::Hb => Some(&mut self.hb),
            Channel::Iopub => None,
        }
    }
}

/// A bound frontend socket, accepting connections.
#[derive(Debug)]
struct Bound {
    /// The socket file to remove at exit (ipc transport).
    path: Option<PathBuf>,
}

impl Drop for Bound {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Binds `endpoint` (`tcp://HOST:PORT` or `ipc://PATH`) and serves each
/// connection on its own task.
async fn bind(endpoint: &str, ctx: ConnContext) -> Result<Bound, KernelError> {
    match Endpoint::parse(endpoint).map_err(|e| KernelError::bind(endpoint, e))? {
        Endpoint::Ipc(path) => {
            let listener =
                ipc::Listener::bind(&path).map_err(|e| KernelError::bind(endpoint, e))?;
            tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((r, w)) => ctx.spawn(r, w),
                        Err(e) => accept_failed(e).await,
                    }
                }
            });
            Ok(Bound { path: Some(path) })
        }
        Endpoint::Tcp { host, port } => {
            let listener = TcpListener::bind((host.as_str(), port))
                .await
                .map_err(|e| KernelError::bind(endpoint, e))?;
            tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, _)) => {
                            // Each message is one write: Nagle would only add delay.
                            let _ = stream.set_nodelay(true);
                            let (r, w) = stream.into_split();
                            ctx.spawn(r, w);
                        }
                        Err(e) => accept_failed(e).await,
                    }
                }
            });
            Ok(Bound { path: None })
        }
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// Out of file descriptors, say: wait a little instead of spinning.
async fn accept_failed(e: std::io::Error) {
    tracing::warn!(%e, "accept failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

struct ConnContext {
    channel: Channel,
    kind: SocketType,
    mechanism: Mechanism,
    events: mpsc::Sender<Event>,
    ids: Arc<AtomicU64>,
}

impl ConnContext {
    fn spawn<R, W>(&self, r: R, w: W)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let conn = self.ids.fetch_add(1, Ordering::Relaxed);
        let (channel, kind, mechanism, events) = (
            self.channel,
            self.kind,
            self.mechanism.clone(),
            self.events.clone(),
        );
        tokio::spawn(async move {
            let accepted = tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                zmtp::handshake(r, w, kind, None, &mechanism),
            )
            .await;
            let (peer, reader, writer) = match accepted {
                Ok(Ok(done)) => done,
                Ok(Err(e)) if e.is_refusal() => {
                    // libzmq retries every 100 ms: say so on the 1st, 10th, 100th...
                    let n = REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
                    if is_power_of_ten(n) {
                        tracing::warn!(?channel, %e, refused = n, "connection refused (a client without this kernel's CURVE keys?)");
                    } else {
                        tracing::debug!(?channel, %e, "connection refused");
                    }
                    return;
                }
                Ok(Err(e)) => {
                    tracing::debug!(?channel, %e, "handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(?channel, "handshake timed out");
                    return;
                }
            };
            // libzmq names a peer without an identity the same way.
            let identity = peer.identity.unwrap_or_else(|| {
                let mut id = vec![0u8];
                id.extend_from_slice(&(conn as u32).to_be_bytes());
                Bytes::from(id)
            });
            let limit = if kind == SocketType::XPub {
                IOPUB_LIMIT
            } else {
                ROUTER_LIMIT
            };
            let (queue, rx) = Queue::new(limit);
            let joined = Event::Joined {
                channel,
                conn,
                identity: identity.clone(),
                queue: queue.clone(),
            };
            if events.send(joined).await.is_err() {
                return;
            }
            tokio::select! {
                e = read_loop(reader, channel, kind, conn, identity, &queue, &events) => {
                    tracing::debug!(?channel, conn, %e, "connection closed");
                }
                e = write_loop(writer, rx, &queue) => {
                    tracing::debug!(?channel, conn, %e, "connection closed");
                }
            }
            let _ = events.send(Event::Left { channel, conn }).await;
        });
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut reader: zmtp::Reader<R>,
    channel: Channel,
    kind: SocketType,
    conn: ConnId,
    identity: Bytes,
    queue: &Queue,
    events: &mpsc::Sender<Event>,
) -> zmtp::ZmtpError {
    loop {
        let incoming = match reader.recv().await {
            Ok(i) => i,
            Err(e) => return e,
        };
        let event = match incoming {
            Incoming::Ping(context) => {
                let _ = queue.tx.send(Outgoing::Pong(context));
                continue;
            }
            Incoming::Subscription { topic, on } if kind == SocketType::XPub => {
                Event::Subscription { conn, topic, on }
            }
            Incoming::Subscription { .. } => continue,
            // ZMTP 3.0 subscriptions: `\x01topic` subscribes, `\x00topic` ends.
            Incoming::Message(parts) if kind == SocketType::XPub => match parts.first() {
                Some(f) if parts.len() == 1 && matches!(f.first(), Some(0 | 1)) => {
                    Event::Subscription {
                        conn,
                        topic: f.slice(1..),
                        on: f[0] == 1,
                    }
                }
                _ => continue,
            },
            Incoming::Message(mut parts) => {
                parts.insert(0, identity.clone());
                Event::Message {
                    channel,
                    frames: parts,
                }
            }
        };
        if events.send(event).await.is_err() {
            return zmtp::ZmtpError::Protocol("the proxy stopped".into());
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: zmtp::Writer<W>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    queue: &Queue,
) -> zmtp::ZmtpError {
    let put = |writer: &mut zmtp::Writer<W>, out: Outgoing| match out {
        Outgoing::Message(frames) => {
            writer.put(&frames);
            queue.taken(&frames);
        }
        Outgoing::Pong(context) => writer.put_pong(&context),
    };
    loop {
        let Some(first) = rx.recv().await else {
            return zmtp::ZmtpError::Protocol("the proxy closed the connection".into());
        };
        put(&mut writer, first);
        // Everything already queued goes out in one write.
        while writer.buffered() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(out) => put(&mut writer, out),
                Err(_) => break,
            }
        }
        if let Err(e) = writer.flush().await {
            return e;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(topic: &'static [u8], body: usize) -> Vec<Bytes> {
        vec![Bytes::from_static(topic), Bytes::from(vec![0u8; body])]
    }

    #[test]
    fn a_full_queue_drops_and_never_waits() {
        let (queue, mut rx) = Queue::new(Limit {
            messages: 2,
            bytes: 1000,
        });
        assert_eq!(queue.offer(msg(b"a", 10)), Offer::Queued);
        assert_eq!(queue.offer(msg(b"a", 10)), Offer::Queued);
        assert_eq!(queue.offer(msg(b"a", 10)), Offer::Dropped);
        assert_eq!(queue.dropped(), 1);
        // Taking one out makes room again; bytes bound too.
        if let Ok(Outgoing::Message(m)) = rx.try_recv() {
            queue.taken(&m);
        }
        assert_eq!(queue.offer(msg(b"a", 2000)), Offer::Dropped);
        assert_eq!(queue.offer(msg(b"a", 10)), Offer::Queued);
        drop(rx);
        let (queue, rx) = Queue::new(IOPUB_LIMIT);
        drop(rx);
        assert_eq!(queue.offer(msg(b"a", 1)), Offer::Closed);
        // A streak is logged once when it starts and once when it ends.
        let (queue, _rx) = Queue::new(Limit {
            messages: 1,
            bytes: 1 << 20,
        });
        assert_eq!(queue.streak(queue.offer(msg(b"a", 1))), None);
        assert_eq!(queue.streak(queue.offer(msg(b"a", 1))), Some(true));
        assert_eq!(queue.streak(queue.offer(msg(b"a", 1))), None);
    }

    #[test]
    fn publisher_filters_by_topic_and_isolates_subscribers() {
        let mut p = Publisher::default();
        let (slow, _slow_rx) = Queue::new(Limit {
            messages: 1,
            bytes: 1 << 20,
        });
        let (fast, mut fast_rx) = Queue::new(IOPUB_LIMIT);
        p.join(1, slow.clone());
        p.join(2, fast);
        p.join(3, Queue::new(IOPUB_LIMIT).0);
        assert!(p.subscribe(1, Bytes::new(), true));
        assert!(p.subscribe(2, Bytes::from_static(b"kernel"), true));
        assert!(!p.subscribe(9, Bytes::new(), true));
        for _ in 0..5 {
            p.publish(msg(b"kernel.1.stream", 10));
        }
        p.publish(msg(b"other", 10));
        let mut got = 0;
        while fast_rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 5, "the reading subscriber gets every matching message");
        assert_eq!(slow.dropped(), 5, "the stalled one loses what overflows");
    }

    #[test]
    fn refusals_are_logged_at_powers_of_ten() {
        let logged: Vec<u64> = (1..=1000).filter(|&n| is_power_of_ten(n)).collect();
        assert_eq!(logged, [1, 10, 100, 1000]);
    }

    #[test]
    fn router_routes_by_identity_and_hands_over() {
        let mut r = Router::new(Channel::Shell);
        let (old, mut old_rx) = Queue::new(ROUTER_LIMIT);
        let (new, mut new_rx) = Queue::new(ROUTER_LIMIT);
        let id = Bytes::from_static(b"session");
        r.join(id.clone(), 1, old);
        r.join(id.clone(), 2, new);
        r.leave(1); // the old connection's late goodbye changes nothing
        r.send(vec![id.clone(), Bytes::from_static(b"reply")]);
        r.send(vec![
            Bytes::from_static(b"nobody"),
            Bytes::from_static(b"x"),
        ]);
        assert!(old_rx.try_recv().is_err());
        assert!(
            matches!(new_rx.try_recv(), Ok(Outgoing::Message(m)) if m == [Bytes::from_static(b"reply")])
        );
        r.leave(2);
        r.send(vec![id, Bytes::from_static(b"late")]);
        assert!(new_rx.try_recv().is_err());
    }
}
