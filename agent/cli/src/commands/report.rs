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
/// usual names on PATH, else where Chrome, Chromium or Edge install
/// themselves on macOS and Windows.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VENTURALITICA_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let exe = std::env::consts::EXE_SUFFIX;
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    let on_path = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "chrome",
        "msedge",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&dirs).map(move |d| d.join(format!("{name}{exe}"))));
    let macos = [
        "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
        "/Applications/Chromium.app/Contents/MacOS/Chromium",
        "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
    ]
    .map(PathBuf::from);
    let windows = ["ProgramFiles", "ProgramFiles(x86)", "LOCALAPPDATA"]
        .iter()
        .filter_map(std::env::var_os)
        .flat_map(|base| {
            let base = PathBuf::from(base);
            [
                base.join(r"Google\Chrome\Application\chrome.exe"),
                base.join(r"Microsoft\Edge\Application\msedge.exe"),
            ]
        });
    on_path.chain(macos).chain(windows).find(|p| p.is_file())
}

/// A `file:` URL for an absolute path (`/tmp/x` or `C:\Users\x`), with what a
/// URL cannot hold (spaces, `#`, `%`, `?`) percent-encoded.
fn file_url(path: &Path) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
    const UNSAFE: &AsciiSet = &CONTROLS.add(b' ').add(b'#').add(b'%').add(b'?').add(b'"');
    let text = path.to_string_lossy().replace('\\', "/");
    let slash = if text.starts_with('/') { "" } else { "/" };
    format!("file://{slash}{}", utf8_percent_encode(&text, UNSAFE))
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
    // Chromium refuses to run its sandbox as root (containers, CI).
    if venturalitica_os::is_superuser() {
        cmd.arg("--no-sandbox");
    }
    let run = cmd
        .arg(file_url(&page))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_of_unix_and_windows_paths() {
        assert_eq!(
            file_url(Path::new("/tmp/a b/x.html")),
            "file:///tmp/a%20b/x.html"
        );
        assert_eq!(
            file_url(Path::new(r"C:\Users\Jo Doe\#1\x.html")),
            "file:///C:/Users/Jo%20Doe/%231/x.html"
        );
    }
}
