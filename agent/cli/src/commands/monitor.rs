//! `venturalitica monitor -- CMD ...`: one command's energy, like `time`.

use std::io::Write;
use std::process::Command;
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use venturalitica_energy::{EnergyConfig, EnergyReport, Meter};
use venturalitica_evidence::{EventKind, Store};
use venturalitica_os::AccountedChild;

use crate::args::MonitorArgs;
use crate::Outcome;

pub fn run(args: MonitorArgs) -> anyhow::Result<Outcome> {
    let root = super::project_root(args.root.as_deref())?;
    let config = EnergyConfig::load(&root)?;
    let (program, rest) = args
        .command
        .split_first()
        .context("no command to monitor: give it after `--`")?;
    let name = args.name.clone().unwrap_or_else(|| args.command.join(" "));
    if !config.enabled {
        // Off means off: the command runs, nothing is measured or recorded.
        let status = Command::new(program)
            .args(rest)
            .status()
            .with_context(|| format!("cannot run {program:?}"))?;
        let code = venturalitica_os::exit_code(status);
        eprintln!(
            "venturalitica monitor: {name} (exit {code}): energy measurement is off (VENTURALITICA_ENERGY or [tool.venturalitica] energy): nothing measured or recorded"
        );
        return Ok(Outcome::Exit(u8::try_from(code).unwrap_or(1)));
    }
    let meter = Arc::new(Meter::new(config));

    let started = chrono::Utc::now();
    let since = std::time::Instant::now();
    let child = AccountedChild::spawn(Command::new(program).args(rest))
        .with_context(|| format!("cannot run {program:?}"))?;
    // The command's CPU time counts from its creation: so does the window.
    let window = meter.start_since(child.pid(), since);
    let (status, used) = child
        .wait()
        .with_context(|| format!("waiting for {program:?}"))?;
    let report = window.finish_exited(used.cpu_seconds, used.peak_memory_bytes);
    let code = venturalitica_os::exit_code(status);

    let mut err = std::io::stderr().lock();
    if args.json {
        writeln!(err, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write!(err, "{}", summary(&name, code, &report))?;
    }
    if !args.no_record {
        let store = Store::open(&root)?;
        store
            .append(
                EventKind::Monitor,
                json!({
                    "name": name,
                    "command": args.command,
                    "exit_code": code,
                    "start": started.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "energy": report,
                }),
            )
            .context("cannot record the run in the evidence trail")?;
    }
    Ok(Outcome::Exit(u8::try_from(code).unwrap_or(1)))
}

/// The `time`-like summary.
pub fn summary(name: &str, code: i32, r: &EnergyReport) -> String {
    let part = |label: &str, c: &venturalitica_energy::meter::Component| {
        format!(
            "{label} {} J ({}–{}) [{}]",
            sig3(c.joules),
            sig3(c.low_j),
            sig3(c.high_j),
            c.method
        )
    };
    let mut parts = vec![part("cpu", &r.cpu), part("ram", &r.ram)];
    if let Some(g) = &r.gpu {
        parts.push(part("gpu", g));
    }
    // The intensity the CO2e used: the hourly series' over the window, or
    // the yearly figure.
    let grid = &r.basis["grid"];
    let (grid_name, g_per_kwh) = match &r.grid_hourly {
        Some(h) => (
            format!("hourly {}", h["file"].as_str().unwrap_or("series")),
            h["g_per_kwh"].clone(),
        ),
        None => (
            grid["code"].as_str().unwrap_or("?").to_string(),
            grid["g_per_kwh"].clone(),
        ),
    };
    let mut text = format!(
        "venturalitica monitor: {name} (exit {code})\n  wall {:.2} s  cpu {:.3} s  peak RSS {:.1} MiB\n  energy {:.1} J, {:.1}–{:.1} J ({:.4} Wh): {}\n  carbon {:.4} gCO2e, {:.4}–{:.4} ({} {} g/kWh, PUE {})\n",
        r.wall_s,
        r.cpu_s,
        r.peak_rss_bytes as f64 / (1 << 20) as f64,
        r.total_j,
        r.total_low_j,
        r.total_high_j,
        r.kwh * 1000.0,
        parts.join(", "),
        r.co2e_g,
        r.co2e_low_g,
        r.co2e_high_g,
        grid_name,
        g_per_kwh,
        r.basis["pue"]["value"],
    );
    for note in &r.notes {
        text += &format!("  note: {note}\n");
    }
    text
}

/// Three significant digits, at least one decimal: 51.7, 0.00621.
fn sig3(x: f64) -> String {
    let decimals = if x > 0.0 && x < 10.0 {
        (2.0 - x.log10().floor()).clamp(1.0, 12.0) as usize
    } else {
        1
    };
    format!("{x:.decimals$}")
}
