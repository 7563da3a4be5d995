//! Windows: a Job Object per kernel tree, Jupyter's interrupt event, ACLs.
//!
//! Jupyter on Windows does not signal a kernel: `jupyter_client` hands the
//! process it starts two inheritable handles, an event it sets to interrupt
//! (`JPY_INTERRUPT_EVENT`) and a handle of the server's own process
//! (`JPY_PARENT_PID`), and ipykernel waits on both. The proxy is that
//! process: it waits on the two it was given and hands its kernel a pair of
//! its own.
#![allow(unsafe_code)] // Win32 calls; each block says what it relies on.

pub mod job;
pub mod private;

use std::os::windows::io::AsRawHandle;
use std::os::windows::process::CommandExt;
use std::process::{Child, Command, ExitStatus};

use tokio::sync::mpsc;
use windows_sys::Win32::Foundation::{
    CloseHandle, DuplicateHandle, DUPLICATE_SAME_ACCESS, HANDLE, WAIT_OBJECT_0,
};
use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;
use windows_sys::Win32::System::Threading::{
    CreateEventW, GetCurrentProcess, GetExitCodeProcess, SetEvent, WaitForSingleObject,
    CREATE_NEW_PROCESS_GROUP, INFINITE,
};

use crate::{Notice, TreeUsage};
use job::Job;

/// An owned kernel handle, closed on drop.
#[derive(Debug)]
pub(crate) struct Owned(pub(crate) HANDLE);

// SAFETY: a Win32 kernel-object handle may be used and closed from any
// thread; `Owned` is its only owner.
unsafe impl Send for Owned {}
unsafe impl Sync for Owned {}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: the handle is open and owned by this value alone.
        unsafe { CloseHandle(self.0) };
    }
}

impl Owned {
    /// A handle from a Win32 call that returns null on failure.
    pub(crate) fn check(handle: HANDLE) -> std::io::Result<Owned> {
        if handle.is_null() {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(Owned(handle))
        }
    }

    /// A copy of `handle` (of this process) that child processes inherit.
    fn inheritable(handle: HANDLE) -> std::io::Result<Owned> {
        let mut out: HANDLE = std::ptr::null_mut();
        // SAFETY: both process handles are this process's pseudo-handle;
        // `handle` is open for the duration of the call.
        let ok = unsafe {
            DuplicateHandle(
                GetCurrentProcess(),
                handle,
                GetCurrentProcess(),
                &mut out,
                0,
                1,
                DUPLICATE_SAME_ACCESS,
            )
        };
        if ok == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Owned(out))
    }

    /// The handle's value as Jupyter writes it into the environment.
    fn env_value(&self) -> String {
        (self.0 as usize).to_string()
    }
}

/// An auto-reset event a child inherits, as `jupyter_client` makes it.
fn interrupt_event() -> std::io::Result<Owned> {
    let inherit = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: std::ptr::null_mut(),
        bInheritHandle: 1,
    };
    // SAFETY: the attributes live through the call; a null name is allowed.
    Owned::check(unsafe { CreateEventW(&inherit, 0, 0, std::ptr::null()) })
}

/// A child in a Job Object that ends its whole tree when this process ends
/// (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`: the last handle closes with us,
/// however we die). The job is named after the child's pid
/// ([`job::name_for`]) so the energy meter can read its accounting.
#[derive(Debug)]
pub struct TiedChild {
    child: Child,
    job: Job,
    interrupt: Owned,
    /// Kept open: the child waits on our process through its copy.
    _parent: Owned,
}

