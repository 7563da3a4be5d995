//! The Evidence Graph: policy versions → evaluations → control results,
//! with the datasets (fingerprints) and notebook sessions, monitor windows,
//! scans and MLflow runs each evaluation is tied to. Laid out by layout-rs
//! (a Graphviz-style layered layout); each node links to its details.

use std::collections::HashMap;

use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::style::StyleAttr;
use layout::std_shapes::render::get_shape_size;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;
use serde_json::Value;
use venturalitica_chart::clip;

use crate::model::{evaluations, latest};
use crate::trail::Snapshot;

/// Evaluations drawn (the latest); older ones are on the Policy Status page.
pub const MAX_EVALUATIONS: usize = 12;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Policy,
    Evaluation { passed: bool },
    Control { status: Status },
    Dataset,
    Session,
    Window,
    Scan,
    Export,
}

#[derive(Debug, Clone, Copy)]
enum Status {
    Pass,
    Fail,
    Error,
}

impl Kind {
    fn fill(self) -> &'static str {
        match self {
            Kind::Policy => "#e3f2fd",
            Kind::Evaluation { passed: true } => "#e8f5e9",
            Kind::Evaluation { passed: false } => "#ffebee",
            Kind::Control {
                status: Status::Pass,
            } => "#c8e6c9",
            Kind::Control {
                status: Status::Fail,
            } => "#ffcdd2",
            Kind::Control {
                status: Status::Error,
            } => "#e0e0e0",
            Kind::Dataset => "#fff8e1",
            Kind::Session | Kind::Window => "#f3e5f5",
            Kind::Scan | Kind::Export => "#e0f7fa",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Kind::Policy => "policy",
            Kind::Evaluation { .. } => "evaluation",
            Kind::Control { .. } => "control",
            Kind::Dataset => "dataset",
            Kind::Session => "session",
            Kind::Window => "window",
            Kind::Scan => "scan",
            Kind::Export => "export",
        }
    }
}

struct Builder {
    graph: VisualGraph,
    nodes: HashMap<String, layout::adt::dag::NodeHandle>,
}

impl Builder {
    /// Adds a node once per `key`; `href` must be a path the server made.
    fn node(
        &mut self,
        key: &str,
        label: &str,
        kind: Kind,
        href: &str,
    ) -> layout::adt::dag::NodeHandle {
        if let Some(h) = self.nodes.get(key) {
            return *h;
        }
        let shape = ShapeKind::new_box(label);
        let look = StyleAttr::new(
            Color::fast("#616161"),
            1,
            Some(Color::fast(kind.fill())),
            6,
            12,
        );
        let size = get_shape_size(Orientation::TopToBottom, &shape, 12, false);
        // The SVG writer pastes properties into the node's <g> verbatim: only
        // server-made, escaped values go here.
        let props = format!(
            "class=\"node {}\" data-href=\"{}\"",
            kind.class(),
            crate::html::esc(href)
        );
        let element =
            Element::create_with_properties(shape, look, Orientation::LeftToRight, size, props);
        let handle = self.graph.add_node(element);
        self.nodes.insert(key.to_string(), handle);
        handle
    }

    fn edge(
        &mut self,
        from: layout::adt::dag::NodeHandle,
        to: layout::adt::dag::NodeHandle,
        label: &str,
    ) {
        self.graph.add_edge(Arrow::simple(label), from, to);
    }
}

