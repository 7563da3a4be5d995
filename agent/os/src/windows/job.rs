//! Job Objects: a process tree that ends with its last handle, and the
//! kernel's own accounting of the whole tree's CPU time (live and exited
//! members alike), which the energy meter reads.

use std::os::windows::io::AsRawHandle;
use std::process::Child;

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectBasicAccountingInformation,
    JobObjectExtendedLimitInformation, OpenJobObjectW, QueryInformationJobObject,
    SetInformationJobObject, TerminateJobObject, JOBOBJECT_BASIC_ACCOUNTING_INFORMATION,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};

use super::Owned;

/// winnt.h: the right to query a job's accounting.
const JOB_OBJECT_QUERY: u32 = 0x0004;

/// The name of the job that holds the tree started as `pid`, in this
/// session's namespace: the proxy and `monitor` create it, the meter opens it.
pub fn name_for(pid: u32) -> String {
    format!("Local\\venturalitica-tree-{pid}")
}

/// A tree's totals, as the job keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accounting {
    /// User plus kernel CPU time of every process that was ever in the job,
    /// in 100 ns units.
    pub cpu_100ns: u64,
    pub active_processes: u32,
    pub total_processes: u32,
    /// The most committed memory the job's processes held together, bytes.
    pub peak_job_memory: u64,
}

impl Accounting {
    pub fn cpu_seconds(&self) -> f64 {
        self.cpu_100ns as f64 / 1e7
    }
}

/// An open Job Object.
#[derive(Debug)]
pub struct Job {
    handle: Owned,
}

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}

impl Job {
    /// A new job, named so others can open it; with `kill_on_close`, every
    /// process in it ends when the last handle to it closes.
    pub fn create(name: Option<&str>, kill_on_close: bool) -> std::io::Result<Job> {
        let name = name.map(wide);
        let name_ptr = name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr());
        // SAFETY: a null security descriptor is allowed; the name is
        // NUL-terminated and outlives the call.
        let handle = Owned::check(unsafe { CreateJobObjectW(std::ptr::null(), name_ptr) })?;
        let job = Job { handle };
        if kill_on_close {
            let mut limits = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
            limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            // SAFETY: the struct is the one this information class names,
            // and its size is passed with it.
            let ok = unsafe {
                SetInformationJobObject(
                    job.handle.0,
                    JobObjectExtendedLimitInformation,
                    (&raw const limits).cast(),
                    std::mem::size_of_val(&limits) as u32,
                )
            };
            if ok == 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(job)
    }

    /// The job named `name`, opened to read its accounting; `None` when
    /// there is none (a tree this agent did not start).
    pub fn open(name: &str) -> Option<Job> {
        let name = wide(name);
        // SAFETY: the name is NUL-terminated and outlives the call.
        let handle = unsafe { OpenJobObjectW(JOB_OBJECT_QUERY, 0, name.as_ptr()) };
        Owned::check(handle).ok().map(|handle| Job { handle })
    }

    /// Puts `child` (and what it starts from now on) in the job.
    pub fn assign(&self, child: &Child) -> std::io::Result<()> {
        // SAFETY: both handles are open for the duration of the call.
        let ok =
            unsafe { AssignProcessToJobObject(self.handle.0, child.as_raw_handle() as HANDLE) };
        if ok == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Ends every process in the job with `code`.
    pub fn terminate(&self, code: u32) {
        // SAFETY: the handle is open.
        if unsafe { TerminateJobObject(self.handle.0, code) } == 0 {
            tracing::debug!(e = %std::io::Error::last_os_error(), "cannot terminate the job");
        }
    }

    /// The job's totals now.
    pub fn accounting(&self) -> std::io::Result<Accounting> {
        let mut basic = JOBOBJECT_BASIC_ACCOUNTING_INFORMATION::default();
        let mut limits = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
        // SAFETY: each struct is the one its information class names, with
        // its size; a null returned-length pointer is allowed.
        let ok = unsafe {
            QueryInformationJobObject(
                self.handle.0,
                JobObjectBasicAccountingInformation,
                (&raw mut basic).cast(),
                std::mem::size_of_val(&basic) as u32,
                std::ptr::null_mut(),
            ) != 0
                && QueryInformationJobObject(
                    self.handle.0,
                    JobObjectExtendedLimitInformation,
                    (&raw mut limits).cast(),
                    std::mem::size_of_val(&limits) as u32,
                    std::ptr::null_mut(),
                ) != 0
        };
        if !ok {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Accounting {
            cpu_100ns: u64::try_from(basic.TotalUserTime + basic.TotalKernelTime).unwrap_or(0),
            active_processes: basic.ActiveProcesses,
            total_processes: basic.TotalProcesses,
            peak_job_memory: limits.PeakJobMemoryUsed as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_jobs_accounting_counts_its_processes_after_they_exit() {
        let job = Job::create(Some(&name_for(u32::MAX - 7)), true).expect("job");
        // cmd reads its commands from the pipe: it waits until it is in the job.
        let mut child = std::process::Command::new("cmd")
            .args(["/Q", "/K"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("cmd");
        job.assign(&child).expect("assign");
        let mut stdin = child.stdin.take().expect("stdin");
        std::io::Write::write_all(&mut stdin, b"exit 3\r\n").expect("write");
        drop(stdin);
        assert_eq!(child.wait().expect("wait").code(), Some(3));
        let opened = Job::open(&name_for(u32::MAX - 7)).expect("opened by name");
        let totals = opened.accounting().expect("accounting");
        assert_eq!(totals.total_processes, 1);
        assert_eq!(totals.active_processes, 0);
        assert!(Job::open(&name_for(u32::MAX - 8)).is_none());
    }
}
