//! The proxy's connections to the real kernel: a DEALER for each request
//! channel and a SUB to its IOPub, over loopback TCP, private ipc, or
//! loopback TCP under CURVE (encrypted kernels where there is no ipc).
//!
//! Each connection has a reader task, which feeds the forwarding loop, and
//! a writer task draining a bounded queue, so the loop never waits for the
//! kernel either: the kernel's libzmq queues another 1,000 messages per
//! socket before it stops reading, and past both bounds a message is
//! dropped (and logged) rather than freezing every frontend.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::connection::Endpoints;
use crate::frontend::Channel;
use crate::zmtp::endpoint::{Endpoint, Halves};
use crate::zmtp::{self, Incoming, Mechanism, SocketType};
use crate::KernelError;

/// Messages waiting for one of the kernel's sockets.
const KERNEL_QUEUE: usize = 10_000;
/// The writer sends what it has once this much is buffered.
const WRITE_BATCH: usize = 1 << 20;

/// A message from one of the kernel's sockets.
#[derive(Debug)]
pub struct FromKernel {
    pub channel: Channel,
    pub frames: Vec<Bytes>,
}

/// The queues of the kernel's request sockets.
#[derive(Debug)]
pub struct Upstream {
    shell: mpsc::Sender<Vec<Bytes>>,
    control: mpsc::Sender<Vec<Bytes>>,
    stdin: mpsc::Sender<Vec<Bytes>>,
    hb: mpsc::Sender<Vec<Bytes>>,
}

impl Upstream {
    /// Queues `frames` for the kernel; never waits.
    pub fn send(&self, channel: Channel, frames: Vec<Bytes>) {
        let queue = match channel {
            Channel::Shell => &self.shell,
            Channel::Control => &self.control,
            Channel::Stdin => &self.stdin,
            Channel::Hb => &self.hb,
            Channel::Iopub => return,
        };
        match queue.try_send(frames) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(?channel, "the kernel is not reading: message dropped")
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::warn!(?channel, "the kernel's socket is closed: message dropped")
            }
        }
    }
}

/// Connects to the kernel's five sockets with `mechanism`, retrying while it
/// starts, until `give_up`. Messages from the kernel go to `tx`.
pub async fn connect(
    ends: &Endpoints,
    mechanism: &Mechanism,
    tx: mpsc::Sender<FromKernel>,
    give_up: Instant,
) -> Result<Upstream, KernelError> {
    // Shell and stdin share one identity: the kernel sends `input_request`
    // to the shell request's identity on its stdin socket.
    let identity = Bytes::from(uuid::Uuid::new_v4().as_bytes().to_vec());
    // IOPub first, so no output of the first cell is missed.
    let sockets = [
        (Channel::Iopub, &ends.iopub, SocketType::Sub, None),
        (
            Channel::Shell,
            &ends.shell,
            SocketType::Dealer,
            Some(identity.clone()),
        ),
        (
            Channel::Stdin,
            &ends.stdin,
            SocketType::Dealer,
            Some(identity),
        ),
        (Channel::Control, &ends.control, SocketType::Dealer, None),
        (Channel::Hb, &ends.hb, SocketType::Dealer, None),
    ];
    let mut queues = Vec::new();
    for (channel, endpoint, ours, identity) in sockets {
        let socket = Socket {
            channel,
            endpoint: endpoint.clone(),
            ours,
            identity,
            mechanism: mechanism.clone(),
        };
        let first = socket.open(give_up).await?;
        // Nothing is sent to a SUB after its subscription.
        let rx = if ours == SocketType::Sub {
            None
        } else {
            let (queue, rx) = mpsc::channel::<Vec<Bytes>>(KERNEL_QUEUE);
            queues.push(queue);
            Some(rx)
        };
        tokio::spawn(socket.serve(first, rx, tx.clone()));
    }
    let mut queues = queues.into_iter();
    let mut next = || queues.next().expect("four request sockets");
    Ok(Upstream {
        shell: next(),
        stdin: next(),
        control: next(),
        hb: next(),
    })
}

/// Subscribes to a kernel's IOPub alone (`kernel attach`), retrying until
/// `give_up`; its messages go to `tx`.
pub async fn subscribe(
    endpoint: &str,
    tx: mpsc::Sender<FromKernel>,
    give_up: Instant,
) -> Result<(), KernelError> {
    let socket = Socket {
        channel: Channel::Iopub,
        endpoint: endpoint.to_string(),
        ours: SocketType::Sub,
        identity: None,
        mechanism: Mechanism::Null,
    };
    let first = socket.open(give_up).await?;
    tokio::spawn(socket.serve(first, None, tx));
    Ok(())
}

