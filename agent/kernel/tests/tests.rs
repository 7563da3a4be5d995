//! Integration tests of the kernel crate that need no running kernel (the
//! proxy itself is exercised with real kernels by tests/test_kernel_proxy.py).

#![allow(clippy::unwrap_used)] // a panic is the failure message in a test

use std::path::Path;

use serde_json::json;
use venturalitica_kernel::kernelspec::{self, InstallOptions, InstallTarget, Launcher};

fn write_spec(kernels: &Path, name: &str, spec: serde_json::Value) {
    let dir = kernels.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("kernel.json"), spec.to_string()).unwrap();
    std::fs::write(dir.join("logo-64x64.png"), b"png").unwrap();
}

// One test touches JUPYTER_PATH, so nothing else in this binary races on it.
#[test]
fn install_list_and_uninstall_in_a_private_jupyter_path() {
    let tmp = tempfile::tempdir().unwrap();
    let search = tmp.path().join("search");
    write_spec(
        &search.join("kernels"),
        "echo",
        json!({
            "argv": ["echo-kernel", "--conn", "{connection_file}"],
            "display_name": "Echo",
            "language": "echo",
            "interrupt_mode": "message",
            "env": {"A": "1"},
            "metadata": {"debugger": true}
        }),
    );
    let prefix = tmp.path().join("prefix");
    let paths = std::env::join_paths([&search, &prefix.join("share/jupyter")]).unwrap();
    std::env::set_var("JUPYTER_PATH", paths);
    std::env::set_var("JUPYTER_DATA_DIR", tmp.path().join("user"));

    let dir = kernelspec::install(&InstallOptions {
        name: None,
        display_name: None,
        wrap: "echo".into(),
        target: InstallTarget::Prefix(prefix.clone()),
        agent: "/opt/vl/bin/venturalitica".into(),
        launcher: Launcher::Python("/opt/vl/bin/python3".into()),
        load_extension: false,
    })
    .unwrap();
    assert_eq!(dir, prefix.join("share/jupyter/kernels/venturalitica-echo"));
    assert!(dir.join("logo-64x64.png").is_file());
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("kernel.json")).unwrap()).unwrap();
    assert_eq!(
        spec["argv"],
        json!([
            "/opt/vl/bin/python3",
            "-m",
            "venturalitica.kernel",
            "--agent",
            "/opt/vl/bin/venturalitica",
            "-f",
            "{connection_file}",
            "--",
            "echo-kernel",
            "--conn",
            "{connection_file}"
        ])
    );
    assert_eq!(spec["display_name"], "Echo (Venturalitica)");
    assert_eq!(spec["language"], "echo");
    assert_eq!(spec["interrupt_mode"], "message");
    assert_eq!(spec["env"], json!({"A": "1"}));
    assert_eq!(spec["metadata"]["debugger"], true);
    assert_eq!(spec["metadata"]["venturalitica"]["wraps"], "echo");

    let listed: Vec<(String, Option<String>)> = kernelspec::list()
        .into_iter()
        .map(|s| (s.name.clone(), s.wraps().map(str::to_string)))
        .collect();
    assert!(listed.contains(&("echo".into(), None)));
    assert!(listed.contains(&("venturalitica-echo".into(), Some("echo".into()))));

    // Bad names and double wrapping are refused with a reason.
    let refuse = |wrap: &str, name: Option<&str>| {
        kernelspec::install(&InstallOptions {
            name: name.map(str::to_string),
            display_name: None,
            wrap: wrap.into(),
            target: InstallTarget::Prefix(prefix.clone()),
            agent: "/x".into(),
            launcher: Launcher::Agent,
            load_extension: false,
        })
        .unwrap_err()
        .to_string()
    };
    assert!(refuse("venturalitica-echo", None).contains("already runs through venturalitica"));
    assert!(refuse("echo", Some("bad name/..")).contains("letters, digits"));
    assert!(refuse("missing", None).contains("no kernelspec named \"missing\""));

    // Only specs we wrote can be uninstalled.
    assert!(kernelspec::uninstall("echo")
        .unwrap_err()
        .to_string()
        .contains("not installed by venturalitica"));
    // Without a Python that has the package, the spec starts the agent
    // itself; installing again upgrades the spec in place.
    kernelspec::install(&InstallOptions {
        name: None,
        display_name: None,
        wrap: "echo".into(),
        target: InstallTarget::Prefix(prefix.clone()),
        agent: "/opt/vl/bin/venturalitica".into(),
        launcher: Launcher::Agent,
        load_extension: false,
    })
    .unwrap();
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("kernel.json")).unwrap()).unwrap();
    assert_eq!(
        spec["argv"].as_array().unwrap()[..6],
        json!([
            "/opt/vl/bin/venturalitica",
            "kernel",
            "proxy",
            "-f",
            "{connection_file}",
            "--"
        ])
        .as_array()
        .unwrap()[..]
    );

    kernelspec::uninstall("venturalitica-echo").unwrap();
    assert!(!dir.exists());
}
