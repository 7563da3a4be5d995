//! `venturalitica ui`: the local dashboard over the evidence store.
//!
//! # Layout
//!
//! - `trail`: the trail, read incrementally and chain-checked as it grows.
//! - `model`: evaluations, control status with history, energy views.
//! - `pages`, `html`: the pages (every user string escaped).
//! - `graph`, `filter`: the Evidence Graph (lanes of SVG) and its filters;
//!   `charts`: plotters SVG.
//! - `server`: axum routes, the token, security headers.
//!
//! The server binds 127.0.0.1 unless told otherwise; there it answers only
//! requests whose `Host` is localhost or a loopback address (DNS rebinding);
//! on any other address every request needs the token it prints. Besides the
//! trail, only `.venturalitica/charts/<n>.svg`, `.venturalitica/policies/<sha256>.yaml`
//! (named by a hash, checked against it) and `pyproject.toml` are read.

pub mod annex;
mod charts;
mod filter;
mod graph;
mod html;
mod model;
mod pages;
mod server;
#[cfg(test)]
mod snapshot_tests;
mod trail;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;
use venturalitica_evidence::Store;

pub use server::url;

/// How to serve.
#[derive(Debug, Clone)]
pub struct UiOptions {
    /// The project root (holding `.venturalitica/`).
    pub root: PathBuf,
    pub host: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// Required on every request; generated when the host is not loopback.
    pub token: Option<String>,
    /// Host names answered besides localhost and loopback addresses (a
    /// reverse proxy's name), when bound to loopback.
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, Error)]
pub enum UiError {
    #[error("no evidence store at {0}: run `venturalitica enforce`, a proxied notebook or `vl.enforce` there first, or pass --root")]
    NoStore(PathBuf),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Facts(#[from] annex::FactsError),
}

/// The project's directory name, for titles.
fn project_name(root: &std::path::Path) -> String {
    root.canonicalize()
        .unwrap_or_else(|_| root.to_path_buf())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "project".to_string())
}

/// The Annex IV document of the project at `root`, from its verified trail.
pub fn annex_iv(root: &std::path::Path, generated_at: &str) -> Result<annex::Document, UiError> {
    let store = Store::existing(root).ok_or_else(|| UiError::NoStore(root.to_path_buf()))?;
    let facts = annex::ProjectFacts::read(root)?;
    let snapshot = trail::Trail::new(store.clone()).verified();
    Ok(annex::build(
        &snapshot,
        &facts,
        annex::bom(&store).as_ref(),
        &project_name(root),
        generated_at,
    ))
}

/// `doc` as an HTML file of its own.
pub fn annex_iv_page(doc: &annex::Document) -> String {
    html::standalone(&format!("Annex IV: {}", doc.system), doc.to_html())
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Ui {
    listener: tokio::net::TcpListener,
    state: Arc<server::AppState>,
    runtime: tokio::runtime::Runtime,
}

impl Ui {
    /// Opens the store and binds the address; the trail is read now, so the
    /// first page is served from memory.
    pub fn bind(options: UiOptions) -> Result<Ui, UiError> {
        let store =
            Store::existing(&options.root).ok_or_else(|| UiError::NoStore(options.root.clone()))?;
        let token = match options.token {
            Some(t) => Some(t),
            None if options.host.is_loopback() => None,
            None => Some(format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )),
        };
        let exports = std::fs::read_to_string(store.export_state_path("mlflow"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null);
        let context = pages::Context {
            project: project_name(&options.root),
            exports,
            root: options.root.clone(),
            store: store.clone(),
        };
        let trail = trail::Trail::new(store);
        trail.verified();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(UiError::Serve)?;
        let addr = SocketAddr::new(options.host, options.port);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|source| UiError::Bind { addr, source })?;
        Ok(Ui {
            listener,
            state: Arc::new(server::AppState {
                trail,
                context,
                token,
                hosts: if options.host.is_loopback() {
                    server::HostPolicy::Loopback {
                        extra: options.allowed_hosts,
                    }
                } else {
                    server::HostPolicy::Any
                },
            }),
            runtime,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn token(&self) -> Option<&str> {
        self.state.token.as_deref()
    }

    /// Serves until the process is interrupted.
    pub fn serve(self) -> Result<(), UiError> {
        let app = server::router(self.state);
        let listener = self.listener;
        self.runtime.block_on(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
                .map_err(UiError::Serve)
        })
    }
}
