//! The Evidence Graph: one lane per policy version (newest use first), each
//! evaluation a node collapsed to its verdict (newest first), its data
//! fingerprint as a colour chip shared across lanes. An opened evaluation
//! lists its controls, each one click from its policy text, data, cell and
//! energy. Drawn as plain SVG at 1:1 (labels at body size); pan and zoom
//! come from `/static/app.js`, so the page keeps its strict CSP. The SVG is
//! a drawing, written here element by element (every label through
//! [`esc`]), as plotters writes the charts; the page around it and the
//! opened evaluation are templates (`pages::graph`).

use std::collections::HashMap;
use std::fmt::Write;

use venturalitica_chart::clip;

use crate::filter::Filter;
use crate::html::{esc, file_name};
use crate::model::Evaluation;
use crate::trail::{Entry, Snapshot};
use venturalitica_evidence::EventKind;

/// Evaluations drawn per lane; older ones are a page away ("N older").
pub const LANE_LIMIT: usize = 60;
/// Lanes drawn; the rest are named and a filter away.
pub const MAX_LANES: usize = 40;

const HEAD_W: u32 = 300;
const NODE_W: u32 = 190;
const NODE_H: u32 = 82;
const GAP: u32 = 14;
const PAD: u32 = 12;
const AXIS_H: u32 = 28;
const LANE_H: u32 = NODE_H + 2 * PAD;
const LINE: u32 = 18;

/// One policy version's evaluations that pass the filter, newest first.
#[derive(Debug)]
pub struct Lane<'a> {
    pub sha: &'a str,
    pub evals: Vec<Evaluation<'a>>,
    /// Evaluations in the lane in all, before paging by `before`.
    pub total: usize,
    pub failed: usize,
}

impl<'a> Lane<'a> {
    fn newest(&self) -> Evaluation<'a> {
        self.evals[0]
    }
}

/// The lanes for `filter`, the lane with the newest evaluation first.
pub fn lanes<'a>(evals: &[Evaluation<'a>], filter: &Filter) -> Vec<Lane<'a>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut lanes: Vec<Lane<'a>> = Vec::new();
    for e in evals.iter().rev().filter(|e| filter.admits(e)) {
        let i = *index.entry(e.policy_sha()).or_insert_with(|| {
            lanes.push(Lane {
                sha: e.policy_sha(),
                evals: Vec::new(),
                total: 0,
                failed: 0,
            });
            lanes.len() - 1
        });
        let lane = &mut lanes[i];
        lane.total += 1;
        lane.failed += usize::from(!e.passed());
        if filter.before.is_none_or(|b| e.seq() < b) {
            lane.evals.push(*e);
        }
    }
    lanes.retain(|l| !l.evals.is_empty());
    lanes
}

/// A fingerprint's chip colour: the same data has the same hue in every lane.
fn hue(fingerprint: &str) -> u32 {
    let head = fingerprint.get(..4).unwrap_or("0");
    u32::from_str_radix(head, 16).unwrap_or(0) % 360
}

/// "2026-12-03 14:05:09" from an RFC 3339 timestamp.
fn short_time(ts: &str) -> String {
    ts.get(..19).unwrap_or(ts).replace('T', " ")
}

