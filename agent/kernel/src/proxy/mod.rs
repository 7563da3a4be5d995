//! `venturalitica kernel proxy`: the agent between a Jupyter frontend and
//! the real kernel.
//!
//! The proxy binds the ports of the connection file the server wrote
//! ([`crate::frontend`], CurveZMQ when the file carries keys), starts the
//! real kernel on fresh loopback ports (or private ipc) with the same key,
//! connects to it ([`crate::upstream`]) and forwards the five channels.
//! Every message is verified before it is forwarded (bad ones are logged and
//! dropped); messages pass as the bytes received, except the
//! `execute_reply`, which gains `metadata.venturalitica` and is signed again.
//!
//! One reader task per connection feeds a single loop that owns all state,
//! so the order within each channel is kept and nothing needs a lock; the
//! loop only puts messages in per-connection queues, so it never waits for
//! a frontend or the kernel. Its rules are pure parts, tested on their own
//! as [`crate::intercept`] is: which energy window opens when
//! ([`windows`]), IOPub held until its reply ([`hold`]) and JEP 65's
//! welcome ([`welcome`]).

mod hold;
mod welcome;
mod windows;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use venturalitica_energy::{EnergyConfig, Meter, Window};
use venturalitica_os::{Notices, Waiter};

use crate::agent::{AgentEndpoint, AgentHandler};
use crate::child::ChildKernel;
use crate::connection::{self, Endpoints};
use crate::frontend::{self, Channel, ConnId, Frontends, Subscribed};
use crate::intercept::{annotate, CellRecord, Tracker};
use crate::recorder::Recorder;
use crate::upstream::{self, FromKernel, Upstream};
use crate::wire::{RawMessage, Signer};
use crate::zmtp::Mechanism;
use crate::KernelError;
use hold::Hold;
use welcome::Welcomes;
use windows::Windows;

/// How long an IOPub `status: idle` waits for its `execute_reply` before it
/// goes out anyway (the reply normally arrives within microseconds).
/// How long the proxy waits for the kernel's sockets after starting it.
const KERNEL_START_TIMEOUT: Duration = Duration::from_secs(60);
/// Messages already on their way when the kernel exits still get forwarded.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);

/// Whether and how cells are metered.
#[derive(Debug, Clone)]
pub enum Energy {
    Off,
    /// Boxed: the settings are far larger than the other variants.
    On(Box<EnergyConfig>),
    /// The settings are broken: cells carry this message instead of figures,
    /// and the kernel runs as usual.
    Broken(String),
}

/// What `kernel proxy` needs.
#[derive(Debug)]
pub struct ProxyOptions {
    /// The connection file the server wrote (the proxy binds its ports).
    pub connection_file: PathBuf,
    /// The real kernel's command, with `{connection_file}`.
    pub argv: Vec<String>,
    /// Where cell events go; `None` records nothing.
    pub recorder: Option<Recorder>,
    /// Serves the kernel-side agent endpoint when set.
    pub agent: Option<Arc<dyn AgentHandler>>,
    pub energy: Energy,
}

/// Runs the proxy until the kernel exits; returns the kernel's exit code.
pub fn run(options: ProxyOptions) -> Result<i32, KernelError> {
    // One thread: the proxy's work per message is tiny, and the kernel must
    // be spawned from a thread that lives as long as the proxy. (A worker
    // thread for the sockets' tasks measured slower: a cross-thread wake per
    // message costs more than it overlaps.)
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(KernelError::Runtime)?;
    runtime.block_on(serve(options))
}

