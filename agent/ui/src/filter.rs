//! The Evidence Graph's filters, read from the page's query string and
//! written back into every link so a click keeps them.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};

use crate::model::Evaluation;

/// Which evaluations the graph shows, and which one is open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// A policy version's sha256, or a policy's key (uuid or path): all its versions.
    pub policy: Option<String>,
    /// A notebook session: the proxy's pid.
    pub session: Option<u64>,
    /// A data fingerprint, or a prefix of one (at least 6 characters).
    pub data: Option<String>,
    /// Evaluated from the start of `from` to the end of `to` (UTC), each
    /// to the precision it was written in: `to=2026-12-02` is the whole day.
    pub from: Option<Moment>,
    pub to: Option<Moment>,
    /// Failed evaluations only.
    pub failed: bool,
    /// The evaluation whose controls are shown.
    pub open: Option<u64>,
    /// Only evaluations before this sequence number (the next page of a lane).
    pub before: Option<u64>,
}

/// Shortest fingerprint prefix a filter accepts: shorter ones match by chance.
const MIN_PREFIX: usize = 6;

impl Filter {
    /// Reads the query's pairs; a value that cannot be read is an error that
    /// names it (the page shows it), never a filter quietly dropped.
    pub fn from_query(pairs: &[(String, String)]) -> Result<Filter, String> {
        let mut f = Filter::default();
        for (key, value) in pairs {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match key.as_str() {
                "policy" => f.policy = Some(value.to_string()),
                "session" => f.session = Some(number(key, value)?),
                "data" => {
                    if value.len() < MIN_PREFIX || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(format!(
                            "data: {value:?} is not a fingerprint or a prefix of at least {MIN_PREFIX} hex digits"
                        ));
                    }
                    f.data = Some(value.to_ascii_lowercase());
                }
                "from" => f.from = Some(Moment::parse(key, value)?),
                "to" => f.to = Some(Moment::parse(key, value)?),
                "failed" => f.failed = value == "1" || value == "on",
                "eval" => f.open = Some(number(key, value)?),
                "before" => f.before = Some(number(key, value)?),
                // The dashboard's token rides on the first request only.
                "token" => {}
                _ => return Err(format!("unknown filter {key:?}")),
            }
        }
        Ok(f)
    }

    /// Whether the graph shows `e` (ignoring `before`, which pages a lane).
    pub fn admits(&self, e: &Evaluation<'_>) -> bool {
        if let Some(p) = &self.policy {
            if e.policy_sha() != p && e.policy_key() != p {
                return false;
            }
        }
        if let Some(pid) = self.session {
            if e.origin() != "kernel" || e.entry.pid != Some(pid) {
                return false;
            }
        }
        if let Some(prefix) = &self.data {
            if !e
                .fingerprint()
                .is_some_and(|fp| fp.starts_with(prefix.as_str()))
            {
                return false;
            }
        }
        if self.from.is_some() || self.to.is_some() {
            // The trail's own timestamps; one that cannot be read is outside any range.
            let Ok(at) = DateTime::parse_from_rfc3339(&e.entry.ts) else {
                return false;
            };
            let at = at.with_timezone(&Utc);
            if self.from.as_ref().is_some_and(|from| at < from.start)
                || self.to.as_ref().is_some_and(|to| at >= to.end)
            {
                return false;
            }
        }
        !(self.failed && e.passed())
    }

    /// Whether any filter (not the open evaluation or the page) is set.
    pub fn narrows(&self) -> bool {
        self.policy.is_some()
            || self.session.is_some()
            || self.data.is_some()
            || self.from.is_some()
            || self.to.is_some()
            || self.failed
    }

    /// `/graph?…` with these filters; `open` and `before` as given.
    pub fn href(&self, open: Option<u64>, before: Option<u64>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(p) = &self.policy {
            pairs.push(("policy", p.clone()));
        }
        if let Some(s) = self.session {
            pairs.push(("session", s.to_string()));
        }
        if let Some(d) = &self.data {
            pairs.push(("data", d.clone()));
        }
        if let Some(t) = &self.from {
            pairs.push(("from", t.text.clone()));
        }
        if let Some(t) = &self.to {
            pairs.push(("to", t.text.clone()));
        }
        if self.failed {
            pairs.push(("failed", "1".into()));
        }
        if let Some(b) = before {
            pairs.push(("before", b.to_string()));
        }
        if let Some(o) = open {
            pairs.push(("eval", o.to_string()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        let anchor = if open.is_some() { "#details" } else { "" };
        if query.is_empty() {
            format!("/graph{anchor}")
        } else {
            format!("/graph?{query}{anchor}")
        }
    }

    /// The same filters on another data fingerprint, none else narrowed.
    pub fn on_data(fingerprint: &str) -> String {
        Filter {
            data: Some(fingerprint.to_string()),
            ..Filter::default()
        }
        .href(None, None)
    }
}

fn number(key: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{key}: {value:?} is not a number"))
}

/// A time as written in the query: the span it names, `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    /// As written, for links and the form.
    pub text: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Moment {
    /// A `datetime-local` value (to the minute or second, UTC), a date, or RFC 3339.
    fn parse(key: &str, value: &str) -> Result<Moment, String> {
        let span = |start: DateTime<Utc>, width: TimeDelta| Moment {
            text: value.to_string(),
            start,
            end: start + width,
        };
        if let Ok(t) = DateTime::parse_from_rfc3339(value) {
            return Ok(span(t.with_timezone(&Utc), TimeDelta::nanoseconds(1)));
        }
        for (format, width) in [
            ("%Y-%m-%dT%H:%M:%S%.f", TimeDelta::seconds(1)),
            ("%Y-%m-%dT%H:%M", TimeDelta::minutes(1)),
        ] {
            if let Ok(t) = NaiveDateTime::parse_from_str(value, format) {
                return Ok(span(t.and_utc(), width));
            }
        }
        if let Some(t) = NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
        {
            return Ok(span(t.and_utc(), TimeDelta::days(1)));
        }
        Err(format!(
            "{key}: {value:?} is not a time (YYYY-MM-DDTHH:MM[:SS], UTC)"
        ))
    }

    /// The value for a `datetime-local` input.
    pub fn form_value(&self) -> String {
        self.start.format("%Y-%m-%dT%H:%M:%S").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_query_round_trips_through_href() {
        let f = Filter::from_query(&pairs(&[
            ("policy", "abc/def.yaml"),
            ("session", "42"),
            ("data", "ABCDEF12"),
            ("from", "2026-12-01T10:00"),
            ("to", "2026-12-02"),
            ("failed", "on"),
            ("eval", "7"),
        ]))
        .unwrap();
        assert_eq!(f.data.as_deref(), Some("abcdef12"));
        let href = f.href(f.open, Some(99));
        assert!(
            href.starts_with("/graph?") && href.ends_with("#details"),
            "{href}"
        );
        let query = href
            .trim_start_matches("/graph?")
            .trim_end_matches("#details");
        let back: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
        let again = Filter::from_query(&back).unwrap();
        assert_eq!(
            again,
            Filter {
                before: Some(99),
                ..f
            }
        );
        assert_eq!(Filter::default().href(None, None), "/graph");
    }

    #[test]
    fn bad_values_are_errors_that_name_them() {
        for (q, needle) in [
            (("session", "x"), "session"),
            (("data", "abc"), "at least 6"),
            (("data", "zzzzzzzz"), "hex"),
            (("from", "yesterday"), "from"),
            (("colour", "red"), "unknown filter"),
        ] {
            let e = Filter::from_query(&pairs(&[q])).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
        assert_eq!(
            Filter::from_query(&pairs(&[("data", "")])).unwrap(),
            Filter::default()
        );
    }

    #[test]
    fn a_time_covers_the_span_it_names() {
        let to = Moment::parse("to", "2026-12-02T10:00").unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(at("2026-12-02T10:00:59.999Z") < to.end);
        assert!(at("2026-12-02T10:01:00Z") >= to.end);
        let day = Moment::parse("to", "2026-12-02").unwrap();
        assert_eq!(day.end, at("2026-12-03T00:00:00Z"));
        let second = Moment::parse("from", "2026-12-02T10:00:05").unwrap();
        assert_eq!(
            (second.start, second.end),
            (at("2026-12-02T10:00:05Z"), at("2026-12-02T10:00:06Z"))
        );
        assert_eq!(second.form_value(), "2026-12-02T10:00:05");
    }
}
