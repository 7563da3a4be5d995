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
//! a frontend or the kernel.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use nix::sys::signal::Signal;
use serde_json::Value;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::Instant;

use venturalitica_energy::{EnergyConfig, Meter, Window};

use crate::agent::{AgentEndpoint, AgentHandler};
use crate::child::ChildKernel;
use crate::connection::{self, Endpoints};
use crate::frontend::{self, Channel, ConnId, Frontends};
use crate::intercept::{annotate, CellRecord, Tracker};
use crate::recorder::Recorder;
use crate::upstream::{self, FromKernel, Upstream};
use crate::wire::{new_message, RawMessage, Signer};
use crate::zmtp::Mechanism;
use crate::KernelError;

/// How long an IOPub `status: idle` waits for its `execute_reply` before it
/// goes out anyway (the reply normally arrives within microseconds).
const HOLD_IDLE_AT_MOST: Duration = Duration::from_secs(2);
/// How long the proxy waits for the kernel's sockets after starting it.
const KERNEL_START_TIMEOUT: Duration = Duration::from_secs(60);
/// Messages already on their way when the kernel exits still get forwarded.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);
/// How often the proxy checks that the process that started it is alive.
const PARENT_POLL: Duration = Duration::from_secs(1);

/// Whether and how cells are metered.
#[derive(Debug, Clone)]
pub enum Energy {
    Off,
    On(EnergyConfig),
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
    // Installed first: an early interrupt must not kill the proxy (the
    // default action); it is forwarded once the kernel runs.
    let mut signals = Signals::new()?;
    let outer = connection::read(&options.connection_file)?;
    let signer = Signer::new(outer.info.key.as_bytes());
    let mechanism = match &outer.curve {
        Some(keys) => Mechanism::Curve(keys.clone()),
        None => Mechanism::Null,
    };
    let (front_tx, mut front_rx) = mpsc::channel::<frontend::Event>(1024);
    let front = Frontends::bind(&Endpoints::of(&outer.info), &mechanism, front_tx).await?;

    let mut env = vec![("JPY_PARENT_PID".to_string(), std::process::id().to_string())];
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
    let inner_file = connection::write_child_file(&options.connection_file, &inner.info)?;
    let kernel = ChildKernel::spawn(&options.argv, &options.connection_file, &inner_file, &env)?;
    tracing::info!(pid = kernel.pid(), argv = ?options.argv, encrypted = outer.curve.is_some(), "kernel started");
    let mut exited = watch_exit(kernel.pid());

    let (tx, mut rx) = mpsc::channel::<FromKernel>(1024);
    let inner_ends = Endpoints::of(&inner.info);
    let kernel_link = tokio::select! {
        c = upstream::connect(&inner_ends, tx, Instant::now() + KERNEL_START_TIMEOUT) => c?,
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
        windows: HashMap::new(),
        queued: VecDeque::new(),
        signer,
        session: uuid::Uuid::new_v4().to_string(),
        front,
        kernel: kernel_link,
        tracker: Tracker::default(),
        recorder: options.recorder,
        records: Vec::new(),
        opening: None,
        upstream_ready: false,
        pending_welcomes: Vec::new(),
        held: Vec::new(),
        holding_for: None,
        hold_deadline: None,
    };

    let code = loop {
        let deadline = state.hold_deadline;
        tokio::select! {
            Some(msg) = rx.recv() => state.on_kernel(msg),
            Some(event) = front_rx.recv() => state.on_frontend(event),
            code = &mut exited => break code,
            Some(sig) = signals.next() => {
                tracing::info!(?sig, "forwarding signal to the kernel");
                kernel.signal(sig);
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
fn watch_exit(pid: u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = i32>>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let code = wait_pid(pid);
        let _ = tx.send(code);
    });
    Box::pin(async move { rx.await.unwrap_or(1) })
}

fn wait_pid(pid: u32) -> i32 {
    use nix::sys::wait::{waitpid, WaitStatus};
    let Ok(raw) = i32::try_from(pid) else {
        return 1;
    };
    loop {
        match waitpid(nix::unistd::Pid::from_raw(raw), None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 1,
        }
    }
}

/// The signals the proxy passes on to the kernel, and the death of the
/// process that started it (a Jupyter server killed with SIGKILL), which is
/// passed on as SIGTERM: ipykernel polls its parent the same way, and the
/// proxy, not the server, is the kernel's parent.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
    parent: nix::unistd::Pid,
    parent_poll: Option<tokio::time::Interval>,
}

impl Signals {
    fn new() -> Result<Signals, KernelError> {
        let on = |kind| signal(kind).map_err(KernelError::Runtime);
        Ok(Signals {
            interrupt: on(SignalKind::interrupt())?,
            terminate: on(SignalKind::terminate())?,
            hangup: on(SignalKind::hangup())?,
            quit: on(SignalKind::quit())?,
            parent: nix::unistd::getppid(),
            parent_poll: Some(tokio::time::interval(PARENT_POLL)),
        })
    }

    /// Resolves once, when the proxy's parent has gone.
    async fn orphaned(poll: &mut Option<tokio::time::Interval>, parent: nix::unistd::Pid) {
        let Some(interval) = poll else {
            return std::future::pending().await;
        };
        loop {
            interval.tick().await;
            if nix::unistd::getppid() != parent {
                *poll = None;
                tracing::warn!(%parent, "the process that started the proxy is gone: stopping the kernel");
                return;
            }
        }
    }