async fn serve(options: ProxyOptions) -> Result<i32, KernelError> {
    // What the proxy passes on (Unix signals; Jupyter's interrupt event on
    // Windows; the death of the process that started it), installed first:
    // an early interrupt must not kill the proxy (the default action); it is
    // passed on once the kernel runs.
    let mut notices = Notices::new().map_err(KernelError::Runtime)?;
    let outer = connection::read(&options.connection_file)?;
    let signer = Signer::new(outer.info.key.as_bytes());
    let mechanism = match &outer.curve {
        Some(keys) => Mechanism::Curve(keys.clone()),
        None => Mechanism::Null,
    };
    let (front_tx, mut front_rx) = mpsc::channel::<frontend::Event>(1024);
    let front = Frontends::bind(&Endpoints::of(&outer.info), &mechanism, front_tx).await?;

    let mut env = Vec::new();
    let _agent = match options.agent {
        Some(handler) => {
            let endpoint = AgentEndpoint::start(handler).await?;
            env.extend(endpoint.env());
            Some(endpoint)
        }
        None => None,
    };
    // Only now pick the kernel's ports: the server's ports are bound, so the
    // OS cannot hand one of them out again for the kernel.
    let inner = connection::for_child(&outer)?;
    let inner_file = connection::write_child_file(&options.connection_file, &inner)?;
    let kernel = ChildKernel::spawn(&options.argv, &options.connection_file, &inner_file, &env)?;
    tracing::info!(pid = kernel.pid(), argv = ?options.argv, encrypted = outer.curve.is_some(), "kernel started");
    let mut exited = watch_exit(kernel.waiter()?);

    let (tx, mut rx) = mpsc::channel::<FromKernel>(1024);
    let inner_ends = Endpoints::of(&inner.info);
    let inner_mechanism = inner.mechanism();
    let kernel_link = tokio::select! {
        c = upstream::connect(&inner_ends, &inner_mechanism, tx, Instant::now() + KERNEL_START_TIMEOUT) => c?,
        code = &mut exited => {
            tracing::error!(code, "kernel exited before it accepted connections");
            return Ok(code);
        }
    };
    let meter = start_meter(&options.energy);
    let mut state = State {
        kernel_pid: kernel.pid(),
        energy: options.energy,
        meter,
        windows: Windows::default(),
        signer,
        session: uuid::Uuid::new_v4().to_string(),
        front,
        kernel: kernel_link,
        tracker: Tracker::default(),
        recorder: options.recorder,
        records: Vec::new(),
        welcomes: Welcomes::default(),
        hold: Hold::default(),
    };

    let code = loop {
        let deadline = state.hold.deadline();
        tokio::select! {
            Some(msg) = rx.recv() => state.on_kernel(msg),
            Some(event) = front_rx.recv() => state.on_frontend(event),
            code = &mut exited => break code,
            Some(notice) = notices.next() => {
                tracing::info!(?notice, "passing on to the kernel");
                kernel.deliver(notice);
            }
            _ = sleep_until(deadline) => {
                tracing::warn!("execute_reply late: releasing held IOPub messages");
                state.release_held();
            }
        }
        if state.has_work_after_writes() {
            // The sockets' writer tasks run first.
            tokio::task::yield_now().await;
            state.after_writes();
        }
    };
    tracing::info!(code, "kernel exited");
    // Forward what the kernel sent just before it went away.
    let drain_until = Instant::now() + DRAIN_AFTER_EXIT;
    while let Ok(Some(msg)) = tokio::time::timeout_at(drain_until, rx.recv()).await {
        state.on_kernel(msg);
    }
    state.release_held();
    for record in state.tracker.drain_died() {
        state.record(record);
    }
    state.after_writes();
    if let Some(recorder) = state.recorder.take() {
        recorder.finish();
    }
    // Give the frontends' writers a moment to send what is queued.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = std::fs::remove_file(&inner_file);
    drop(inner);
    Ok(code)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Resolves with the kernel's exit code.
fn watch_exit(waiter: Waiter) -> std::pin::Pin<Box<dyn std::future::Future<Output = i32>>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(waiter.wait());
    });
    Box::pin(async move { rx.await.unwrap_or(1) })
}

/// Builds the meter off the main thread (opening NVML can take seconds);
/// cells that start before it is ready carry no energy figures.
fn start_meter(energy: &Energy) -> Arc<OnceLock<Arc<Meter>>> {
    let cell = Arc::new(OnceLock::new());
    if let Energy::On(config) = energy {
        let (cell, config) = (Arc::clone(&cell), config.as_ref().clone());
        std::thread::spawn(move || {
            let _ = cell.set(Arc::new(Meter::new(config)));
        });
    }
    cell
}

