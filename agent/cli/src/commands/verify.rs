//! `venturalitica verify`.

use std::io::Write;

use anyhow::Context;
use venturalitica_evidence::approval::{check_all, AllowedSigners};
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
    let allowed = args
        .allowed_signers
        .as_deref()
        .map(AllowedSigners::read)
        .transpose()
        .context("--allowed-signers")?;
    let started = std::time::Instant::now();
    let report = store.verify(&options)?;
    let elapsed = started.elapsed().as_secs_f64();
    let approvals = match &allowed {
        Some(allowed) => Some(check_all(&store, allowed)?),
        None => None,
    };
    let approvals_hold = approvals.iter().flatten().all(|a| a.holds);
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut doc = serde_json::to_value(&report)?;
        if let (Some(approvals), Some(map)) = (&approvals, doc.as_object_mut()) {
            map.insert("approvals".into(), serde_json::to_value(approvals)?);
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        for a in approvals.iter().flatten() {
            let role = a
                .role
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            match &a.problem {
                None => writeln!(
                    out,
                    "approval #{}: {}{role} approved the trail up to {} on {} with {}: holds",
                    a.seq, a.principal, a.head, a.date, a.key
                )?,
                Some(why) => writeln!(out, "FAIL approval #{}: {why}", a.seq)?,
            }
        }
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
        // Reference snapshots only where there are some: the common line stays as it was.
        let references = match report.references_checked {
            0 => String::new(),
            n => format!(", {n} reference snapshot(s)"),
        };
        write!(
            out,
            "{verdict}: {} events, {} policy copies{references} checked in {}",
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
    Ok(if report.ok() && approvals_hold {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}
