//! JUnit XML: one test case per control, so any CI shows which one failed.

use quick_xml::escape::escape;
use venturalitica_engine::{Results, Status};

use super::number;

pub fn render(results: &Results) -> String {
    let suite = results
        .policy
        .title
        .as_deref()
        .unwrap_or(&results.policy.path);
    let s = &results.summary;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"venturalitica\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n",
        s.total, s.failed, s.errors
    ));
    x.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" timestamp=\"{}\">\n",
        escape(suite),
        s.total,
        s.failed,
        s.errors,
        escape(&results.evaluated_at)
    ));
    for c in &results.controls {
        let value = c.actual_value.map(number).unwrap_or_else(|| "none".into());
        x.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\">\n",
            escape(&c.metric_key),
            escape(&c.id)
        ));
        let message = format!(
            "{} = {} (rule {} {})",
            c.metric_key,
            value,
            c.operator,
            number(c.threshold)
        );
        let detail = c.reason.as_deref().unwrap_or("");
        match c.status {
            Status::Pass => {}
            Status::Fail => x.push_str(&format!(
                "      <failure message=\"{}\" type=\"{}\">{}</failure>\n",
                escape(&message),
                escape(c.enforcement_mode),
                escape(detail)
            )),
            Status::Error => x.push_str(&format!(
                "      <error message=\"{}\" type=\"error\">{}</error>\n",
                escape(detail),
                escape(detail)
            )),
        }
        x.push_str(&format!(
            "      <system-out>{}</system-out>\n",
            escape(&message)
        ));
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
