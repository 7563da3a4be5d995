//! A small MLflow REST client: only the calls the export needs, with
//! retries and backoff for a server that is restarting or overloaded.

use std::time::Duration;

use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use crate::plan::Metric;
use crate::ExportError;

/// Waits between attempts; after the last, the call fails.
const BACKOFF: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// MLflow's per-request limits for `runs/log-batch`.
pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_TAGS_PER_BATCH: usize = 100;

/// How to authenticate.
#[derive(Clone)]
pub enum Auth {
    None,
    /// `MLFLOW_TRACKING_TOKEN`.
    Bearer(String),
    /// `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`.
    Basic(String, String),
}

impl std::fmt::Debug for Auth {
    // Never print credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "Auth::None",
            Auth::Bearer(_) => "Auth::Bearer(..)",
            Auth::Basic(..) => "Auth::Basic(..)",
        })
    }
}

impl Auth {
    /// From the MLflow environment variables.
    pub fn from_env() -> Auth {
        if let Ok(token) = std::env::var("MLFLOW_TRACKING_TOKEN") {
            return Auth::Bearer(token);
        }
        match (
            std::env::var("MLFLOW_TRACKING_USERNAME"),
            std::env::var("MLFLOW_TRACKING_PASSWORD"),
        ) {
            (Ok(u), Ok(p)) => Auth::Basic(u, p),
            _ => Auth::None,
        }
    }

    fn header(&self) -> Option<String> {
        match self {
            Auth::None => None,
            Auth::Bearer(t) => Some(format!("Bearer {t}")),
            Auth::Basic(u, p) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )),
        }
    }
}

/// A connection to one tracking server.
#[derive(Debug)]
pub struct Client {
    base: String,
    auth: Auth,
    agent: ureq::Agent,
}

/// What the server did with spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingest {
    Stored,
    /// It cannot store traces (an older MLflow, a file store): why.
    Unsupported(String),
}

enum Outcome {
    Done(Value),
    NotFound,
}

