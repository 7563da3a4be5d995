//! Renderings of results for people and for CI.

pub mod junit;
pub mod table;

/// A number as results show it: up to four decimals, no trailing zeros.
pub fn number(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}