type Reader = zmtp::Reader<BufReader<Box<dyn AsyncRead + Send + Unpin>>>;
type Writer = zmtp::Writer<Box<dyn AsyncWrite + Send + Unpin>>;

/// One of the kernel's sockets, as the proxy connects to it.
struct Socket {
    channel: Channel,
    endpoint: String,
    ours: SocketType,
    identity: Option<Bytes>,
    mechanism: Mechanism,
}

impl Socket {
    /// Connects (retrying while nothing listens, until `give_up`), shakes
    /// hands, and subscribes a SUB to every topic.
    async fn open(&self, give_up: Instant) -> Result<(Reader, Writer), KernelError> {
        let endpoint = &self.endpoint;
        let parsed = Endpoint::parse(endpoint).map_err(|e| KernelError::bind(endpoint, e))?;
        loop {
            match self.try_open(&parsed).await {
                Ok(done) => {
                    tracing::debug!(channel = ?self.channel, endpoint, "connected to the kernel");
                    return Ok(done);
                }
                Err(e) if Instant::now() >= give_up => return Err(KernelError::bind(endpoint, e)),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    async fn try_open(&self, endpoint: &Endpoint) -> Result<(Reader, Writer), zmtp::ZmtpError> {
        let (r, w): Halves = endpoint.connect().await?;
        let r = BufReader::with_capacity(64 * 1024, r);
        let shake = zmtp::handshake(r, w, self.ours, self.identity.as_deref(), &self.mechanism);
        let (_, reader, mut writer) = tokio::time::timeout(HANDSHAKE_TIMEOUT, shake)
            .await
            .map_err(|_| {
                zmtp::ZmtpError::Protocol("the kernel did not finish the handshake".into())
            })??;
        if self.ours == SocketType::Sub {
            writer.put(&[Bytes::from_static(b"\x01")]); // every topic
            writer.flush().await?;
        }
        Ok((reader, writer))
    }

    /// Forwards both ways until the proxy stops; reconnects when the kernel
    /// closes the connection, as libzmq does (ipykernel may recreate a socket
    /// while it starts).
    async fn serve(
        self,
        first: (Reader, Writer),
        mut rx: Option<mpsc::Receiver<Vec<Bytes>>>,
        tx: mpsc::Sender<FromKernel>,
    ) {
        let channel = self.channel;
        let (mut reader, mut writer) = first;
        loop {
            let why = tokio::select! {
                e = read_into(&mut reader, channel, &tx) => e,
                e = write_from(&mut writer, &mut rx) => e,
            };
            let Some(why) = why else { return };
            tracing::debug!(?channel, %why, "the kernel's socket closed: reconnecting");
            match self.open(Instant::now() + RECONNECT_FOR).await {
                Ok((r, w)) => (reader, writer) = (r, w),
                Err(e) => {
                    // Usually the kernel exiting, which the proxy learns from waitpid.
                    tracing::warn!(?channel, %e, "cannot reconnect to the kernel");
                    return;
                }
            }
        }
    }
}

/// A connection that does not finish its handshake by then is given up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closed connection to the kernel is retried.
const RECONNECT_FOR: Duration = Duration::from_secs(60);

/// Passes what the kernel sends to the loop; `None` once the loop is gone.
async fn read_into(
    reader: &mut Reader,
    channel: Channel,
    tx: &mpsc::Sender<FromKernel>,
) -> Option<zmtp::ZmtpError> {
    loop {
        match reader.recv().await {
            Ok(Incoming::Message(frames)) => {
                tx.send(FromKernel { channel, frames }).await.ok()?;
            }
            // The kernel's libzmq sends no heartbeats unless configured to.
            Ok(_) => {}
            Err(e) => return Some(e),
        }
    }
}

/// Sends what is queued for the kernel; `None` once the loop is gone.
async fn write_from(
    writer: &mut Writer,
    rx: &mut Option<mpsc::Receiver<Vec<Bytes>>>,
) -> Option<zmtp::ZmtpError> {
    let Some(rx) = rx else {
        return std::future::pending().await;
    };
    loop {
        let frames = rx.recv().await?;
        writer.put(&frames);
        while writer.buffered() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(frames) => writer.put(&frames),
                Err(_) => break,
            }
        }
        if let Err(e) = writer.flush().await {
            return Some(e);
        }
    }
}