/// The SVG's height for these lanes, in pixels.
pub fn height(lanes: &[Lane<'_>]) -> u32 {
    AXIS_H + lanes.len().min(MAX_LANES) as u32 * LANE_H
}

/// The lanes as SVG, drawn at one user unit per pixel.
pub fn svg(lanes: &[Lane<'_>], filter: &Filter) -> String {
    let shown = &lanes[..lanes.len().min(MAX_LANES)];
    let columns = shown
        .iter()
        .map(|l| l.evals.len().min(LANE_LIMIT) + usize::from(l.evals.len() > LANE_LIMIT))
        .max()
        .unwrap_or(0) as u32;
    let width = HEAD_W + GAP + columns * (NODE_W + GAP);
    let height = height(lanes);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"lanes\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Evidence Graph\">\
         <g class=\"pin\"><text class=\"axis\" x=\"{x}\" y=\"18\">newest evaluation → older</text>\
         <text class=\"axis\" x=\"{PAD}\" y=\"18\">policy version (lane)</text></g>",
        x = HEAD_W + GAP
    );
    for (row, lane) in shown.iter().enumerate() {
        let y = AXIS_H + row as u32 * LANE_H;
        lane_svg(&mut out, lane, y, width, filter);
    }
    out += "</svg>";
    out
}

fn lane_svg(out: &mut String, lane: &Lane<'_>, y: u32, width: u32, filter: &Filter) {
    let _ = write!(
        out,
        "<g class=\"lane\" data-policy=\"{sha}\"><rect class=\"band\" x=\"0\" y=\"{y}\" width=\"{width}\" height=\"{LANE_H}\"/>",
        sha = esc(lane.sha),
    );
    let mut x = HEAD_W + GAP;
    let mid = y + PAD + NODE_H / 2;
    for (i, e) in lane.evals.iter().take(LANE_LIMIT).enumerate() {
        if i > 0 {
            let _ = write!(
                out,
                "<line class=\"link\" x1=\"{}\" y1=\"{mid}\" x2=\"{x}\" y2=\"{mid}\"/>",
                x - GAP
            );
        }
        node_svg(out, e, x, y + PAD, filter);
        x += NODE_W + GAP;
    }
    if lane.evals.len() > LANE_LIMIT {
        let last = lane.evals[LANE_LIMIT - 1].seq();
        let older = Filter {
            policy: Some(lane.sha.to_string()),
            ..filter.clone()
        };
        let _ = write!(
            out,
            "<a href=\"{href}\" class=\"more\"><rect class=\"box\" x=\"{x}\" y=\"{top}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"6\"/>\
             <text class=\"strong\" x=\"{tx}\" y=\"{l1}\">{n} older</text><text x=\"{tx}\" y=\"{l2}\">in this lane →</text></a>",
            href = esc(&older.href(None, Some(last))),
            n = lane.evals.len() - LANE_LIMIT,
            top = y + PAD,
            tx = x + 12,
            l1 = y + PAD + 34,
            l2 = y + PAD + 34 + LINE,
        );
    }
    // The lane's head goes last, over the nodes: the script pins it to the
    // left edge as the graph pans.
    let newest = lane.newest();
    let version = newest
        .policy_version()
        .map(|v| format!("v{v} · "))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<g class=\"pin\"><rect class=\"band\" x=\"0\" y=\"{y}\" width=\"{band_w}\" height=\"{LANE_H}\"/>\
         <a href=\"/policy/{sha}\" class=\"head\"><title>{title_full}: the policy text</title>\
         <rect class=\"box\" x=\"{PAD}\" y=\"{top}\" width=\"{w}\" height=\"{NODE_H}\" rx=\"6\"/>\
         <text class=\"strong\" x=\"{tx}\" y=\"{l1}\">{title}</text>\
         <text x=\"{tx}\" y=\"{l2}\">{version}sha256 {short}</text>\
         <text x=\"{tx}\" y=\"{l3}\">{n} evaluation(s) · {failed} failed</text></a></g></g>",
        sha = esc(lane.sha),
        title_full = esc(newest.policy_title()),
        title = esc(&clip(file_name(newest.policy_title()), 30)),
        version = esc(&version),
        short = esc(lane.sha.get(..12).unwrap_or(lane.sha)),
        n = lane.total,
        failed = lane.failed,
        band_w = HEAD_W + GAP / 2,
        top = y + PAD,
        w = HEAD_W - PAD,
        tx = PAD + 10,
        l1 = y + PAD + 24,
        l2 = y + PAD + 24 + LINE,
        l3 = y + PAD + 24 + 2 * LINE,
    );
}

fn node_svg(out: &mut String, e: &Evaluation<'_>, x: u32, y: u32, filter: &Filter) {
    let summary = &e.results.summary;
    let (passed, total) = (summary.passed, summary.total);
    let verdict = if e.passed() { "pass" } else { "fail" };
    let open = if filter.open == Some(e.seq()) {
        " open"
    } else {
        ""
    };
    let (chip, data) = match e.fingerprint() {
        Some(fp) => (
            format!(
                "<rect class=\"chip\" x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" rx=\"2\" fill=\"hsl({} 70% 50%)\"/>",
                x + 10,
                y + 18 + 2 * LINE - 11,
                hue(fp)
            ),
            fp.get(..8).unwrap_or(fp).to_string(),
        ),
        None => (String::new(), "no fingerprint".to_string()),
    };
    let rows = e
        .results
        .data
        .rows
        .map(|r| format!(" · {r} rows"))
        .unwrap_or_default();
    let origin = match (e.origin(), e.entry.pid) {
        ("kernel", Some(pid)) => format!("notebook · pid {pid}"),
        (origin, _) if !origin.is_empty() => origin.to_string(),
        _ => "cli".to_string(),
    };
    let _ = write!(
        out,
        "<a href=\"{href}\" class=\"node {verdict}{open}\" data-seq=\"{seq}\">\
         <title>evaluation #{seq}: {verdict_up}, {passed}/{total} controls passed</title>\
         <rect class=\"box\" x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"6\"/>\
         <text class=\"strong\" x=\"{tx}\" y=\"{l1}\">#{seq} {verdict_up} {passed}/{total}</text>\
         <text x=\"{tx}\" y=\"{l2}\">{time}</text>{chip}\
         <text x=\"{dx}\" y=\"{l3}\">{data}{rows}</text>\
         <text x=\"{tx}\" y=\"{l4}\">{origin}</text></a>",
        href = esc(&filter.href(Some(e.seq()), filter.before)),
        seq = e.seq(),
        verdict_up = verdict.to_uppercase(),
        tx = x + 10,
        dx = x + 28,
        l1 = y + 18,
        l2 = y + 18 + LINE,
        l3 = y + 18 + 2 * LINE,
        l4 = y + 18 + 3 * LINE,
        time = esc(&short_time(&e.entry.ts)),
        data = esc(&data),
        rows = esc(&rows),
        origin = esc(&origin),
    );
}

/// The cell that ran a notebook evaluation: the kernel writes a cell's event
/// when it ends, so it is that process's first cell event after it.
pub fn cell_of<'a>(s: &'a Snapshot, e: &Evaluation<'_>) -> Option<&'a Entry> {
    if e.origin() != "kernel" {
        return None;
    }
    let pid = e.entry.pid?;
    (e.seq() + 1..=s.head())
        .filter_map(|seq| s.get(seq))
        .find(|c| c.pid == Some(pid) && c.kind == Some(EventKind::Cell))
}
