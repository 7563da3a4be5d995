//! Grid carbon intensity by the hour (or any step), from a CSV the user
//! names (`grid_intensity_file`): their utility's series, a TSO's, or an
//! Electricity Maps hourly export as it is. A window's CO2e then uses the
//! intensity over its own interval, split at the series' steps and weighted
//! by time; where the series has no value the yearly figure is used, and
//! the report says so (docs/energy.md, "Carbon by the hour").

use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// One step of the series: its intensity from `start` to `end` (ms since
/// the epoch, UTC).
#[derive(Debug, Clone, PartialEq)]
struct Step {
    start: i64,
    end: i64,
    g_per_kwh: f64,
}

/// A series read from a file, with what identifies it.
#[derive(Debug, Clone, PartialEq)]
pub struct HourlySeries {
    pub path: String,
    pub sha256: String,
    /// The column the intensity came from.
    pub column: String,
    /// The series' step in seconds (the most common gap between starts).
    pub step_s: i64,
    pub zone: Option<String>,
    pub source: Option<String>,
    steps: Vec<Step>,
}

/// The intensity over one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Over {
    /// The time-weighted intensity over the window, gaps at the fallback.
    pub g_per_kwh: f64,
    /// The series' steps the window overlaps: their start, value and
    /// the seconds of the window in each.
    pub rows: Vec<RowUsed>,
    /// Seconds of the window the series has no value for.
    pub gap_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowUsed {
    pub start: String,
    pub g_per_kwh: f64,
    pub overlap_s: f64,
}

impl HourlySeries {
    /// Reads `path`; an error says what is wrong and where.
    pub fn read(path: &Path) -> Result<HourlySeries, String> {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let mut series = HourlySeries::parse(&bytes)?;
        series.path = path.display().to_string();
        Ok(series)
    }

    /// The CSV's header names its columns: the time is the first whose name
    /// has `datetime`, `start` or `time` (else the first column); the
    /// intensity is Electricity Maps' `Carbon Intensity gCO₂eq/kWh (LCA)`,
    /// else its `(direct)`, else a column named like `g_per_kwh` or
    /// `intensity`, else the second. Times are RFC 3339, or `YYYY-MM-DD
    /// HH:MM[:SS]` read as UTC.
    pub fn parse(bytes: &[u8]) -> Result<HourlySeries, String> {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| format!("its header cannot be read: {e}"))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let find =
            |pred: &dyn Fn(&str) -> bool| header.iter().position(|h| pred(&h.to_lowercase()));
        let time = find(&|h| h.contains("datetime") || h.contains("start") || h.contains("time"))
            .unwrap_or(0);
        let value = find(&|h| h.contains("carbon intensity") && h.contains("lca"))
            .or_else(|| find(&|h| h.contains("carbon intensity") && h.contains("direct")))
            .or_else(|| {
                find(&|h| h.contains("g_per_kwh") || h.contains("gco2") || h.contains("intensity"))
            })
            .unwrap_or(1);
        let zone = find(&|h| h == "zone id" || h == "zone");
        let source = find(&|h| h == "data source" || h == "source");
        let column = header
            .get(value)
            .cloned()
            .ok_or("it has fewer than two columns (start time, gCO2e/kWh)")?;
        let mut starts: Vec<(i64, f64)> = Vec::new();
        let (mut zone_seen, mut source_seen) = (None, None);
        for (i, record) in reader.records().enumerate() {
            let line = i + 2;
            let record = record.map_err(|e| format!("line {line}: {e}"))?;
            let field = |n: usize| record.get(n).map(str::trim).unwrap_or("");
            let at = parse_time(field(time)).ok_or_else(|| {
                format!(
                    "line {line}: {:?} is not a time (RFC 3339, or YYYY-MM-DD HH:MM:SS in UTC)",
                    field(time)
                )
            })?;
            let g: f64 = field(value)
                .parse()
                .ok()
                .filter(|g: &f64| g.is_finite() && *g >= 0.0)
                .ok_or_else(|| {
                    format!(
                        "line {line}: {:?} in {column:?} is not an intensity (gCO2e/kWh >= 0)",
                        field(value)
                    )
                })?;
            starts.push((at, g));
            if let Some(z) = zone.map(field).filter(|z| !z.is_empty()) {
                zone_seen.get_or_insert_with(|| z.to_string());
            }
            if let Some(s) = source.map(field).filter(|s| !s.is_empty()) {
                source_seen.get_or_insert_with(|| s.to_string());
            }
        }
        if starts.is_empty() {
            return Err("it has no rows".into());
        }
        starts.sort_by_key(|(at, _)| *at);
        if let Some(w) = starts.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!("two rows start at {}", iso(w[0].0)));
        }
        let step_ms = most_common_gap(&starts).unwrap_or(3_600_000);
        // A step lasts to the next start, or one step where the series
        // skips (a gap) or ends.
        let steps = starts
            .iter()
            .enumerate()
            .map(|(i, &(start, g))| {
                let next = starts.get(i + 1).map(|n| n.0);
                let end = match next {
                    Some(n) if n - start <= step_ms => n,
                    _ => start + step_ms,
                };
                Step {
                    start,
                    end,
                    g_per_kwh: g,
                }
            })
            .collect();
        Ok(HourlySeries {
            path: String::new(),
            sha256: hex::encode(Sha256::digest(bytes)),
            column,
            step_s: step_ms / 1000,
            zone: zone_seen,
            source: source_seen,
            steps,
        })
    }

    /// The intensity over `[start, end]` (ms since the epoch): each step's
    /// value weighted by its overlap with the window, `fallback` where the
    /// series has none. An empty window takes the step it falls in.
    pub fn over(&self, start: i64, end: i64, fallback: f64) -> Over {
        let end = end.max(start);
        let first = self.steps.partition_point(|s| s.end <= start);
        if end == start {
            let step = self.steps.get(first).filter(|s| s.start <= start);
            return Over {
                g_per_kwh: step.map_or(fallback, |s| s.g_per_kwh),
                rows: step
                    .map(|s| RowUsed {
                        start: iso(s.start),
                        g_per_kwh: s.g_per_kwh,
                        overlap_s: 0.0,
                    })
                    .into_iter()
                    .collect(),
                gap_s: 0.0,
            };
        }
        let mut rows = Vec::new();
        let (mut weighted, mut covered) = (0.0, 0i64);
        for step in self.steps[first..].iter().take_while(|s| s.start < end) {
            let overlap = step.end.min(end) - step.start.max(start);
            if overlap <= 0 {
                continue;
            }
            weighted += step.g_per_kwh * overlap as f64;
            covered += overlap;
            rows.push(RowUsed {
                start: iso(step.start),
                g_per_kwh: step.g_per_kwh,
                overlap_s: overlap as f64 / 1000.0,
            });
        }
        let gap = end - start - covered;
        Over {
            g_per_kwh: (weighted + fallback * gap as f64) / (end - start) as f64,
            rows,
            gap_s: gap as f64 / 1000.0,
        }
    }
}

fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .map(|t| t.and_utc().timestamp_millis())
}

fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The most common positive gap between consecutive starts.
fn most_common_gap(starts: &[(i64, f64)]) -> Option<i64> {
    let mut counts = std::collections::BTreeMap::new();
    for w in starts.windows(2) {
        *counts.entry(w[1].0 - w[0].0).or_insert(0u32) += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(gap, n)| (*n, -gap))
        .map(|(gap, _)| gap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn at(s: &str) -> i64 {
        parse_time(s).unwrap()
    }

    /// Electricity Maps' hourly export, as downloaded (two columns of
    /// intensity: the life-cycle one is used).
    const EMAPS: &str = "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,Data Source,Data Estimated,Data Estimation Method
2026-03-02 10:00:00,France,France,FR,20.0,100.0,95.1,30.2,entsoe.eu,false,
2026-03-02 11:00:00,France,France,FR,60.0,300.0,90.0,28.0,entsoe.eu,false,
2026-03-02 13:00:00,France,France,FR,10.0,50.0,96.0,35.0,entsoe.eu,false,
";

    #[test]
    fn an_electricity_maps_export_reads_as_it_is() {
        let s = HourlySeries::parse(EMAPS.as_bytes()).unwrap();
        assert_eq!(s.column, "Carbon Intensity gCO₂eq/kWh (LCA)");
        assert_eq!(
            (s.step_s, s.zone.as_deref(), s.source.as_deref()),
            (3600, Some("FR"), Some("entsoe.eu"))
        );
        assert_eq!(s.sha256, hex::encode(Sha256::digest(EMAPS.as_bytes())));
    }

    #[test]
    fn a_window_across_an_hour_boundary_is_time_weighted() {
        let s = HourlySeries::parse(EMAPS.as_bytes()).unwrap();
        // 10:40 to 11:20: 20 minutes at 100, 20 at 300.
        let o = s.over(at("2026-03-02T10:40:00Z"), at("2026-03-02T11:20:00Z"), 56.0);
        assert!((o.g_per_kwh - 200.0).abs() < 1e-9, "{o:?}");
        assert_eq!(o.gap_s, 0.0);
        assert_eq!(
            o.rows.iter().map(|r| r.overlap_s).collect::<Vec<_>>(),
            [1200.0, 1200.0]
        );
        assert_eq!(o.rows[0].start, "2026-03-02T10:00:00Z");
        // 11:30 to 12:30: 30 minutes at 300, then the series skips 12:00.
        let o = s.over(at("2026-03-02T11:30:00Z"), at("2026-03-02T12:30:00Z"), 56.0);
        assert!(
            (o.g_per_kwh - (30.0 * 300.0 + 30.0 * 56.0) / 60.0).abs() < 1e-9,
            "{o:?}"
        );
        assert_eq!(o.gap_s, 1800.0);
        // Before the series starts: the fallback, all of it a gap.
        let o = s.over(at("2026-03-01T00:00:00Z"), at("2026-03-01T00:00:10Z"), 56.0);
        assert_eq!((o.g_per_kwh, o.gap_s, o.rows.len()), (56.0, 10.0, 0));
        // An instant takes its step.
        let t = at("2026-03-02T13:15:00Z");
        assert_eq!(s.over(t, t, 56.0).g_per_kwh, 50.0);
        assert_eq!(
            s.over(
                at("2026-03-02T10:00:00Z") + H,
                at("2026-03-02T10:00:00Z") + 2 * H,
                1.0
            )
            .g_per_kwh,
            300.0
        );
    }

    #[test]
    fn a_simple_series_and_its_errors() {
        let s = HourlySeries::parse(
            b"start,g_per_kwh\n2026-01-01T00:00:00Z,120\n2026-01-01T00:15:00+00:00,80\n",
        )
        .unwrap();
        assert_eq!(s.step_s, 900);
        let bad = |text: &str| HourlySeries::parse(text.as_bytes()).unwrap_err();
        assert!(bad("start,g\n").contains("no rows"));
        assert!(bad("start,g\nyesterday,3\n").contains("line 2: \"yesterday\" is not a time"));
        assert!(bad("start,g\n2026-01-01 00:00,-1\n").contains("line 2"));
        assert!(
            bad("start,g\n2026-01-01 00:00,1\n2026-01-01 00:00,2\n").contains("two rows start at")
        );
    }
}
