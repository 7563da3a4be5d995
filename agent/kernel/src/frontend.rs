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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

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
/// Handshakes in progress at once, all sockets together; a connection
/// over it is closed at once. A frontend opens five connections per
/// kernel and finishes each within milliseconds.
pub const HANDSHAKES_LIMIT: usize = 64;
/// Connections at once on one socket (libzmq is bounded by file
/// descriptors only). JupyterLab, a console and a few scripts open one each.
pub const CONNECTIONS_LIMIT: usize = 1024;
/// Topics one IOPub subscriber may hold: Jupyter's frontends subscribe to
/// one (everything); each topic costs memory and a lookup per message.
pub const TOPICS_LIMIT: usize = 256;
/// The writer sends what it has once this much is buffered.
const WRITE_BATCH: usize = 1 << 20;

/// Connections refused for their keys or mechanism, for the log.
static REFUSED: AtomicU64 = AtomicU64::new(0);
/// Connections closed at once for [`HANDSHAKES_LIMIT`] or
/// [`CONNECTIONS_LIMIT`], for the log.
static TURNED_AWAY: AtomicU64 = AtomicU64::new(0);

/// The most a frontend's message may hold: `VENTURALITICA_MESSAGE_LIMIT_MIB`
/// or [`zmtp::MESSAGE_LIMIT`].
pub fn message_limit() -> u64 {
    const VAR: &str = "VENTURALITICA_MESSAGE_LIMIT_MIB";
    let Ok(text) = std::env::var(VAR) else {
        return zmtp::MESSAGE_LIMIT;
    };
    match text.trim().parse::<u64>() {
        Ok(mib) if mib > 0 => mib.saturating_mul(1 << 20),
        _ => {
            tracing::warn!(value = %text, "{VAR} is not a positive number of MiB: using {} MiB", zmtp::MESSAGE_LIMIT >> 20);
            zmtp::MESSAGE_LIMIT
        }
    }
}

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
    /// A `PONG` is waiting in [`Load::pong`].
    Pong,
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
    /// The context of the one `PONG` owed, as libzmq keeps one: a newer
    /// `PING` replaces it, so a peer that pings and never reads costs at
    /// most this.
    pong: Mutex<Option<Bytes>>,
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

    /// Owes the peer a `PONG` with `context`, replacing one not yet sent.
    fn pong(&self, context: Bytes) {
        let mut slot = self.load.pong.lock().unwrap_or_else(|e| e.into_inner());
        if slot.replace(context).is_none() {
            // Only the first owes a wake-up: at most one is ever queued.
            let _ = self.tx.send(Outgoing::Pong);
        }
    }

    /// The `PONG` owed, if any.
    fn take_pong(&self) -> Option<Bytes> {
        self.load
            .pong
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
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
    topics: Topics,
    queue: Queue,
    /// Subscriptions refused for [`TOPICS_LIMIT`].
    refused: u64,
}

/// One subscriber's topics, as libzmq's XPUB keeps them: a set, so a topic
/// subscribed twice is one entry (and one welcome), and a message is
/// matched by looking up its own prefixes, not by scanning the topics.
#[derive(Debug, Default)]
struct Topics {
    set: HashSet<Bytes>,
    /// How many topics have each length: the prefixes worth looking up.
    lengths: BTreeMap<usize, usize>,
}

impl Topics {
    fn insert(&mut self, topic: Bytes) -> bool {
        let len = topic.len();
        let new = self.set.insert(topic);
        if new {
            *self.lengths.entry(len).or_default() += 1;
        }
        new
    }

    fn remove(&mut self, topic: &[u8]) {
        if self.set.remove(topic) {
            if let Some(n) = self.lengths.get_mut(&topic.len()) {
                *n -= 1;
                if *n == 0 {
                    self.lengths.remove(&topic.len());
                }
            }
        }
    }

    /// Whether one of the topics is a prefix of `first`.
    fn matches(&self, first: &[u8]) -> bool {
        self.lengths
            .range(..=first.len())
            .any(|(&len, _)| self.set.contains(&first[..len]))
    }
}

/// What a subscription changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// A topic new to this subscriber: it is welcomed.
    New,
    /// Already subscribed, or a cancel: nothing to say.
    Unchanged,
    /// Over [`TOPICS_LIMIT`]: refused (`first`: the first time for this
    /// subscriber, to say so once).
    OverLimit { first: bool },
    /// No such subscriber (it left).
    Unknown,
}

