//! The `venturalitica` binary: help text snapshots, exit codes, outputs.
//! The engine's numbers are cross-checked in `tests/` (Python, fairlearn).

#![allow(clippy::unwrap_used)] // a panic is the failure message in a test

mod portable;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The binary, with a signing-key directory of the tests' own (never the
/// user's config directory).
fn bin() -> Command {
    let config = config();
    let mut c = Command::new(env!("CARGO_BIN_EXE_venturalitica"));
    c.env("NO_COLOR", "1")
        .env("VENTURALITICA_CONFIG_DIR", config.path())
        .env_remove("VENTURALITICA_SIGNING_KEY")
        .env_remove("VENTURALITICA_SIGNING_KEY_FILE")
        // Pinned energy sources: the same figures on any host.
        .env(
            "VENTURALITICA_POWERCAP_ROOT",
            config.path().join("no-powercap"),
        )
        .env("VENTURALITICA_GPU", "off");
    c
}

/// The tests' configuration directory (their signing key).
fn config() -> &'static tempfile::TempDir {
    static CONFIG: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    CONFIG.get_or_init(|| tempfile::tempdir().unwrap())
}

fn repo() -> PathBuf {
    // Read at run time (cargo test sets it): a test binary reused from a
    // target dir shared with another clone would carry that clone's path.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../..")
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
    let report = text(&out);
    let lines: Vec<&str> = report.lines().collect();
    assert!(lines[0].starts_with("signed by ed25519:"), "{report}");
    assert!(
        lines[0].ends_with("1 event(s), 1–1; not checked against a trusted key (--trusted-key)"),
        "{report}"
    );
    assert!(
        lines[1].starts_with("intact: 1 events, 1 policy copies checked"),
        "{report}"
    );
    assert!(lines[1].contains("; head 1:"), "{report}");
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

/// Every file under `tests/fixtures/malformed/<kind>/` (hand-made cases and
/// the crashes `bench/fuzz.sh` found): `enforce` exits 2 naming the file, or
/// 1 with an `error` result; never 0, never a panic (101).
#[test]
fn malformed_policies_and_data_never_crash() {
    let dir = project();
    let corpus = repo().join("tests/fixtures/malformed");
    let mut problems = Vec::new();
    let mut seen = 0;
    for kind in ["policy", "csv", "parquet", "ipc"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(corpus.join(kind))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            seen += 1;
            let (data, policy) = if kind == "policy" {
                (dir.path().join("d.csv"), file.clone())
            } else {
                (file.clone(), dir.path().join("p.yaml"))
            };
            let out = bin()
                .current_dir(dir.path())
                .arg("enforce")
                .arg("--data")
                .arg(&data)
                .arg("--policy")
                .arg(&policy)
                .args(if kind == "policy" {
                    vec![]
                } else {
                    vec!["--target", "y"]
                })
                .args(["--format", "json", "--no-record"])
                .output()
                .unwrap();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let verdict = match out.status.code() {
                Some(2) if err(&out).contains(&name) => None,
                Some(2) => Some(format!("exit 2 without naming the file: {}", err(&out))),
                Some(1) => {
                    let results: serde_json::Value =
                        serde_json::from_str(&text(&out)).unwrap_or_default();
                    let errored = results["controls"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|c| c["status"] == "error"));
                    (!errored).then(|| format!("exit 1 without an error result: {}", text(&out)))
                }
                code => Some(format!("exit {code:?}: {}", err(&out))),
            };
            if let Some(v) = verdict {
                problems.push(format!("{kind}/{name}: {v}"));
            }
        }
    }
    assert!(seen >= 30, "the corpus is missing ({seen} files)");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Cells as the proxy records them, appended through the store's own path
