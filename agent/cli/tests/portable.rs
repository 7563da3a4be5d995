//! What must hold on every OS the agent ships for: these run on Linux with
//! the rest, and under wine for the Windows build (scripts/cross.sh).

use std::process::Stdio;

use super::{bin, err, project, repo, text};

/// The loan tutorial's policy on German Credit gives the reference
/// disparate impacts (the Python tests cross-check them with fairlearn).
#[test]
fn enforce_on_german_credit_gives_the_reference_values() {
    let Some(csv) = std::env::var_os("VL_CREDIT_CSV") else {
        panic!("VL_CREDIT_CSV is not set; scripts/test.sh and scripts/cross.sh fetch the data");
    };
    let dir = project();
    let out = bin()
        .current_dir(dir.path())
        .args(["enforce", "--format", "json", "--target", "class", "--data"])
        .arg(&csv)
        .arg("--policy")
        .arg(repo().join("notebooks/data_policy.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", err(&out));
    let doc: serde_json::Value = serde_json::from_str(&text(&out)).unwrap();
    let control = |id: &str| {
        doc["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    let gender = control("credit-gender-disparity");
    let age = control("credit-age-disparity");
    assert!(
        (gender["actual_value"].as_f64().unwrap() - 0.8966).abs() < 5e-5,
        "{gender}"
    );
    assert!(
        (age["actual_value"].as_f64().unwrap() - 0.7948).abs() < 5e-5,
        "{age}"
    );
    assert_eq!(
        (&gender["status"], &age["status"]),
        (&"pass".into(), &"fail".into())
    );
    assert_eq!(doc["data"]["rows"], 1000);
}

/// `monitor` measures a command's tree with this OS's accounting (Unix
/// `getrusage`, a Windows job) and records it; the figure is real CPU time.
#[test]
fn monitor_measures_a_commands_cpu_time_and_records_it() {
    let dir = project();
    // The agent itself is the workload: the same program on every OS.
    let out = bin()
        .current_dir(dir.path())
        .args(["monitor", "--json", "--name", "burn", "--"])
        .arg(env!("CARGO_BIN_EXE_venturalitica"))
        .args([
            "enforce",
            "--format",
            "json",
            "--data",
            "d.csv",
            "--policy",
            "p.yaml",
            "--no-record",
        ])
        .env("VENTURALITICA_CONFIG_DIR", super::config().path())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&err(&out)).unwrap_or_else(|e| {
        panic!("{e}: {}", err(&out));
    });
    let cpu_s = report["cpu_s"].as_f64().unwrap();
    let wall_s = report["wall_s"].as_f64().unwrap();
    // The machine's CPUs as the meter counts them, which a container's CPU
    // quota (what available_parallelism reports) may undercount.
    let cpus = report["basis"]["logical_cpus"]
        .as_f64()
        .unwrap()
        .max(std::thread::available_parallelism().unwrap().get() as f64);
    // Starting a process and reading a CSV takes CPU, and no more than
    // every CPU for the whole wall time.
    assert!(cpu_s > 0.0 && cpu_s <= wall_s * cpus + 0.02, "{report}");
    assert_eq!(report["cpu"]["method"], "tdp-model", "{report}");
    verifies_with_events(dir.path(), 1);
}

/// `verify` passes on the trail under `dir`, which holds `events` events.
fn verifies_with_events(dir: &std::path::Path, events: usize) {
    let verify = bin().current_dir(dir).arg("verify").output().unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", err(&verify));
    let said = text(&verify);
    assert!(said.contains(&format!(" {events} events,")), "{said}");
}

/// `enforce` of the project's policy on its data, recorded; the control
/// fails (exit 1), which is what the tests want recorded.
fn enforce(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = bin();
    cmd.current_dir(dir)
        .args(["enforce", "--data", "d.csv", "--policy", "p.yaml"]);
    cmd
}

/// Processes appending to one trail at once (the lock and the atomic
/// renames under each OS's file rules) leave every event, in one chain.
#[test]
fn concurrent_writers_leave_one_trail_that_verifies() {
    let dir = project();
    let writers: Vec<_> = (0..4)
        .map(|_| {
            enforce(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for w in writers {
        let out = w.wait_with_output().unwrap();
        // The control fails (exit 1): what matters is that it was recorded.
        assert_eq!(out.status.code(), Some(1), "{}", err(&out));
    }
    verifies_with_events(dir.path(), 4);
    // The scan reads the same trail: one control, failed, blocking.
    let scan = bin()
        .current_dir(dir.path())
        .args(["scan", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(scan.status.code(), Some(1), "{}", err(&scan));
    let report: serde_json::Value = serde_json::from_str(&text(&scan)).unwrap();
    assert_eq!(report["passed"], false, "{report}");
    assert_eq!(
        report["controls"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
}

/// A trail's lines end in `\n` on every OS, so one written on Windows
/// verifies byte for byte on Linux and the other way round.
#[test]
fn the_trail_is_written_with_unix_line_endings() {
    let dir = project();
    let out = enforce(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", err(&out));
    let trail = std::fs::read(dir.path().join(".venturalitica/trace.jsonl")).unwrap();
    assert!(trail.ends_with(b"\n") && !trail.contains(&b'\r'));
}