impl Publisher {
    pub fn join(&mut self, conn: ConnId, queue: Queue) {
        self.subscribers.insert(
            conn,
            Subscriber {
                topics: Topics::default(),
                queue,
                refused: 0,
            },
        );
    }

    pub fn leave(&mut self, conn: ConnId) {
        self.subscribers.remove(&conn);
    }

    /// Records a subscription (`on`) or its end.
    pub fn subscribe(&mut self, conn: ConnId, topic: Bytes, on: bool) -> Subscribed {
        let Some(s) = self.subscribers.get_mut(&conn) else {
            return Subscribed::Unknown;
        };
        if !on {
            s.topics.remove(&topic);
            return Subscribed::Unchanged;
        }
        if s.topics.set.len() >= TOPICS_LIMIT && !s.topics.set.contains(&topic) {
            s.refused += 1;
            return Subscribed::OverLimit {
                first: s.refused == 1,
            };
        }
        if s.topics.insert(topic) {
            Subscribed::New
        } else {
            Subscribed::Unchanged
        }
    }

    /// Queues `frames` for every subscriber whose topics match its first frame.
    pub fn publish(&mut self, frames: Vec<Bytes>) {
        let first = frames.first().cloned().unwrap_or_default();
        for (conn, s) in &self.subscribers {
            if s.topics.matches(&first) {
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
        let handshakes = Arc::new(Semaphore::new(HANDSHAKES_LIMIT));
        let message_limit = message_limit();
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
                handshakes: handshakes.clone(),
                connections: Arc::new(Semaphore::new(CONNECTIONS_LIMIT)),
                message_limit,
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
                        Ok((r, w)) => ctx.spawn(r, w, "ipc".to_string()),
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
                        Ok((stream, address)) => {
                            // Each message is one write: Nagle would only add delay.
                            let _ = stream.set_nodelay(true);
                            let (r, w) = stream.into_split();
                            ctx.spawn(r, w, address.to_string());
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
    /// Shared by the five sockets: [`HANDSHAKES_LIMIT`].
    handshakes: Arc<Semaphore>,
    /// This socket's: [`CONNECTIONS_LIMIT`].
    connections: Arc<Semaphore>,
    message_limit: u64,
}

/// A permit of `semaphore`, or `None` (said at powers of ten) when it has none.
fn admit(
    semaphore: &Arc<Semaphore>,
    channel: Channel,
    limit: &str,
) -> Option<OwnedSemaphorePermit> {
    let permit = semaphore.clone().try_acquire_owned().ok();
    if permit.is_none() {
        let n = TURNED_AWAY.fetch_add(1, Ordering::Relaxed) + 1;
        if is_power_of_ten(n) {
            tracing::warn!(?channel, turned_away = n, "{limit}: connection closed");
        }
    }
    permit
}

impl ConnContext {
    /// Serves one accepted connection; `peer` names it in the log (its
    /// address, or `ipc`).
    fn spawn<R, W>(&self, r: R, w: W, peer: String)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        // Dropping the halves closes the connection.
        let Some(connection) = admit(
            &self.connections,
            self.channel,
            "this socket has as many connections as it takes",
        ) else {
            return;
        };
        let Some(handshaking) = admit(
            &self.handshakes,
            self.channel,
            "as many handshakes are in progress as the proxy takes",
        ) else {
            return;
        };
        let conn = self.ids.fetch_add(1, Ordering::Relaxed);
        let (channel, kind, mechanism, events, message_limit) = (
            self.channel,
            self.kind,
            self.mechanism.clone(),
            self.events.clone(),
            self.message_limit,
        );
        tokio::spawn(async move {
            let _connection = connection;
            let accepted = tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                zmtp::handshake(r, w, kind, None, &mechanism),
            )
            .await;
            drop(handshaking);
            let (peer, mut reader, writer) = match accepted {
                Ok(Ok(done)) => done,
                Ok(Err(e)) if e.is_refusal() => {
                    // libzmq retries every 100 ms: say so on the 1st, 10th, 100th...
                    let n = REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
                    if is_power_of_ten(n) {
                        tracing::warn!(?channel, %peer, %e, refused = n, "connection refused (a client without this kernel's CURVE keys?)");
                    } else {
                        tracing::debug!(?channel, %peer, %e, "connection refused");
                    }
                    return;
                }
                Ok(Err(e)) => {
                    tracing::debug!(?channel, %peer, %e, "handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(?channel, %peer, "handshake timed out");
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
            reader.set_limit(message_limit);
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
                    if let zmtp::ZmtpError::TooLarge { .. } = e {
                        tracing::warn!(?channel, conn, %e, "connection closed (VENTURALITICA_MESSAGE_LIMIT_MIB raises the limit)");
                    } else {
                        tracing::debug!(?channel, conn, %e, "connection closed");
                    }
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
                queue.pong(context);
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
        Outgoing::Pong => {
            if let Some(context) = queue.take_pong() {
                writer.put_pong(&context);
            }
        }
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
        assert_eq!(p.subscribe(1, Bytes::new(), true), Subscribed::New);
        assert_eq!(
            p.subscribe(2, Bytes::from_static(b"kernel"), true),
            Subscribed::New
        );
        assert_eq!(p.subscribe(9, Bytes::new(), true), Subscribed::Unknown);
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
    fn topics_are_a_set_matched_by_prefix_and_bounded() {
        let mut p = Publisher::default();
        let (queue, mut rx) = Queue::new(IOPUB_LIMIT);
        p.join(1, queue);
        let kernel = Bytes::from_static(b"kernel");
        assert_eq!(p.subscribe(1, kernel.clone(), true), Subscribed::New);
        for _ in 0..20_000 {
            assert_eq!(p.subscribe(1, kernel.clone(), true), Subscribed::Unchanged);
        }
        assert_eq!(p.subscribers[&1].topics.set.len(), 1);
        assert_eq!(
            p.subscribe(1, Bytes::from_static(b"kernel.1.status"), true),
            Subscribed::New
        );
        p.publish(msg(b"kernel.1.stream", 1));
        p.publish(msg(b"kerne", 1));
        p.publish(msg(b"other", 1));
        assert!(matches!(rx.try_recv(), Ok(Outgoing::Message(m)) if m[0] == "kernel.1.stream"));
        assert!(
            rx.try_recv().is_err(),
            "neither a shorter nor another topic matches"
        );
        // One cancel ends a topic however often it was subscribed.
        p.subscribe(1, kernel.clone(), false);
        p.publish(msg(b"kernel.1.stream", 1));
        assert!(rx.try_recv().is_err());
        p.publish(msg(b"kernel.1.status", 1));
        assert!(rx.try_recv().is_ok(), "the other topic still matches");
        // The empty topic matches everything.
        assert_eq!(p.subscribe(1, Bytes::new(), true), Subscribed::New);
        p.publish(msg(b"x", 1));
        assert!(rx.try_recv().is_ok());
        // Past the bound a new topic is refused, said once; known ones stay.
        for i in 2..TOPICS_LIMIT {
            assert_eq!(
                p.subscribe(1, Bytes::from(format!("t{i}")), true),
                Subscribed::New
            );
        }
        assert_eq!(
            p.subscribe(1, Bytes::from_static(b"one more"), true),
            Subscribed::OverLimit { first: true }
        );
        assert_eq!(
            p.subscribe(1, Bytes::from_static(b"and another"), true),
            Subscribed::OverLimit { first: false }
        );
        assert_eq!(p.subscribe(1, Bytes::new(), true), Subscribed::Unchanged);
    }

    #[test]
    fn a_peer_that_pings_and_never_reads_is_owed_one_pong() {
        let (queue, mut rx) = Queue::new(ROUTER_LIMIT);
        for i in 0..10_000u32 {
            queue.pong(Bytes::from(i.to_be_bytes().to_vec()));
        }
        assert!(matches!(rx.try_recv(), Ok(Outgoing::Pong)));
        assert!(
            rx.try_recv().is_err(),
            "one wake-up for the writer, not one per PING"
        );
        assert_eq!(
            queue.take_pong(),
            Some(Bytes::from(9_999u32.to_be_bytes().to_vec()))
        );
        assert_eq!(queue.take_pong(), None);
        // Once taken, the next PING is owed again.
        queue.pong(Bytes::from_static(b"again"));
        assert!(matches!(rx.try_recv(), Ok(Outgoing::Pong)));
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
