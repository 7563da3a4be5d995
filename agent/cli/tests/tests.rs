//! The `venturalitica` binary: help text snapshots, exit codes, outputs.
//! The engine's numbers are cross-checked in `tests/` (Python, fairlearn).

#![allow(clippy::unwrap_used)] // a panic is the failure message in a test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_venturalitica"));
    c.env("NO_COLOR", "1");
    c
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A project directory with a small CSV: group b is approved half as often.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pyproject.toml"), "").unwrap();
    let mut csv = String::from("g,target\n");
    for i in 0..40 {
        let (g, approved) = if i < 20 {
            ("a", i % 5 != 0)
        } else {
            ("b", i % 5 < 2)
        };
        csv.push_str(&format!("{g},{}\n", u8::from(approved)));
    }
    std::fs::write(dir.path().join("d.csv"), csv).unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        "- id: di\n  metric_key: disparate_impact\n  operator: '>='\n  threshold: 0.8\n  input.dimension: g\n",
    )
    .unwrap();
    dir
}

#[test]
fn help_is_documentation() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!("help", text(&out));
    let out = bin().args(["enforce", "--help"]).output().unwrap();
    insta::assert_snapshot!("enforce_help", text(&out));
    let out = bin().args(["monitor", "--help"]).output().unwrap();
    insta::assert_snapshot!("monitor_help", text(&out));
    for sub in ["install", "proxy", "attach"] {
        let out = bin().args(["kernel", sub, "--help"]).output().unwrap();
        assert!(out.status.success());
        insta::assert_snapshot!(format!("kernel_{sub}_help"), text(&out));
    }
}

#[test]
fn failing_control_exits_1_with_a_table() {
    let dir = project();
    let out = bin()
        .current_dir(dir.path())
        .args(["enforce", "--data", "d.csv", "--policy", "p.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", err(&out));
    let stdout = text(&out);
    // a: 16/20 = 0.8, b: 8/20 = 0.4, so DI = 0.5.
    assert!(
        stdout.contains("│ di      ┆ disparate_impact ┆ 0.5   ┆"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("FAILED: 0 passed, 1 failed, 0 errors (40 rows"),
        "{stdout}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = bin()
        .args(["enforce", "--policy", "p.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("--data <FILE>"), "{}", err(&out));
    let out = bin().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_policy_exits_2_naming_the_place() {
    let dir = project();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "- id: x\n  metric_key: f1_score\n  operator: '>'\n  threshold: lots\n",
    )
    .unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["enforce", "--data", "d.csv", "--policy", "bad.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        err(&out),
        "error: bad.yaml:4:14: control \"x\": threshold \"lots\" is not a number\n"
    );
}

#[test]
fn verify_without_a_store_exits_2_and_after_enforce_exits_0() {
    let dir = project();
    let out = bin()
        .current_dir(dir.path())
        .arg("verify")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("no .venturalitica/ evidence store here"));
    bin()
        .current_dir(dir.path())
        .args(["enforce", "--data", "d.csv", "--policy", "p.yaml"])
        .output()
        .unwrap();
    let out = bin()
        .current_dir(dir.path())
        .arg("verify")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).starts_with("intact: 1 events, 1 policy copies checked"));
}

#[test]
fn vl_alias_is_the_same_program() {
    let out = Command::new(env!("CARGO_BIN_EXE_vl"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        text(&out),
        format!("venturalitica {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert!(repo().join("README.md").exists());
}
