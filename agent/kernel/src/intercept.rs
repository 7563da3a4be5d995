//! What the proxy learns about each execution, and the cell record it makes.
//!
//! An execution is followed by its `execute_request`'s `msg_id`: the request
//! (cell id, code), IOPub `status: busy` (start), `execute_input` (execution
//! count) and the `execute_reply` (status, end). The record goes into the
//! reply's `metadata.venturalitica` and into the evidence trail as a `cell`
//! event. This module is pure bookkeeping, so it is tested without sockets.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::wire::Header;

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CellStatus {
    Ok,
    Error,
    /// Not run because an earlier cell failed (`stop_on_error`).
    Aborted,
    /// The kernel exited before it replied.
    Died,
}

/// The record of one execution: `metadata.venturalitica` and the `cell`
/// event's payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellRecord {
    /// JupyterLab's cell id (`metadata.cellId` of the request), if sent.
    pub cell_id: Option<String>,
    /// The `execute_request`'s `msg_id`.
    pub msg_id: String,
    /// The frontend session that sent it.
    pub session: String,
    pub execution_count: Option<u64>,
    /// SHA-256 of the code, hex: the code itself stays in the notebook.
    pub code_sha256: String,
    pub silent: bool,
    /// When the kernel went busy for this request (RFC 3339, UTC).
    pub start: String,
    /// When its reply passed the proxy.
    pub end: String,
    pub duration_s: f64,
    pub status: CellStatus,
    /// The exception name when `status` is `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ename: Option<String>,
    /// Energy figures, filled in by the energy meter when one runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy: Option<Value>,
}

#[derive(Debug)]
struct Execution {
    cell_id: Option<String>,
    session: String,
    code_sha256: String,
    silent: bool,
    start: (DateTime<Utc>, Instant),
    busy_seen: bool,
    execution_count: Option<u64>,
    /// Set by an `error` output (passive mode only).
    ename: Option<String>,
}

/// Executions in flight, keyed by request `msg_id`.
#[derive(Debug, Default)]
pub struct Tracker {
    running: HashMap<String, Execution>,
}

