//! `venturalitica ui`: the dashboard.

use std::io::Write;

use venturalitica_ui::{url, Ui, UiOptions};

use crate::args::UiArgs;
use crate::Outcome;

pub fn run(args: UiArgs) -> anyhow::Result<Outcome> {
    let root = super::project_root(args.root.as_deref())?;
    let ui = Ui::bind(UiOptions {
        root: root.clone(),
        host: args.host,
        port: args.port,
        token: args.token,
        allowed_hosts: args.allow_host,
    })?;
    let addr = ui
        .local_addr()
        .ok_or_else(|| anyhow::anyhow!("the server has no address"))?;
    let link = url(addr, ui.token());
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "Venturalitica dashboard for {} at {link}",
            root.join(".venturalitica").display()
        )?;
        writeln!(out, "Press Ctrl-C to stop.")?;
        out.flush()?;
    }
    if args.open {
        open_browser(&link);
    }
    ui.serve()?;
    Ok(Outcome::Passed)
}

/// Best effort: a machine without a browser still has the printed URL.
fn open_browser(link: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener)
        .arg(link)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        eprintln!("venturalitica: cannot open a browser ({opener}: {e}); open {link}");
    }
}