impl TiedChild {
    /// Starts `cmd` in a new process group (a console Ctrl-C then reaches
    /// only what the proxy passes on) with Jupyter's interrupt event and
    /// parent handle, and puts it in its job.
    ///
    /// A process the child starts before it joins the job (microseconds
    /// after `spawn`; ipykernel starts none that early) stays outside.
    pub fn spawn(cmd: &mut Command) -> std::io::Result<TiedChild> {
        let interrupt = interrupt_event()?;
        // SAFETY: GetCurrentProcess returns a pseudo-handle; nothing to free.
        let parent = Owned::inheritable(unsafe { GetCurrentProcess() })?;
        cmd.creation_flags(CREATE_NEW_PROCESS_GROUP)
            .env("JPY_INTERRUPT_EVENT", interrupt.env_value())
            .env("IPY_INTERRUPT_EVENT", interrupt.env_value())
            .env("JPY_PARENT_PID", parent.env_value());
        let mut child = cmd.spawn()?;
        let job = match Job::create(Some(&job::name_for(child.id())), true)
            .and_then(|job| job.assign(&child).map(|()| job))
        {
            Ok(job) => job,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(TiedChild {
            child,
            job,
            interrupt,
            _parent: parent,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Interrupts through the event; terminates the job. SIGHUP and SIGQUIT
    /// have no Windows counterpart: logged and dropped.
    pub fn deliver(&self, notice: Notice) {
        match notice {
            Notice::Interrupt => {
                // SAFETY: the event is open for as long as `self`.
                if unsafe { SetEvent(self.interrupt.0) } == 0 {
                    tracing::debug!(e = %std::io::Error::last_os_error(), "interrupt not delivered");
                }
            }
            Notice::Terminate => self.job.terminate(1),
            Notice::Hangup | Notice::Quit => {
                tracing::debug!(?notice, "no Windows counterpart: not passed on");
            }
        }
    }

    /// What waits for the child's exit, on another thread.
    pub fn waiter(&self) -> std::io::Result<Waiter> {
        Ok(Waiter {
            process: Owned::inheritable(self.child.as_raw_handle() as HANDLE)?,
        })
    }
}

/// Waits for a [`TiedChild`] to exit.
#[derive(Debug)]
pub struct Waiter {
    process: Owned,
}

impl Waiter {
    /// Blocks until the child exits; its exit code.
    pub fn wait(self) -> i32 {
        let mut code = 1u32;
        // SAFETY: the handle is open; `code` outlives the call.
        unsafe {
            if WaitForSingleObject(self.process.0, INFINITE) != WAIT_OBJECT_0
                || GetExitCodeProcess(self.process.0, &mut code) == 0
            {
                return 1;
            }
        }
        code as i32
    }
}

/// A command run to the end with its whole tree's resource use counted
/// (`monitor`): a Job Object named after it, whose accounting the energy
/// meter reads while it runs and this reads at the end.
#[derive(Debug)]
pub struct AccountedChild {
    child: Child,
    job: Job,
}

impl AccountedChild {
    pub fn spawn(cmd: &mut Command) -> std::io::Result<AccountedChild> {
        let mut child = cmd.spawn()?;
        match Job::create(Some(&job::name_for(child.id())), false)
            .and_then(|job| job.assign(&child).map(|()| job))
        {
            Ok(job) => Ok(AccountedChild { child, job }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the command; its status and what its tree used: the job's
    /// totals, and never less than the command's own process times (which
    /// the job includes; wine, for one, keeps no job CPU times).
    pub fn wait(mut self) -> std::io::Result<(ExitStatus, TreeUsage)> {
        let status = self.child.wait()?;
        let totals = self.job.accounting()?;
        let own =
            process_cpu_100ns(std::os::windows::io::AsHandle::as_handle(&self.child)).unwrap_or(0);
        Ok((
            status,
            TreeUsage {
                cpu_seconds: totals.cpu_100ns.max(own) as f64 / 1e7,
                peak_memory_bytes: totals.peak_job_memory,
            },
        ))
    }
}

/// User plus kernel time of a process (live or exited, while its handle is
/// open), 100 ns units.
pub fn process_cpu_100ns(process: std::os::windows::io::BorrowedHandle<'_>) -> Option<u64> {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Foundation::FILETIME;
    use windows_sys::Win32::System::Threading::GetProcessTimes;
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: the handle is open; every out-pointer outlives the call.
    let ok = unsafe {
        GetProcessTimes(
            process.as_raw_handle() as HANDLE,
            &mut created,
            &mut exited,
            &mut kernel,
            &mut user,
        )
    };
    let ticks = |t: FILETIME| (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime);
    (ok != 0).then(|| ticks(kernel) + ticks(user))
}

/// Puts a background helper (the exporter) in its own process group, so a
/// console Ctrl-C does not reach it.
/// The calling thread in background mode (lower CPU, I/O and memory
/// priority: `THREAD_MODE_BACKGROUND_BEGIN`).
#[allow(unsafe_code)]
pub fn background_thread() -> std::io::Result<()> {
    use windows_sys::Win32::System::Threading::{
        GetCurrentThread, SetThreadPriority, THREAD_MODE_BACKGROUND_BEGIN,
    };
    // SAFETY: the pseudo-handle of the calling thread needs no closing.
    let ok = unsafe { SetThreadPriority(GetCurrentThread(), THREAD_MODE_BACKGROUND_BEGIN) };
    if ok != 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub fn detach(cmd: &mut Command) -> &mut Command {
    cmd.creation_flags(CREATE_NEW_PROCESS_GROUP)
}

/// Runs `cmd` in this process's stead: Windows has no `exec`, so it is
/// spawned and waited for, and its exit code returned. (A console's Ctrl-C
/// reaches both; this process dies of it, the child handles its own.)
pub fn hand_over(cmd: &mut Command, _arg0: &std::ffi::OsStr) -> std::io::Result<i32> {
    Ok(exit_code(cmd.status()?))
}

/// The exit code (Windows has no signals: the code the process set, or the
/// one its killer gave).
pub fn exit_code(status: ExitStatus) -> i32 {
    status.code().unwrap_or(1)
}

/// `MoveFileExW` refuses while the target is being replaced or is open
/// without `FILE_SHARE_DELETE`: "access denied", which passes.
pub(crate) fn transient_replace_error(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::PermissionDenied
}

/// Chromium's sandbox only has to be turned off for root on Linux.
pub fn is_superuser() -> bool {
    false
}

/// Ctrl-C and Ctrl-Break at a console, the interrupt event and the parent
/// handle `jupyter_client` gave this process, as [`Notice`]s.
#[derive(Debug)]
pub struct Notices {
    ctrl_c: tokio::signal::windows::CtrlC,
    ctrl_break: tokio::signal::windows::CtrlBreak,
    from_jupyter: mpsc::UnboundedReceiver<Notice>,
}

impl Notices {
    /// Installs the handlers (inside a tokio runtime) and starts one thread
    /// per handle Jupyter passed (each waits on its handle, costing nothing).
    pub fn new() -> std::io::Result<Notices> {
        let (tx, from_jupyter) = mpsc::unbounded_channel();
        if let Some(event) = handle_from_env("JPY_INTERRUPT_EVENT") {
            wait_on(event, Notice::Interrupt, true, tx.clone());
        }
        if let Some(parent) = handle_from_env("JPY_PARENT_PID") {
            wait_on(parent, Notice::Terminate, false, tx.clone());
        }
        // And the process that started this one (`python -m
        // venturalitica.kernel`, which Jupyter kills as a last resort), as
        // the Unix side polls getppid().
        if let Some(parent) = own_parent() {
            // Never closed: the watching thread holds it for good.
            let handle = parent.0;
            std::mem::forget(parent);
            wait_on(handle, Notice::Terminate, false, tx);
        }
        Ok(Notices {
            ctrl_c: tokio::signal::windows::ctrl_c()?,
            ctrl_break: tokio::signal::windows::ctrl_break()?,
            from_jupyter,
        })
    }

    /// Ctrl-C and Ctrl-Break only: for a command the user stops by hand.
    pub fn stop_only() -> std::io::Result<Notices> {
        Ok(Notices {
            ctrl_c: tokio::signal::windows::ctrl_c()?,
            ctrl_break: tokio::signal::windows::ctrl_break()?,
            from_jupyter: mpsc::unbounded_channel().1,
        })
    }

    /// The next notice to pass on.
    pub async fn next(&mut self) -> Option<Notice> {
        tokio::select! {
            Some(()) = self.ctrl_c.recv() => Some(Notice::Interrupt),
            Some(()) = self.ctrl_break.recv() => Some(Notice::Terminate),
            Some(n) = self.from_jupyter.recv() => Some(n),
            else => None,
        }
    }
}

/// Every process's (pid, parent pid), from a Toolhelp snapshot; empty when
/// no snapshot can be taken.
pub fn parent_links() -> Vec<(u32, u32)> {
    use windows_sys::Win32::System::Diagnostics::ToolHelp::{
        CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W,
        TH32CS_SNAPPROCESS,
    };
    // SAFETY: the snapshot is checked and closed by `Owned`; the entry's
    // size is set before the first call, as the API requires.
    unsafe {
        let snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
        if snapshot == windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE {
            return Vec::new();
        }
        let snapshot = Owned(snapshot);
        let mut entry: PROCESSENTRY32W = std::mem::zeroed();
        entry.dwSize = std::mem::size_of::<PROCESSENTRY32W>() as u32;
        let mut out = Vec::new();
        let mut more = Process32FirstW(snapshot.0, &mut entry) != 0;
        while more {
            out.push((entry.th32ProcessID, entry.th32ParentProcessID));
            more = Process32NextW(snapshot.0, &mut entry) != 0;
        }
        out
    }
}

/// This process's parent, opened to wait on; `None` when it is already gone.
fn own_parent() -> Option<Owned> {
    use windows_sys::Win32::System::Threading::{OpenProcess, PROCESS_SYNCHRONIZE};
    let me = std::process::id();
    let (_, parent) = parent_links().into_iter().find(|(pid, _)| *pid == me)?;
    // SAFETY: null on failure, checked by `Owned::check`.
    Owned::check(unsafe { OpenProcess(PROCESS_SYNCHRONIZE, 0, parent) }).ok()
}

/// A handle an inheriting parent wrote as a decimal number into `var`.
fn handle_from_env(var: &str) -> Option<HANDLE> {
    let value: usize = std::env::var(var).ok()?.trim().parse().ok()?;
    (value != 0).then_some(value as HANDLE)
}

/// Sends `notice` each time `handle` is signalled (an auto-reset event), or
/// once (a process that ended).
fn wait_on(handle: HANDLE, notice: Notice, repeat: bool, tx: mpsc::UnboundedSender<Notice>) {
    let handle = handle as usize; // a number crosses threads; HANDLE does not
    let spawned = std::thread::Builder::new()
        .name(format!("vl-{notice:?}-watch").to_lowercase())
        .spawn(move || loop {
            // SAFETY: the handle was inherited open and is never closed here.
            let woke = unsafe { WaitForSingleObject(handle as HANDLE, INFINITE) };
            if woke != WAIT_OBJECT_0 {
                tracing::warn!(?notice, "cannot wait on the handle Jupyter passed");
                return;
            }
            if tx.send(notice).is_err() || !repeat {
                return;
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(%e, "cannot watch the handle Jupyter passed");
    }
}