/// Everything the forwarding loop owns.
struct State {
    kernel_pid: u32,
    energy: Energy,
    meter: Arc<OnceLock<Arc<Meter>>>,
    /// Energy windows of the executions in flight, and those waiting.
    windows: Windows<Window>,
    signer: Signer,
    /// The proxy's own session id, for the messages it creates.
    session: String,
    front: Frontends,
    kernel: Upstream,
    tracker: Tracker,
    recorder: Option<Recorder>,
    /// Cell records waiting for the writes in flight (see `after_writes`).
    records: Vec<CellRecord>,
    welcomes: Welcomes,
    /// IOPub messages held back until an `execute_reply` has gone out.
    hold: Hold,
}

impl State {
    fn on_frontend(&mut self, event: frontend::Event) {
        match event {
            // Heartbeats are not Jupyter messages: pass them as they are.
            frontend::Event::Message {
                channel: Channel::Hb,
                frames,
            } => self.kernel.send(Channel::Hb, frames),
            frontend::Event::Message { channel, frames } => {
                match RawMessage::parse(frames, &self.signer) {
                    Ok(raw) => self.on_frontend_message(channel, raw),
                    Err(e) => tracing::warn!(?channel, %e, "dropped a message from a frontend"),
                }
            }
            frontend::Event::Joined {
                channel,
                conn,
                identity,
                queue,
            } => self.front.join(channel, conn, identity, queue),
            frontend::Event::Left { channel, conn } => self.front.leave(channel, conn),
            frontend::Event::Subscription { conn, topic, on } => {
                match self.front.iopub.subscribe(conn, topic.clone(), on) {
                    Subscribed::New => {
                        if let Some((conn, topic)) = self.welcomes.subscribed(conn, topic) {
                            self.welcome(conn, topic);
                        }
                    }
                    Subscribed::OverLimit { first: true } => tracing::warn!(
                        conn,
                        limit = frontend::TOPICS_LIMIT,
                        "an IOPub subscriber holds as many topics as it may: its new subscriptions are refused"
                    ),
                    _ => {}
                }
            }
        }
    }

    fn on_kernel(&mut self, msg: FromKernel) {
        if msg.channel == Channel::Hb {
            self.front.hb.send(msg.frames);
            return;
        }
        match RawMessage::parse(msg.frames, &self.signer) {
            Ok(raw) => self.on_kernel_message(msg.channel, raw),
            Err(e) => {
                tracing::warn!(channel = ?msg.channel, %e, "dropped a message from the kernel")
            }
        }
    }

    fn on_frontend_message(&mut self, channel: Channel, raw: RawMessage) {
        if channel == Channel::Shell {
            if let Ok(header) = raw.header() {
                if header.msg_type == "execute_request" {
                    let metadata = raw.metadata().unwrap_or(Value::Null);
                    let content = raw.content().unwrap_or(Value::Null);
                    self.tracker
                        .on_request(&header.msg_id, &header.session, &metadata, &content);
                    self.open_or_queue(header.msg_id);
                }
            }
        }
        self.kernel.send(channel, raw.into_frames());
    }

    fn on_kernel_message(&mut self, channel: Channel, mut raw: RawMessage) {
        match channel {
            Channel::Shell => {
                let reply_to = self.execute_reply_parent(&raw);
                let record = reply_to.as_ref().and_then(|parent| {
                    let content = raw.content().unwrap_or(Value::Null);
                    let mut record = self.tracker.on_reply(parent, &content)?;
                    record.energy = self.energy_of(parent);
                    Some(record)
                });
                if let Some(record) = &record {
                    let metadata = raw.metadata().unwrap_or(Value::Null);
                    raw.set_metadata_json(annotate(metadata, record), &self.signer);
                }
                self.front.shell.send(raw.into_frames());
                if let Some(record) = record {
                    self.record(record);
                }
                if let Some(parent) = &reply_to {
                    for frames in self.hold.replied(parent) {
                        self.front.iopub.publish(frames);
                    }
                }
            }
            Channel::Control => self.front.control.send(raw.into_frames()),
            Channel::Stdin => self.front.stdin.send(raw.into_frames()),
            Channel::Iopub => self.kernel_iopub(raw),
            // Passed raw by `on_kernel`: heartbeats are not Jupyter messages.
            Channel::Hb => {}
        }
    }

    /// Opens the execution's energy window as the request is written to an
    /// idle kernel (right after the write, see [`State::after_writes`]): the
    /// window then holds all of the kernel's work on it (opening at its
    /// `busy` would miss what the kernel did before the proxy read that
    /// message). Otherwise it waits its turn.
    fn open_or_queue(&mut self, msg_id: String) {
        if self.meter.get().is_some() {
            self.windows.requested(msg_id);
        }
    }