impl Client {
    pub fn new(tracking_uri: &str, auth: Auth) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Client {
            base: tracking_uri.trim_end_matches('/').to_string(),
            auth,
            agent,
        }
    }

    /// The server's tracking URI, without a trailing slash.
    pub fn tracking_uri(&self) -> &str {
        &self.base
    }

    /// The request with our authentication and `extra` headers.
    fn headers<B>(
        &self,
        mut r: ureq::RequestBuilder<B>,
        extra: &[(&str, &str)],
    ) -> ureq::RequestBuilder<B> {
        if let Some(h) = self.auth.header() {
            r = r.header("Authorization", &h);
        }
        for (name, value) in extra {
            r = r.header(*name, *value);
        }
        r
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        raw: Option<&[u8]>,
        extra: &[(&str, &str)],
    ) -> Result<Outcome, ExportError> {
        let url = format!("{}{path}", self.base);
        let mut last = String::new();
        for (attempt, wait) in std::iter::once(Duration::ZERO).chain(BACKOFF).enumerate() {
            std::thread::sleep(wait);
            let result = match (method, body, raw) {
                ("GET", _, _) => self.headers(self.agent.get(&url), extra).call(),
                ("PUT", _, Some(bytes)) => self.headers(self.agent.put(&url), extra).send(bytes),
                // Compact JSON (ureq's `send_json` pretty-prints: a third more bytes to parse).
                (_, Some(json), _) => self
                    .headers(self.agent.post(&url), extra)
                    .header("Content-Type", "application/json")
                    .send(&serde_json::to_vec(json).unwrap_or_default()[..]),
                _ => unreachable!("every call passes a body or is a GET"),
            };
            match result {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let text = resp.body_mut().read_to_string().unwrap_or_default();
                    match status {
                        200..=299 => {
                            let value = serde_json::from_str(&text).unwrap_or(Value::Null);
                            return Ok(Outcome::Done(value));
                        }
                        404 => return Ok(Outcome::NotFound),
                        // 501: the server cannot do this at all; asking again will not help.
                        429 | 500 | 502..=599 => last = format!("HTTP {status}: {text}"),
                        _ => {
                            return Err(ExportError::Server {
                                url,
                                status,
                                message: text,
                            })
                        }
                    }
                }
                Err(e) => last = e.to_string(),
            }
            tracing::debug!(attempt, %url, %last, "retrying");
        }
        Err(ExportError::Unreachable { url, last })
    }

    fn done(&self, method: &str, path: &str, body: &Value) -> Result<Value, ExportError> {
        match self.call(method, path, Some(body), None, &[])? {
            Outcome::Done(v) => Ok(v),
            Outcome::NotFound => Err(ExportError::Server {
                url: format!("{}{path}", self.base),
                status: 404,
                message: "not found".into(),
            }),
        }
    }

    /// The experiment's id, created if missing.
    pub fn experiment_id(&self, name: &str) -> Result<String, ExportError> {
        let query = format!(
            "/api/2.0/mlflow/experiments/get-by-name?experiment_name={}",
            encode(name)
        );
        if let Outcome::Done(v) = self.call("GET", &query, None, None, &[])? {
            if let Some(id) = v["experiment"]["experiment_id"].as_str() {
                return Ok(id.to_string());
            }
        }
        let v = self.done(
            "POST",
            "/api/2.0/mlflow/experiments/create",
            &json!({ "name": name }),
        )?;
        v["experiment_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ExportError::Protocol("experiments/create gave no experiment_id".into()))
    }

    /// Whether `run_id` exists on the server (a reset server forgets runs).
    pub fn run_exists(&self, run_id: &str) -> Result<bool, ExportError> {
        let path = format!("/api/2.0/mlflow/runs/get?run_id={}", encode(run_id));
        Ok(match self.call("GET", &path, None, None, &[])? {
            Outcome::Done(v) => v["run"]["info"]["lifecycle_stage"] != "deleted",
            Outcome::NotFound => false,
        })
    }

    pub fn create_run(
        &self,
        experiment_id: &str,
        name: &str,
        start_ms: i64,
        tags: &[(String, String)],
    ) -> Result<String, ExportError> {
        let tags: Vec<Value> = tags
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let v = self.done(
            "POST",
            "/api/2.0/mlflow/runs/create",
            &json!({ "experiment_id": experiment_id, "run_name": name, "start_time": start_ms, "tags": tags }),
        )?;
        v["run"]["info"]["run_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ExportError::Protocol("runs/create gave no run_id".into()))
    }

    /// One `log-batch` call; the caller keeps within the limits.
    pub fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        tags: &[(String, String)],
    ) -> Result<(), ExportError> {
        let tags: Vec<Value> = tags
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        self.done(
            "POST",
            "/api/2.0/mlflow/runs/log-batch",
            &json!({ "run_id": run_id, "metrics": metrics, "tags": tags }),
        )?;
        Ok(())
    }

    pub fn finish_run(&self, run_id: &str, end_ms: i64) -> Result<(), ExportError> {
        self.done(
            "POST",
            "/api/2.0/mlflow/runs/update",
            &json!({ "run_id": run_id, "status": "FINISHED", "end_time": end_ms }),
        )?;
        Ok(())
    }

    /// Sends OTLP/JSON spans to MLflow's trace ingestion (`/v1/traces`),
    /// into `experiment_id`; a request that holds a root span links its
    /// trace to `run_id`. MLflow upserts spans by (trace id, span id), so a
    /// request sent twice stores its spans once.
    pub fn log_spans(
        &self,
        experiment_id: &str,
        run_id: &str,
        request: &Value,
    ) -> Result<Ingest, ExportError> {
        let headers = [
            ("x-mlflow-experiment-id", experiment_id),
            ("x-mlflow-run-id", run_id),
        ];
        match self.call("POST", "/v1/traces", Some(request), None, &headers) {
            Ok(Outcome::Done(_)) => Ok(Ingest::Stored),
            Ok(Outcome::NotFound) => Ok(Ingest::Unsupported(
                "the server has no OTLP trace endpoint (/v1/traces); MLflow 3 servers with OTLP ingestion have one".into(),
            )),
            Err(ExportError::Server {
                status: 501,
                message,
                ..
            }) => Ok(Ingest::Unsupported(format!(
                "the server's store cannot take traces: {message}"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Uploads `bytes` as the run's artifact `path` through the server's
    /// artifact proxy.
    pub fn put_artifact(
        &self,
        experiment_id: &str,
        run_id: &str,
        path: &str,
        bytes: &[u8],
    ) -> Result<(), ExportError> {
        let url_path = format!(
            "/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/{}",
            path.split('/').map(encode).collect::<Vec<_>>().join("/")
        );
        match self.call("PUT", &url_path, None, Some(bytes), &[])? {
            Outcome::Done(_) => Ok(()),
            Outcome::NotFound => Err(ExportError::Protocol(format!(
                "{url_path}: not found (is the server serving artifacts? `mlflow server` does by default)"
            ))),
        }
    }
}

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a path segment or query value.
fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

#[cfg(test)]
mod encoding_tests {
    use super::encode;

    #[test]
    fn components_keep_only_unreserved_characters() {
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode("my exp/ü?&="), "my%20exp%2F%C3%BC%3F%26%3D");
    }
}
