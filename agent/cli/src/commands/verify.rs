//! `venturalitica verify`.

use std::io::Write;

use anyhow::Context;
use venturalitica_evidence::{PublicKey, Store, VerifyOptions};

use crate::args::VerifyArgs;
use crate::Outcome;

pub fn run(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let root = super::project_root(args.root.as_deref())?;
    let Some(store) = Store::existing(&root) else {
        anyhow::bail!("{}: no .venturalitica/ evidence store here", root.display());
    };
    let trusted = args
        .trusted_key
        .iter()
        .map(|path| PublicKey::read(path).context("--trusted-key"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let options = VerifyOptions {
        trusted,
        anchors: args.head,
        full: args.full,
    };
    let started = std::time::Instant::now();
    let report = store.verify(&options)?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        for f in &report.findings {
            let at = f
                .line
                .map(|l| format!("trace.jsonl:{l}: "))
                .unwrap_or_default();
            writeln!(out, "FAIL {at}{}", f.message)?;
        }
        for n in &report.notes {
            writeln!(out, "note: {n}")?;
        }
        for s in &report.signers {
            let trust = match s.trusted {
                Some(true) => "trusted",
                Some(false) => "NOT TRUSTED",
                None => "not checked against a trusted key (--trusted-key)",
            };
            writeln!(
                out,
                "signed by {}: {} event(s), {}–{}; {trust}",
                s.key_id, s.events, s.first_seq, s.last_seq
            )?;
        }
        if report.unsigned_events > 0 {
            writeln!(out, "unsigned: {} event(s)", report.unsigned_events)?;
        }
        for a in &report.anchors {
            let verdict = if a.matched { "holds" } else { "BROKEN" };
            writeln!(out, "anchor {}:{}: {verdict}", a.seq, a.hash)?;
        }
        let verdict = if report.ok() { "intact" } else { "ALTERED" };
        write!(
            out,
            "{verdict}: {} events, {} policy copies checked in {}",
            report.events,
            report.policies_checked,
            store.dir().display()
        )?;
        match &report.head {
            Some(head) => writeln!(out, "; head {head}")?,
            None => writeln!(out)?,
        }
        if args.full {
            writeln!(
                out,
                "checked every event from the first in {elapsed:.2} s ({:.0} events/s)",
                report.events as f64 / elapsed.max(1e-9)
            )?;
        }
    }
    Ok(if report.ok() {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}