impl Tracker {
    /// An `execute_request` went to the kernel.
    pub fn on_request(&mut self, msg_id: &str, session: &str, metadata: &Value, content: &Value) {
        let code = content.get("code").and_then(Value::as_str).unwrap_or("");
        let cell_id = metadata
            .get("cellId")
            .or_else(|| metadata.get("cell_id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        self.running.insert(
            msg_id.to_string(),
            Execution {
                cell_id,
                session: session.to_string(),
                code_sha256: hex::encode(Sha256::digest(code.as_bytes())),
                silent: content.get("silent").and_then(Value::as_bool) == Some(true),
                start: (Utc::now(), Instant::now()),
                busy_seen: false,
                execution_count: None,
                ename: None,
            },
        );
    }

    /// Whether `msg_id` is an execution in flight.
    pub fn is_running(&self, msg_id: &str) -> bool {
        self.running.contains_key(msg_id)
    }

    /// An IOPub message whose parent is `parent_id` came from the kernel;
    /// `true` when it started the execution (its first `busy`).
    pub fn on_iopub(&mut self, parent_id: &str, msg_type: &str, content: &Value) -> bool {
        let Some(exec) = self.running.get_mut(parent_id) else {
            return false;
        };
        match msg_type {
            "status" if content["execution_state"] == "busy" && !exec.busy_seen => {
                exec.busy_seen = true;
                exec.start = (Utc::now(), Instant::now());
                true
            }
            "execute_input" => {
                exec.execution_count = content["execution_count"].as_u64();
                false
            }
            _ => false,
        }
    }

    /// The `execute_reply` for `parent_id` came from the kernel: the record,
    /// or `None` for a reply to a request the proxy did not see.
    pub fn on_reply(&mut self, parent_id: &str, content: &Value) -> Option<CellRecord> {
        let exec = self.running.remove(parent_id)?;
        let status = match content["status"].as_str() {
            Some("ok") => CellStatus::Ok,
            Some("aborted") => CellStatus::Aborted,
            _ => CellStatus::Error,
        };
        let ename = (status == CellStatus::Error)
            .then(|| content["ename"].as_str().map(str::to_string))
            .flatten();
        let count = content["execution_count"].as_u64().or(exec.execution_count);
        Some(finish(parent_id, exec, status, ename, count))
    }

    /// Passive mode (`kernel attach`): follows an execution from IOPub alone.
    ///
    /// `busy` starts it, `execute_input` gives the code and count, an `error`
    /// output marks it failed, and `idle` ends it with the record.
    pub fn observe(
        &mut self,
        parent: &Header,
        msg_type: &str,
        content: &Value,
    ) -> Option<CellRecord> {
        if parent.msg_type != "execute_request" {
            return None;
        }
        let id = parent.msg_id.as_str();
        match (msg_type, content["execution_state"].as_str()) {
            ("status", Some("busy")) => {
                self.on_request(id, &parent.session, &Value::Null, &Value::Null);
                self.on_iopub(id, "status", content);
                None
            }
            ("execute_input", _) => {
                let exec = self.running.get_mut(id)?;
                let code = content["code"].as_str().unwrap_or("");
                exec.code_sha256 = hex::encode(Sha256::digest(code.as_bytes()));
                exec.execution_count = content["execution_count"].as_u64();
                None
            }
            ("error", _) => {
                let exec = self.running.get_mut(id)?;
                exec.ename = content["ename"]
                    .as_str()
                    .map(str::to_string)
                    .or(Some(String::new()));
                None
            }
            ("status", Some("idle")) => {
                let exec = self.running.remove(id)?;
                let (status, ename) = match exec.ename.clone() {
                    Some(e) => (CellStatus::Error, Some(e).filter(|e| !e.is_empty())),
                    None => (CellStatus::Ok, None),
                };
                let count = exec.execution_count;
                Some(finish(id, exec, status, ename, count))
            }
            _ => None,
        }
    }

    /// The kernel is gone: every execution in flight ends as `died`.
    pub fn drain_died(&mut self) -> Vec<CellRecord> {
        let mut out: Vec<CellRecord> = self
            .running
            .drain()
            .map(|(id, exec)| {
                let count = exec.execution_count;
                finish(&id, exec, CellStatus::Died, None, count)
            })
            .collect();
        out.sort_by(|a, b| a.start.cmp(&b.start));
        out
    }
}

fn finish(
    msg_id: &str,
    exec: Execution,
    status: CellStatus,
    ename: Option<String>,
    execution_count: Option<u64>,
) -> CellRecord {
    let (start, started) = exec.start;
    let duration = started.elapsed();
    let end = start + chrono::Duration::from_std(duration).unwrap_or_default();
    CellRecord {
        cell_id: exec.cell_id,
        msg_id: msg_id.to_string(),
        session: exec.session,
        execution_count,
        code_sha256: exec.code_sha256,
        silent: exec.silent,
        start: start.to_rfc3339_opts(SecondsFormat::Micros, true),
        end: end.to_rfc3339_opts(SecondsFormat::Micros, true),
        duration_s: duration.as_secs_f64(),
        status,
        ename,
        energy: None,
    }
}

/// `metadata` with `venturalitica` set to `record`.
pub fn annotate(metadata: Value, record: &CellRecord) -> Vec<u8> {
    /// The reply's metadata with the record beside its keys, serialized
    /// straight from the record: no copy of its energy figures on the
    /// reply's way.
    #[derive(serde::Serialize)]
    struct Annotated<'a> {
        #[serde(flatten)]
        rest: &'a serde_json::Map<String, Value>,
        venturalitica: &'a CellRecord,
    }
    let mut rest = match metadata {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    rest.remove("venturalitica");
    serde_json::to_vec(&Annotated {
        rest: &rest,
        venturalitica: record,
    })
    .unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn follows_one_execution() {
        let mut t = Tracker::default();
        t.on_request(
            "m1",
            "s1",
            &json!({"cellId": "c-1"}),
            &json!({"code": "1+1", "silent": false}),
        );
        t.on_iopub("m1", "status", &json!({"execution_state": "busy"}));
        t.on_iopub("m1", "execute_input", &json!({"execution_count": 4}));
        t.on_iopub("other", "execute_input", &json!({"execution_count": 9}));
        let r = t
            .on_reply("m1", &json!({"status": "error", "ename": "ValueError"}))
            .expect("tracked");
        assert_eq!(r.cell_id.as_deref(), Some("c-1"));
        assert_eq!(r.execution_count, Some(4));
        assert_eq!(r.status, CellStatus::Error);
        assert_eq!(r.ename.as_deref(), Some("ValueError"));
        // sha256("1+1"), from `printf 1+1 | sha256sum`.
        assert_eq!(
            r.code_sha256,
            "4a1b21d876ae00c8ed5c4d1cde09c61f8a61b50fe370a801b10c339831f370ab"
        );
        assert!(r.duration_s >= 0.0);
        assert!(!t.is_running("m1"));
        assert!(t.on_reply("m1", &json!({"status": "ok"})).is_none());
    }

    #[test]
    fn observes_from_iopub_alone() {
        let mut t = Tracker::default();
        let parent = Header {
            msg_id: "p".into(),
            msg_type: "execute_request".into(),
            session: "s".into(),
        };
        assert!(t
            .observe(&parent, "status", &json!({"execution_state": "busy"}))
            .is_none());
        t.observe(
            &parent,
            "execute_input",
            &json!({"code": "1+1", "execution_count": 7}),
        );
        t.observe(&parent, "error", &json!({"ename": "ZeroDivisionError"}));
        let r = t
            .observe(&parent, "status", &json!({"execution_state": "idle"}))
            .expect("ended");
        assert_eq!(r.execution_count, Some(7));
        assert_eq!(r.status, CellStatus::Error);
        assert_eq!(r.ename.as_deref(), Some("ZeroDivisionError"));
        assert_eq!(r.code_sha256, hex::encode(Sha256::digest(b"1+1")));
        let kernel_info = Header {
            msg_type: "kernel_info_request".into(),
            ..parent
        };
        assert!(t
            .observe(&kernel_info, "status", &json!({"execution_state": "busy"}))
            .is_none());
        assert!(!t.is_running("p"));
    }

    #[test]
    fn kernel_death_ends_running_cells() {
        let mut t = Tracker::default();
        t.on_request(
            "a",
            "s",
            &json!({}),
            &json!({"code": "import os; os._exit(1)"}),
        );
        let died = t.drain_died();
        assert_eq!(died.len(), 1);
        assert_eq!(died[0].status, CellStatus::Died);
        assert_eq!(died[0].cell_id, None);
    }

    #[test]
    fn annotate_keeps_existing_metadata() {
        let mut t = Tracker::default();
        t.on_request("a", "s", &json!({}), &json!({"code": ""}));
        let r = t.on_reply("a", &json!({"status": "ok"})).expect("tracked");
        let m: Value = serde_json::from_slice(&annotate(
            json!({"started": "x", "venturalitica": "the kernel's own"}),
            &r,
        ))
        .expect("json");
        assert_eq!(m["started"], "x");
        assert_eq!(
            m["venturalitica"],
            serde_json::to_value(&r).expect("record")
        );
        assert_eq!(m["venturalitica"]["status"], "ok");
        assert_eq!(m["venturalitica"]["msg_id"], "a");
    }
}