/// with the key the binary signs with.
fn append_cells(root: &std::path::Path, from: u64, n: u64) {
    use venturalitica_evidence::{EventKind, EvidenceKey, Signing, Store};
    let key = EvidenceKey::load_or_create(config().path()).unwrap();
    let store = Store::open(root)
        .unwrap()
        .with_signing(Signing::Key(std::sync::Arc::new(key)));
    let cells = (from..from + n)
        .map(|i| {
            serde_json::json!({"execution_count": i, "duration_s": 0.25 + (i % 7) as f64, "status": "ok",
                "notebook": format!("nb{}.ipynb", i % 3), "kernel": "python3",
                "energy": {"total_j": 1.0 + i as f64, "total_low_j": 0.5, "total_high_j": 2.0 + i as f64,
                           "wall_s": 0.25, "cpu": {"joules": 1.0, "method": "tdp-model"}, "ram": {"joules": 0.1},
                           "co2e_g": 0.001, "peak_rss_bytes": 1000 + i,
                           "basis": {"grid": {"code": "FRA", "g_per_kwh": 56.0}}}})
        })
        .collect::<Vec<_>>();
    // As the kernel's recorder does: the session's basis kept once.
    let mut known = std::collections::HashSet::new();
    let cells = cells
        .into_iter()
        .map(|mut c| {
            store.move_basis_out(&mut c, &mut known);
            c
        })
        .collect();
    store.append_all(EventKind::Cell, cells).unwrap();
}

/// GET `path` from a local server, the body.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    body.to_string()
}

/// The dashboard's pages, served over `root` with `checkpoint` set.
fn dashboard(root: &std::path::Path, checkpoint: &str, paths: &[String]) -> Vec<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = bin()
        .env("VENTURALITICA_CHECKPOINT", checkpoint)
        .args(["ui", "--port", &port.to_string(), "--root"])
        .arg(root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "ui did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pages = paths.iter().map(|p| http_get(port, p)).collect();
    server.kill().unwrap();
    server.wait().unwrap();
    pages
}

/// The overview's "; from the signed checkpoint at event N", if shown.
fn checkpoint_note(page: &str) -> Option<String> {
    const NOTE: &str = "; from the signed checkpoint at event ";
    let start = page.find(NOTE)?;
    let digits = page[start + NOTE.len()..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    Some(page[start..start + NOTE.len() + digits].to_string())
}

/// What differs between two runs over the same trail: the time a report
/// was made. Any RFC 3339 time (`YYYY-MM-DDT...`), whatever the year.
fn timeless(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rfc3339_start(rest) {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '.' | '+')))
            .map_or(rest.len(), |n| i + n);
        out.push_str("<time>");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Where the first `DDDD-DD-DDT` in `text` starts.
fn rfc3339_start(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(10)).find(|&i| {
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        digits(i..i + 4)
            && b[i + 4] == b'-'
            && digits(i + 5..i + 7)
            && b[i + 7] == b'-'
            && digits(i + 8..i + 10)
            && b[i + 10] == b'T'
    })
}

#[test]
fn timeless_masks_a_time_of_any_year() {
    assert_eq!(
        timeless("made 2031-01-02T03:04:05.678Z, seq 2026; 1999-12-31T23:59:59+01:00 end"),
        "made <time>, seq 2026; <time> end"
    );
}