    /// Whether work waits for the writes just queued (see `after_writes`).
    fn has_work_after_writes(&self) -> bool {
        self.windows.has_opening() || !self.records.is_empty()
    }

    /// What follows the writes just queued, off the frontend's wait: the
    /// energy window of the request just forwarded, and the records for the
    /// recorder thread, whose signing and fsync would otherwise compete
    /// with the kernel and the frontend while the reply is on its way.
    fn after_writes(&mut self) {
        if let (Some(msg_id), Some(meter)) = (self.windows.take_opening(), self.meter.get()) {
            self.windows.insert(msg_id, meter.start(self.kernel_pid));
        }
        self.send_records();
    }

    /// After a reply: the next queued execution's window opens.
    fn open_next(&mut self) {
        let Some(meter) = self.meter.get() else {
            return;
        };
        let tracker = &self.tracker;
        if let Some(next) = self.windows.next(|id| tracker.is_running(id)) {
            self.windows.insert(next, meter.start(self.kernel_pid));
        }
    }

    /// The energy figures for an execution that just replied.
    fn energy_of(&mut self, msg_id: &str) -> Option<Value> {
        match &self.energy {
            Energy::Off => None,
            Energy::Broken(why) => Some(serde_json::json!({ "error": why })),
            Energy::On(_) => {
                let report = match self.windows.close(msg_id) {
                    Some(window) => serde_json::to_value(window.finish()).ok(),
                    None => {
                        Some(serde_json::json!({ "error": "the energy meter was still starting" }))
                    }
                };
                self.open_next();
                report
            }
        }
    }

    fn execute_reply_parent(&self, raw: &RawMessage) -> Option<String> {
        let header = raw.header().ok()?;
        if header.msg_type != "execute_reply" {
            return None;
        }
        Some(raw.parent_header().ok()?.msg_id)
    }

    fn kernel_iopub(&mut self, raw: RawMessage) {
        let header = raw.header().unwrap_or_default();
        if header.msg_type == "iopub_welcome" {
            // The welcome for the proxy's own subscription: not for frontends.
            self.set_upstream_ready();
            return;
        }
        self.set_upstream_ready();
        let parent = raw.parent_header().unwrap_or_default().msg_id;
        let mut starts_hold = false;
        if self.tracker.is_running(&parent)
            && matches!(header.msg_type.as_str(), "status" | "execute_input")
        {
            let content = raw.content().unwrap_or(Value::Null);
            // The first `busy` opens a window only where none is open yet
            // (the meter became ready after the request went in).
            if self.tracker.on_iopub(&parent, &header.msg_type, &content) {
                if let Some(meter) = self.meter.get() {
                    if self.windows.busy(&parent) {
                        self.windows
                            .insert(parent.clone(), meter.start(self.kernel_pid));
                    }
                }
            }
            starts_hold = header.msg_type == "status" && content["execution_state"] == "idle";
        }
        // An idle waits for its reply, so the annotated reply reaches
        // frontends first.
        let idle_of = starts_hold.then_some(parent);
        if let Some(frames) = self.hold.iopub(raw.into_frames(), idle_of, Instant::now()) {
            self.front.iopub.publish(frames);
        }
    }

    fn release_held(&mut self) {
        for frames in self.hold.release() {
            self.front.iopub.publish(frames);
        }
    }

    fn set_upstream_ready(&mut self) {
        for (conn, topic) in self.welcomes.upstream_ready() {
            self.welcome(conn, topic);
        }
    }

    /// JEP 65: tells a new subscriber, and only it, that its subscription
    /// is live.
    fn welcome(&mut self, conn: ConnId, topic: Bytes) {
        let msg = welcome::message(&self.signer, &self.session, topic);
        self.front.iopub.send_to(conn, msg.into_frames());
    }

    /// Keeps `record` for [`State::after_writes`].
    fn record(&mut self, record: CellRecord) {
        if self.recorder.is_some() {
            self.records.push(record);
        }
    }

    fn send_records(&mut self) {
        if let Some(recorder) = &self.recorder {
            for record in self.records.drain(..) {
                recorder.record(record);
            }
        }
    }
}
