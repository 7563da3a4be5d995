//! The HTTP server: routes, the token check, and security headers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::annex;
use crate::filter::Filter;
use crate::pages::{self, Context, EventFiles};
use crate::trail::{Snapshot, Trail};
use venturalitica_evidence::CopyError;

/// Shared by the handlers.
#[derive(Debug)]
pub struct AppState {
    pub trail: Trail,
    pub context: Context,
    /// Required on every request when set.
    pub token: Option<String>,
    /// Which `Host` headers are answered.
    pub hosts: HostPolicy,
}

/// Which `Host` headers the server answers, against DNS rebinding: a page on
/// another site that resolves its own name to 127.0.0.1 sends its own name
/// as `Host`, so a loopback server refuses every name but its own (as Jupyter
/// Server does). Off loopback the token guards every request instead.
#[derive(Debug, Clone)]
pub enum HostPolicy {
    /// `localhost`, loopback addresses, and the names given.
    Loopback { extra: Vec<String> },
    /// Any host (the server is bound off loopback and needs a token).
    Any,
}

impl HostPolicy {
    /// Whether a request with this `Host` header is answered.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let extra = match self {
            HostPolicy::Any => return true,
            HostPolicy::Loopback { extra } => extra,
        };
        let Some(name) = host.map(host_name) else {
            return false;
        };
        let name = name.to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if let Ok(ip) = name.parse::<std::net::IpAddr>() {
            return ip.is_loopback();
        }
        extra.iter().any(|h| h.eq_ignore_ascii_case(&name))
    }
}

/// The name in a `Host` header, without its port (`[::1]:8501` → `::1`).
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(ip, _)| ip);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

const COOKIE: &str = "vl_token";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/graph", get(graph))
        .route("/policies", get(policies))
        .route("/energy", get(energy))
        .route("/report", get(report))
        .route("/event/{seq}", get(event))
        .route("/policy/{sha}", get(policy))
        .route("/charts/{file}", get(chart))
        .route("/static/app.js", get(script))
        .route("/api/head", get(head))
        .route("/api/events", get(events))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Token check (when one is set) and the headers every answer carries.
async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    if !state.hosts.allows(host) {
        tracing::warn!(
            host = host.unwrap_or(""),
            "refused a request for another host"
        );
        let mut r = (
            StatusCode::FORBIDDEN,
            "venturalitica ui answers only requests for localhost or its loopback address (see `--allow-host`)",
        )
            .into_response();
        secure(r.headers_mut());
        return r;
    }
    let mut set_cookie = false;
    if let Some(token) = &state.token {
        let from_query = query_token(request.uri().query());
        let presented = from_query
            .clone()
            .or_else(|| cookie_token(request.headers()))
            .or_else(|| bearer_token(request.headers()));
        if !presented.is_some_and(|p| same(&p, token)) {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                Html(crate::html::page(
                    "",
                    "Token required",
                    0,
                    false,
                    maud::html! {
                        h1 { "Token required" }
                        p {
                            "Open the URL " code { "venturalitica ui" } " printed (it ends in "
                            code { "?token=…" } ")."
                        }
                    },
                )),
            )
                .into_response();
            secure(r.headers_mut());
            return r;
        }
        set_cookie = from_query.is_some();
    }
    let mut response = next.run(request).await;
    secure(response.headers_mut());
    if let (true, Some(token)) = (set_cookie, &state.token) {
        let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    response
}

fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Compares fixed-length digests in constant time, so the time taken says
/// nothing about the token, not even its length.
fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    Sha256::digest(a.as_bytes())
        .ct_eq(&Sha256::digest(b.as_bytes()))
        .into()
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(str::to_string)
}

fn cookie_token(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("vl_token=").map(str::to_string))
}

fn bearer_token(h: &HeaderMap) -> Option<String> {
    h.get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_string)
}