#[test]
fn readers_say_the_same_from_a_checkpoint_as_from_the_whole_trail() {
    let dir = project();
    let root = dir.path();
    let enforce = || {
        let out = bin()
            .current_dir(root)
            .args([
                "enforce", "--data", "d.csv", "--policy", "p.yaml", "--target", "target",
            ])
            .output()
            .unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", err(&out));
    };
    enforce();
    append_cells(root, 1, 400);
    enforce();
    append_cells(root, 401, 300);
    // The first reader with checkpoints on writes one (700 events > 200).
    let verify = |checkpoint: &str, full: bool| {
        let mut c = bin();
        c.current_dir(root)
            .env("VENTURALITICA_CHECKPOINT", checkpoint)
            .args(["verify", "--json"]);
        if full {
            c.arg("--full");
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}{}", text(&out), err(&out));
        serde_json::from_str::<serde_json::Value>(&text(&out)).unwrap()
    };
    let first = verify("200", false);
    assert_eq!(first["checkpoint"], serde_json::Value::Null);
    let checkpoint = root.join(".venturalitica/checkpoint.bin");
    assert!(checkpoint.exists());
    // More after it, with the latest evaluation among them.
    append_cells(root, 701, 50);
    enforce();

    let on = verify("200", false);
    assert_eq!(on["checkpoint"]["seq"], first["head"]["seq"], "{on}");
    let off = verify("off", false);
    for field in [
        "events",
        "findings",
        "signers",
        "head",
        "policies_checked",
        "unsigned_events",
    ] {
        assert_eq!(on[field], off[field], "{field}");
    }
    assert_eq!(verify("200", true)["events"], off["events"]);

    let report = |checkpoint: &str, format: &str| {
        let out = bin()
            .current_dir(root)
            .env("VENTURALITICA_CHECKPOINT", checkpoint)
            .args(["report", "annex-iv", "--format", format])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", err(&out));
        timeless(&text(&out))
    };
    // The same document, but for the sentence that says how it was checked.
    let covered = first["head"]["seq"].as_u64().unwrap();
    let from_checkpoint = format!(
        " The events up to {covered} were checked when the signed checkpoint there was written, those after it now; `venturalitica verify --full` checks every event again."
    );
    let from_checkpoint_html = from_checkpoint.replace(
        "`venturalitica verify --full`",
        "<code>venturalitica verify --full</code>",
    );
    for format in ["md", "html"] {
        let from_checkpoint = match format {
            "html" => from_checkpoint_html.clone(),
            _ => from_checkpoint.clone(),
        };
        let (on, off) = (report("200", format), report("off", format));
        assert!(on.contains(&from_checkpoint), "{format}: {on}");
        assert!(!off.contains("signed checkpoint"), "{format}: {off}");
        assert_eq!(on.replace(&from_checkpoint, ""), off, "{format}");
    }
    let md = report("200", "md");
    assert!(md.contains("trail of 753 events verifies"), "{md}");
    assert!(md.contains("750 cells"), "{md}");

    // The scan says which path it read its evaluations from.
    let scan = |checkpoint: &str| {
        let out = bin()
            .current_dir(root)
            .env("VENTURALITICA_CHECKPOINT", checkpoint)
            .args(["scan", "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", err(&out));
        serde_json::from_str::<serde_json::Value>(&text(&out)).unwrap()
    };
    let scanned = scan("200");
    assert_eq!(scanned["evidence_read"]["from"], "checkpoint", "{scanned}");
    assert_eq!(
        scanned["evidence_read"]["head"]["seq"], covered,
        "{scanned}"
    );
    let whole = scan("off");
    assert_eq!(
        whole["evidence_read"],
        serde_json::json!({"from": "trail", "why": null})
    );
    assert_eq!(scanned["controls"], whole["controls"]);

    let head = off["head"]["seq"].as_u64().unwrap();
    let paths: Vec<String> = [
        "/",
        "/graph",
        "/policies",
        "/energy",
        "/report",
        "/event/1",
        "/event/2",
        "/event/400",
        "/api/events?after=0&limit=5000",
    ]
    .iter()
    .map(|p| p.to_string())
    .chain([format!("/event/{head}")])
    .collect();
    let from_checkpoint = dashboard(root, "200", &paths);
    let whole = dashboard(root, "off", &paths);
    // The overview and the report say they read from the checkpoint; but
    // for that, every page is the same.
    let note = checkpoint_note(&from_checkpoint[0]).expect("the overview names the checkpoint");
    assert!(from_checkpoint[4].contains(&from_checkpoint_html));
    for ((path, a), b) in paths.iter().zip(&from_checkpoint).zip(&whole) {
        let a = a.replace(&note, "").replace(&from_checkpoint_html, "");
        assert_eq!(timeless(&a), timeless(b), "{path}");
    }
    // A cell's page shows its whole payload, read from its line.
    assert!(
        from_checkpoint[7].contains("nb0.ipynb")
            || from_checkpoint[7].contains("nb1.ipynb")
            || from_checkpoint[7].contains("nb2.ipynb")
    );
    assert!(from_checkpoint[7].contains("tdp-model"));
    // With its energy basis back from the copy its digest names.
    assert!(
        from_checkpoint[7].contains("g_per_kwh"),
        "{}",
        from_checkpoint[7]
    );
}
