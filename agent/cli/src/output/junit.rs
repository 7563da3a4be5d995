//! JUnit XML: one test case per control, so any CI shows which one failed.
//! `enforce` reports one evaluation; `scan` the latest result of every
//! control in the trail. Both go through [`render_cases`].

use quick_xml::escape::escape;
use venturalitica_engine::{Results, Status};
use venturalitica_scan::LatestControl;

use super::number;

/// One control as a test case.
#[derive(Debug)]
pub struct Case<'a> {
    pub classname: &'a str,
    pub name: &'a str,
    /// `pass`, `fail` or `error`.
    pub status: &'a str,
    /// "metric = value (rule op threshold)".
    pub message: String,
    pub detail: &'a str,
    /// The failure's type: the enforcement mode.
    pub mode: &'a str,
}

/// A report of `cases` as one suite named `suite`.
pub fn render_cases(suite: &str, timestamp: &str, cases: &[Case]) -> String {
    let failed = cases.iter().filter(|c| c.status == "fail").count();
    let errors = cases.iter().filter(|c| c.status == "error").count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"venturalitica\" tests=\"{}\" failures=\"{failed}\" errors=\"{errors}\">\n",
        cases.len()
    ));
    x.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"{errors}\" timestamp=\"{}\">\n",
        escape(suite),
        cases.len(),
        escape(timestamp)
    ));
    for c in cases {
        x.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\">\n",
            escape(c.classname),
            escape(c.name)
        ));
        match c.status {
            "fail" => x.push_str(&format!(
                "      <failure message=\"{}\" type=\"{}\">{}</failure>\n",
                escape(&c.message),
                escape(c.mode),
                escape(c.detail)
            )),
            "error" => x.push_str(&format!(
                "      <error message=\"{}\" type=\"error\">{}</error>\n",
                escape(c.detail),
                escape(c.detail)
            )),
            _ => {}
        }
        x.push_str(&format!(
            "      <system-out>{}</system-out>\n",
            escape(&c.message)
        ));
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

fn message(metric: &str, value: Option<f64>, operator: &str, threshold: Option<f64>) -> String {
    let value = value.map(number).unwrap_or_else(|| "none".into());
    let threshold = threshold.map(number).unwrap_or_else(|| "none".into());
    format!("{metric} = {value} (rule {operator} {threshold})")
}

/// The report of one `enforce`.
pub fn render(results: &Results) -> String {
    let suite = results
        .policy
        .title
        .as_deref()
        .unwrap_or(&results.policy.path);
    let cases: Vec<Case> = results
        .controls
        .iter()
        .map(|c| Case {
            classname: &c.metric_key,
            name: &c.id,
            status: match c.status {
                Status::Pass => "pass",
                Status::Fail => "fail",
                Status::Error => "error",
            },
            message: message(&c.metric_key, c.actual_value, c.operator, Some(c.threshold)),
            detail: c.reason.as_deref().unwrap_or(""),
            mode: c.enforcement_mode,
        })
        .collect();
    render_cases(suite, &results.evaluated_at, &cases)
}

/// The report of a `scan`: the latest result of every control.
pub fn render_latest(controls: &[LatestControl], timestamp: &str) -> String {
    let cases: Vec<Case> = controls
        .iter()
        .map(|c| Case {
            classname: c.policy_title.as_deref().unwrap_or(&c.policy),
            name: &c.control_id,
            status: &c.status,
            message: message(&c.metric_key, c.actual_value, &c.operator, c.threshold),
            detail: c.reason.as_deref().unwrap_or(""),
            mode: &c.enforcement_mode,
        })
        .collect();
    render_cases("venturalitica scan", timestamp, &cases)
}