/// Renders a page off the async workers, and says how long it took
/// (`Server-Timing`, read by the benchmark).
async fn render(
    state: Arc<AppState>,
    verified: bool,
    f: impl FnOnce(&Snapshot, &Context) -> Option<String> + Send + 'static,
) -> Response {
    let rendered = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let snapshot = if verified {
            state.trail.verified()
        } else {
            state.trail.snapshot()
        };
        let html = f(&snapshot, &state.context);
        (html, started.elapsed())
    })
    .await;
    match rendered {
        Ok((Some(html), took)) => {
            let mut r = Html(html).into_response();
            let timing = format!("render;dur={:.3}", took.as_secs_f64() * 1000.0);
            if let Ok(v) = HeaderValue::from_str(&timing) {
                r.headers_mut().insert("server-timing", v);
            }
            r
        }
        Ok((None, _)) => not_found().await.into_response(),
        Err(e) => {
            tracing::error!(%e, "rendering a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

async fn overview(State(s): State<Arc<AppState>>) -> Response {
    render(s, true, |snap, ctx| Some(pages::overview(snap, ctx))).await
}

async fn graph(
    State(s): State<Arc<AppState>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let filter = Filter::from_query(&query);
    render(s, false, move |snap, ctx| {
        Some(pages::graph_page(snap, ctx, filter))
    })
    .await
}

async fn policy(State(s): State<Arc<AppState>>, Path(sha): Path<String>) -> Response {
    render(s, false, move |snap, ctx| {
        // The name is the hash: 64 hex digits, so no path can leave the store.
        match ctx.store.read_policy(&sha) {
            Err(CopyError::NotADigest(_)) => None,
            copy => pages::policy_text(snap, &sha, copy),
        }
    })
    .await
}

async fn policies(State(s): State<Arc<AppState>>) -> Response {
    render(s, false, |snap, _| Some(pages::policies(snap))).await
}

async fn energy(State(s): State<Arc<AppState>>) -> Response {
    render(s, false, |snap, _| Some(pages::energy(snap))).await
}

async fn report(State(s): State<Arc<AppState>>) -> Response {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    render(s, true, move |snap, ctx| {
        let facts = annex::ProjectFacts::read(&ctx.root).map_err(|e| e.to_string());
        let bom = annex::bom(&ctx.store);
        Some(pages::report(snap, &ctx.project, facts, bom.as_ref(), &now))
    })
    .await
}

async fn event(State(s): State<Arc<AppState>>, Path(seq): Path<String>) -> Response {
    let Ok(seq) = seq.parse::<u64>() else {
        return not_found().await.into_response();
    };
    render(s, false, move |snap, ctx| {
        let files = EventFiles {
            chart: ctx.store.chart_path(seq).is_file(),
            payload: snap
                .get(seq)
                .map_or(Ok(Value::Null), |e| e.full_payload(&ctx.store)),
        };
        pages::event(snap, seq, files)
    })
    .await
}

/// `charts/<seq>.svg` from the store, and nothing else: the name must be a
/// number, so no path can leave the charts directory.
async fn chart(State(s): State<Arc<AppState>>, Path(file): Path<String>) -> Response {
    let Some(seq) = file
        .strip_suffix(".svg")
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return not_found().await.into_response();
    };
    let path = s.context.store.chart_path(seq);
    match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
        Ok(Ok(bytes)) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            )],
            bytes,
        )
            .into_response(),
        _ => not_found().await.into_response(),
    }
}

async fn script() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        crate::html::SCRIPT,
    )
        .into_response()
}

async fn head(State(s): State<Arc<AppState>>) -> Json<Value> {
    let snapshot = tokio::task::spawn_blocking(move || s.trail.snapshot())
        .await
        .unwrap_or_default();
    Json(json!({
        "seq": snapshot.head(),
        "events": snapshot.entries.len(),
        "chain_ok": snapshot.chain_ok,
    }))
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    #[serde(default)]
    after: u64,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    500
}

async fn events(State(s): State<Arc<AppState>>, Query(q): Query<EventsQuery>) -> Json<Value> {
    // A cell's payload is read from its line: file I/O, off the runtime.
    let page = tokio::task::spawn_blocking(move || {
        let snapshot = s.trail.snapshot();
        let rows: Vec<Value> = snapshot
            .entries
            .iter()
            .filter(|e| e.seq > q.after)
            .take(q.limit.min(5000))
            .map(|e| {
                let payload = e
                    .full_payload(&s.context.store)
                    .unwrap_or_else(|why| json!({ "error": why }));
                json!({"seq": e.seq, "kind": e.kind_name, "ts": e.ts, "pid": e.pid, "hash": e.hash, "payload": payload})
            })
            .collect();
        json!({ "head": snapshot.head(), "events": rows })
    })
    .await
    .unwrap_or_else(|_| json!({ "head": 0, "events": [] }));
    Json(page)
}

async fn not_found() -> (StatusCode, Html<String>) {
    (
        StatusCode::NOT_FOUND,
        Html(crate::html::page(
            "",
            "Not found",
            0,
            false,
            maud::html! { h1 { "Not found" } p { a href="/" { "Overview" } } },
        )),
    )
}

/// The address the server listens on, for messages.
pub fn url(addr: SocketAddr, token: Option<&str>) -> String {
    let host = match addr {
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
        SocketAddr::V4(a) => a.ip().to_string(),
    };
    match token {
        Some(t) => format!("http://{host}:{}/?token={t}", addr.port()),
        None => format!("http://{host}:{}/", addr.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_are_answered_on_loopback() {
        let p = HostPolicy::Loopback {
            extra: vec!["dash.internal".into()],
        };
        for ok in [
            "localhost",
            "localhost:8501",
            "LOCALHOST:1",
            "127.0.0.1:8501",
            "127.1.2.3",
            "[::1]:8501",
            "dash.internal:80",
            "app.localhost",
        ] {
            assert!(p.allows(Some(ok)), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:8501",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "10.0.0.5:8501",
            "[::2]:8501",
            "",
        ] {
            assert!(!p.allows(Some(refused)), "{refused}");
        }
        assert!(!p.allows(None));
        assert!(HostPolicy::Any.allows(Some("evil.example")));
    }

    #[test]
    fn tokens_compare_by_value() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}
