//! JUnit XML: one test case per control, so any CI shows which one failed.
//! `enforce` reports one evaluation; `scan` the latest result of every
//! control in the trail. Both go through [`render_cases`].

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;
use venturalitica_engine::results::EnforcementMode;
use venturalitica_engine::{Results, Status};
use venturalitica_scan::LatestControl;

use super::number;

/// One control as a test case.
#[derive(Debug)]
pub struct Case<'a> {
    pub classname: &'a str,
    pub name: &'a str,
    pub status: Status,
    /// "metric = value (rule op threshold)".
    pub message: String,
    pub detail: &'a str,
    /// The failure's type: the enforcement mode.
    pub mode: EnforcementMode,
}

/// A report of `cases` as one suite named `suite`.
pub fn render_cases(suite: &str, timestamp: &str, cases: &[Case]) -> String {
    // An inconclusive control is a failure to CI: it did not pass.
    let failed = cases
        .iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Inconclusive))
        .count();
    let errors = cases.iter().filter(|c| c.status == Status::Error).count();
    let (total, failed, errors) = (
        cases.len().to_string(),
        failed.to_string(),
        errors.to_string(),
    );
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing to a Vec cannot fail; the writer's errors are I/O errors.
    let written: std::io::Result<()> = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.create_element("testsuites")
            .with_attributes([
                ("name", "venturalitica"),
                ("tests", total.as_str()),
                ("failures", failed.as_str()),
                ("errors", errors.as_str()),
            ])
            .write_inner_content(|w| {
                w.create_element("testsuite")
                    .with_attributes([
                        ("name", suite),
                        ("tests", total.as_str()),
                        ("failures", failed.as_str()),
                        ("errors", errors.as_str()),
                        ("timestamp", timestamp),
                    ])
                    .write_inner_content(|w| {
                        for c in cases {
                            write_case(w, c)?;
                        }
                        Ok(())
                    })?;
                Ok(())
            })?;
        Ok(())
    })();
    written.expect("writing XML to memory");
    let mut xml = String::from_utf8(w.into_inner()).expect("the writer writes UTF-8");
    xml.push('\n');
    xml
}

fn write_case(w: &mut Writer<Vec<u8>>, c: &Case) -> std::io::Result<()> {
    w.create_element("testcase")
        .with_attributes([("classname", c.classname), ("name", c.name)])
        .write_inner_content(|w| {
            match c.status {
                Status::Fail => {
                    w.create_element("failure")
                        .with_attributes([("message", c.message.as_str()), ("type", c.mode.name())])
                        .write_text_content(BytesText::new(c.detail))?;
                }
                Status::Error => {
                    w.create_element("error")
                        .with_attributes([("message", c.detail), ("type", "error")])
                        .write_text_content(BytesText::new(c.detail))?;
                }
                Status::Inconclusive => {
                    let mode = format!("inconclusive ({})", c.mode.name());
                    w.create_element("failure")
                        .with_attributes([("message", c.message.as_str()), ("type", mode.as_str())])
                        .write_text_content(BytesText::new(c.detail))?;
                }
                Status::Pass => {}
            }
            w.create_element("system-out")
                .write_text_content(BytesText::new(&c.message))?;
            Ok(())
        })?;
    Ok(())
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
            status: c.status,
            message: message(
                &c.metric_key,
                c.actual_value,
                &c.operator,
                Some(c.threshold),
            ),
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
            status: c.status,
            message: message(&c.metric_key, c.actual_value, &c.operator, c.threshold),
            detail: c.reason.as_deref().unwrap_or(""),
            mode: c.enforcement_mode,
        })
        .collect();
    render_cases("venturalitica scan", timestamp, &cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report, byte for byte: structure, counts and escaping.
    #[test]
    fn a_report_with_every_status_and_markup_in_its_names() {
        let cases = [
            Case {
                classname: "disparate_impact",
                name: "di <&> \"quoted\" 'single'",
                status: Status::Fail,
                message: "disparate_impact = 0.5 (rule >= 0.8)".into(),
                detail: "0.5 < 0.8 & <b>",
                mode: EnforcementMode::Block,
            },
            Case {
                classname: "a&b",
                name: "err",
                status: Status::Error,
                message: "m".into(),
                detail: "column \"x\" <missing>",
                mode: EnforcementMode::Warn,
            },
            Case {
                classname: "k",
                name: "ok",
                status: Status::Pass,
                message: String::new(),
                detail: "",
                mode: EnforcementMode::Block,
            },
        ];
        let got = render_cases("suite <1>", "2026-12-06T00:00:00Z", &cases);
        let want = SNAPSHOT;
        assert_eq!(got, want);
    }

    /// The report of the agent's own results document (the fixture the
    /// TypeScript tests read, checked against the schema by pytest).
    #[test]
    fn the_report_of_a_results_document() {
        let results: Results = serde_json::from_str(include_str!(
            "../../../../labextension/test/fixtures/results.json"
        ))
        .expect("the results fixture");
        insta::assert_snapshot!(render(&results));
    }

    const SNAPSHOT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"venturalitica\" tests=\"3\" failures=\"1\" errors=\"1\">\n  <testsuite name=\"suite &lt;1&gt;\" tests=\"3\" failures=\"1\" errors=\"1\" timestamp=\"2026-12-06T00:00:00Z\">\n    <testcase classname=\"disparate_impact\" name=\"di &lt;&amp;&gt; &quot;quoted&quot; &apos;single&apos;\">\n      <failure message=\"disparate_impact = 0.5 (rule &gt;= 0.8)\" type=\"block\">0.5 &lt; 0.8 &amp; &lt;b&gt;</failure>\n      <system-out>disparate_impact = 0.5 (rule &gt;= 0.8)</system-out>\n    </testcase>\n    <testcase classname=\"a&amp;b\" name=\"err\">\n      <error message=\"column &quot;x&quot; &lt;missing&gt;\" type=\"error\">column &quot;x&quot; &lt;missing&gt;</error>\n      <system-out>m</system-out>\n    </testcase>\n    <testcase classname=\"k\" name=\"ok\">\n      <system-out></system-out>\n    </testcase>\n  </testsuite>\n</testsuites>\n";
}