/// The graph as SVG, or None when there is nothing to draw.
pub fn render(s: &Snapshot, exports: &Value) -> Option<String> {
    let evals = evaluations(s);
    let shown = &evals[evals.len().saturating_sub(MAX_EVALUATIONS)..];
    if shown.is_empty() {
        return None;
    }
    let mut b = Builder {
        graph: VisualGraph::new(Orientation::TopToBottom),
        nodes: HashMap::new(),
    };
    let mut session_of_pid: HashMap<u64, layout::adt::dag::NodeHandle> = HashMap::new();
    for eval in shown {
        let seq = eval.seq();
        let sha = eval.policy_sha();
        let version = eval
            .policy_version()
            .map(|v| format!(" v{v}"))
            .unwrap_or_default();
        let policy = b.node(
            &format!("policy:{sha}"),
            &format!(
                "policy: {}{version}\nsha256 {}",
                clip(eval.policy_title(), 32),
                &sha[..sha.len().min(12)]
            ),
            Kind::Policy,
            &format!("/policies#{sha}"),
        );
        let summary = &eval.results["summary"];
        let evaluation = b.node(
            &format!("eval:{seq}"),
            &format!(
                "evaluation #{seq}\n{}/{} passed",
                summary["passed"].as_u64().unwrap_or(0),
                summary["total"].as_u64().unwrap_or(0)
            ),
            Kind::Evaluation {
                passed: eval.passed(),
            },
            &format!("/event/{seq}"),
        );
        b.edge(policy, evaluation, "");
        if let Some(fp) = eval.fingerprint() {
            let rows = eval.results["data"]["rows"].as_u64().unwrap_or(0);
            let dataset = b.node(
                &format!("data:{fp}"),
                &format!(
                    "data {}\n{} · {rows} rows",
                    &fp[..fp.len().min(12)],
                    clip(short_source(eval.source()), 28)
                ),
                Kind::Dataset,
                &format!("/event/{seq}"),
            );
            b.edge(dataset, evaluation, "");
        }
        if eval.origin() == "kernel" {
            if let Some(pid) = eval.entry.pid {
                let session = *session_of_pid.entry(pid).or_insert_with(|| {
                    b.node(
                        &format!("session:{pid}"),
                        &format!("notebook session\npid {pid}"),
                        Kind::Session,
                        &format!("/energy#session-{pid}"),
                    )
                });
                b.edge(session, evaluation, "ran");
            }
        }
        for control in eval.controls() {
            let id = control["id"].as_str().unwrap_or("?");
            let status = match control["status"].as_str() {
                Some("pass") => Status::Pass,
                Some("fail") => Status::Fail,
                _ => Status::Error,
            };
            let value = control["actual_value"]
                .as_f64()
                .map_or_else(|| "—".to_string(), |v| format!("{v:.4}"));
            let node = b.node(
                &format!("control:{seq}:{id}"),
                &format!(
                    "{}\n{} {value} {} {}",
                    clip(id, 30),
                    control["status"].as_str().unwrap_or("error").to_uppercase(),
                    control["operator"].as_str().unwrap_or(""),
                    control["threshold"].as_f64().unwrap_or(f64::NAN)
                ),
                Kind::Control { status },
                &format!("/event/{seq}#control-{}", crate::html::esc(id)),
            );
            b.edge(evaluation, node, "");
        }
    }
    let first_shown = shown.first().map_or(0, |e| e.seq());
    for entry in latest(s, "scan", 3) {
        if entry.seq < first_shown {
            continue;
        }
        let passed = entry.payload["passed"].as_bool().unwrap_or(false);
        let scan = b.node(
            &format!("scan:{}", entry.seq),
            &format!(
                "scan #{}\n{}",
                entry.seq,
                if passed { "passed" } else { "failed" }
            ),
            Kind::Scan,
            &format!("/event/{}", entry.seq),
        );
        // A scan reports the latest evaluation of each policy before it.
        let mut latest_per_policy: HashMap<&str, u64> = HashMap::new();
        for eval in shown.iter().filter(|e| e.seq() < entry.seq) {
            latest_per_policy.insert(eval.policy_key(), eval.seq());
        }
        for seq in latest_per_policy.values() {
            if let Some(h) = b.nodes.get(&format!("eval:{seq}")).copied() {
                b.edge(h, scan, "");
            }
        }
    }
    for entry in latest(s, "monitor", 4) {
        if entry.seq < first_shown {
            continue;
        }
        let name = entry.payload["name"].as_str().unwrap_or("?");
        let joules = entry.payload["energy"]["total_j"].as_f64().unwrap_or(0.0);
        let window = b.node(
            &format!("window:{}", entry.seq),
            &format!("monitor {}\n{joules:.1} J", clip(name, 24)),
            Kind::Window,
            &format!("/event/{}", entry.seq),
        );
        if let Some(session) = entry.pid.and_then(|p| session_of_pid.get(&p)).copied() {
            b.edge(session, window, "");
        }
    }
    // MLflow runs the exporter recorded, one per session it exported.
    if let Some(targets) = exports["targets"].as_object() {
        for (target, state) in targets {
            let Some(runs) = state["runs"].as_object() else {
                continue;
            };
            for (pid, run) in runs {
                let Some(session) = pid
                    .parse::<u64>()
                    .ok()
                    .and_then(|p| session_of_pid.get(&p))
                    .copied()
                else {
                    continue;
                };
                let run_id = run["run_id"].as_str().unwrap_or("?");
                let server = target.split('|').next().unwrap_or("");
                let export = b.node(
                    &format!("export:{target}:{pid}"),
                    &format!(
                        "MLflow run {}\n{}",
                        &run_id[..run_id.len().min(12)],
                        clip(server, 30)
                    ),
                    Kind::Export,
                    "/energy",
                );
                b.edge(session, export, "exported");
            }
        }
    }
    let mut svg = SVGWriter::new();
    let mut graph = b.graph;
    // The layout library asserts on shapes it cannot place; a page without
    // its graph is better than a dead request.
    let laid_out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        graph.do_it(false, false, false, &mut svg);
        svg.finalize()
    }));
    laid_out.ok()
}

/// The file name of a path source; other sources as they are.
fn short_source(source: &str) -> &str {
    source.rsplit('/').next().unwrap_or(source)
}
