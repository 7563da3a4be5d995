//! `venturalitica report annex-iv`: the EU AI Act's technical documentation
//! (Annex IV) from the evidence, as Markdown, HTML or PDF.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::args::{AnnexIvArgs, DocFormat};
use crate::Outcome;

pub fn annex_iv(args: AnnexIvArgs) -> anyhow::Result<Outcome> {
    let root = super::project_root(args.root.as_deref())?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let doc = venturalitica_ui::annex_iv(&root, &now)?;
    match args.format {
        DocFormat::Md => emit(args.output.as_deref(), &doc.to_markdown())?,
        DocFormat::Html => emit(
            args.output.as_deref(),
            &venturalitica_ui::annex_iv_page(&doc),
        )?,
        DocFormat::Pdf => {
            let out = args.output.unwrap_or_else(|| PathBuf::from("annex-iv.pdf"));
            print_pdf(&venturalitica_ui::annex_iv_page(&doc), &out)?;
            eprintln!("wrote {}", out.display());
        }
    }
    Ok(Outcome::Passed)
}

fn emit(output: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => Ok(std::io::stdout().lock().write_all(text.as_bytes())?),
    }
}

/// The browser that prints: VENTURALITICA_CHROMIUM, else the first of the
/// usual names on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VENTURALITICA_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let dirs = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&dirs).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Prints `html` to `out` with headless Chromium (A4, no header or footer).
fn print_pdf(html: &str, out: &Path) -> anyhow::Result<()> {
    let Some(browser) = chromium() else {
        bail!("a PDF needs Chromium: install it (Debian: apt install chromium) or set VENTURALITICA_CHROMIUM; --format html gives the same document");
    };
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    let page = dir.path().join("annex-iv.html");
    std::fs::write(&page, html).with_context(|| format!("cannot write {}", page.display()))?;
    let out_abs = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    let mut cmd = std::process::Command::new(&browser);
    cmd.args([
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--no-pdf-header-footer",
    ])
    .arg(format!(
        "--user-data-dir={}",
        dir.path().join("profile").display()
    ))
    .arg(format!("--print-to-pdf={}", out_abs.display()));
    // Chromium refuses to run its sandbox as root (containers, CI); /proc/self
    // belongs to the effective user.
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) == 0;
    if root {
        cmd.arg("--no-sandbox");
    }
    let run = cmd
        .arg(format!("file://{}", page.display()))
        .output()
        .with_context(|| format!("cannot run {}", browser.display()))?;
    if !run.status.success() || !out_abs.is_file() {
        bail!(
            "{} did not print the PDF ({}): {}",
            browser.display(),
            run.status,
            String::from_utf8_lossy(&run.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    Ok(())
}