    async fn next(&mut self) -> Option<Signal> {
        tokio::select! {
            Some(()) = self.interrupt.recv() => Some(Signal::SIGINT),
            Some(()) = self.terminate.recv() => Some(Signal::SIGTERM),
            Some(()) = self.hangup.recv() => Some(Signal::SIGHUP),
            Some(()) = self.quit.recv() => Some(Signal::SIGQUIT),
            () = Self::orphaned(&mut self.parent_poll, self.parent) => Some(Signal::SIGTERM),
            else => None,
        }
    }
}

/// Builds the meter off the main thread (opening NVML can take seconds);
/// cells that start before it is ready carry no energy figures.
fn start_meter(energy: &Energy) -> Arc<OnceLock<Arc<Meter>>> {
    let cell = Arc::new(OnceLock::new());
    if let Energy::On(config) = energy {
        let (cell, config) = (Arc::clone(&cell), config.clone());
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
    /// Energy windows of the executions in flight.
    windows: HashMap<String, Window>,
    /// Executions forwarded while another ran: the kernel takes them in
    /// order, so each one's window opens when the one before it replies.
    queued: VecDeque<String>,
    signer: Signer,
    /// The proxy's own session id, for the messages it creates.
    session: String,
    front: Frontends,
    kernel: Upstream,
    tracker: Tracker,
    recorder: Option<Recorder>,
    /// Cell records waiting for the writes in flight (see `after_writes`).
    records: Vec<CellRecord>,
    /// The execution whose window opens once its request is written.
    opening: Option<String>,
    /// Whether the proxy's own IOPub subscription to the kernel is live.
    upstream_ready: bool,
    /// Subscriptions waiting for `upstream_ready` to be welcomed.
    pending_welcomes: Vec<(ConnId, Bytes)>,
    /// IOPub messages held back until an `execute_reply` has gone out.
    held: Vec<Vec<Bytes>>,
    holding_for: Option<String>,
    hold_deadline: Option<Instant>,
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
                if self.front.iopub.subscribe(conn, topic.clone(), on) && on {
                    if self.upstream_ready {
                        self.welcome(conn, topic);
                    } else {
                        self.pending_welcomes.push((conn, topic));
                    }
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
                    raw.set_metadata(&annotate(metadata, record), &self.signer);
                }
                self.front.shell.send(raw.into_frames());
                if let Some(record) = record {
                    self.record(record);
                }
                if reply_to.is_some() && reply_to == self.holding_for {
                    self.release_held();
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
        if self.meter.get().is_none() {
            return;
        }
        if self.windows.is_empty() && self.opening.is_none() {
            self.opening = Some(msg_id);
        } else {
            self.queued.push_back(msg_id);
        }
    }

    /// Whether work waits for the writes just queued (see `after_writes`).
    fn has_work_after_writes(&self) -> bool {
        self.opening.is_some() || !self.records.is_empty()
    }

    /// What follows the writes just queued, off the frontend's wait: the
    /// energy window of the request just forwarded, and the records for the
    /// recorder thread, whose signing and fsync would otherwise compete
    /// with the kernel and the frontend while the reply is on its way.
    fn after_writes(&mut self) {
        if let (Some(msg_id), Some(meter)) = (self.opening.take(), self.meter.get()) {
            self.windows.insert(msg_id, meter.start(self.kernel_pid));
        }
        self.send_records();
    }

    /// After a reply: the next queued execution's window opens.
    fn open_next(&mut self) {
        let Some(meter) = self.meter.get() else {
            return;
        };
        while let Some(next) = self.queued.pop_front() {
            if self.tracker.is_running(&next) && !self.windows.contains_key(&next) {
                self.windows.insert(next, meter.start(self.kernel_pid));
                return;
            }
        }
    }

    /// The energy figures for an execution that just replied.
    fn energy_of(&mut self, msg_id: &str) -> Option<Value> {
        match &self.energy {
            Energy::Off => None,
            Energy::Broken(why) => Some(serde_json::json!({ "error": why })),
            Energy::On(_) => {
                let report = match self.windows.remove(msg_id) {
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
            if self.tracker.on_iopub(&parent, &header.msg_type, &content)
                && !self.windows.contains_key(&parent)
            {
                if let Some(meter) = self.meter.get() {
                    self.queued.retain(|q| q != &parent);
                    self.windows
                        .insert(parent.clone(), meter.start(self.kernel_pid));
                }
            }
            starts_hold = header.msg_type == "status" && content["execution_state"] == "idle";
        }
        let frames = raw.into_frames();
        if starts_hold && self.held.is_empty() {
            // The reply has not passed yet: keep the idle (and what follows)
            // until it has, so the annotated reply reaches frontends first.
            self.holding_for = Some(parent);
            self.hold_deadline = Some(Instant::now() + HOLD_IDLE_AT_MOST);
        }
        if self.holding_for.is_some() {
            self.held.push(frames);
        } else {
            self.front.iopub.publish(frames);
        }
    }

    fn release_held(&mut self) {
        self.holding_for = None;
        self.hold_deadline = None;
        for frames in std::mem::take(&mut self.held) {
            self.front.iopub.publish(frames);
        }
    }

    fn set_upstream_ready(&mut self) {
        if self.upstream_ready {
            return;
        }
        self.upstream_ready = true;
        for (conn, topic) in std::mem::take(&mut self.pending_welcomes) {
            self.welcome(conn, topic);
        }
    }

    /// JEP 65: tells a new subscriber, and only it, that its subscription
    /// is live.
    fn welcome(&mut self, conn: ConnId, topic: Bytes) {
        let content = serde_json::json!({"subscription": String::from_utf8_lossy(&topic)});
        let ids = if topic.is_empty() {
            vec![]
        } else {
            vec![topic]
        };
        let msg = new_message(
            &self.signer,
            ids,
            "iopub_welcome",
            &self.session,
            b"{}",
            &content,
        );
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
