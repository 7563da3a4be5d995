//! `venturalitica approve`: a person's approval of the trail up to its
//! head, signed with their SSH key (docs/evidence.md, "Approvals").

use std::path::PathBuf;

use anyhow::{bail, Context};
use venturalitica_evidence::approval::{Signer, Statement, NAMESPACE};
use venturalitica_evidence::{EventKind, Head, ReadOptions, Store, VerifyOptions};
use venturalitica_vocab::events::ApprovalPayload;

use crate::args::ApproveArgs;
use crate::Outcome;

pub fn run(args: ApproveArgs) -> anyhow::Result<Outcome> {
    let root = super::project_root(args.root.as_deref())?;
    let Some(store) = Store::existing(&root) else {
        bail!("{}: no .venturalitica/ evidence store here", root.display());
    };
    // An approval vouches for what it covers: never for an altered trail.
    let report = store.verify(&VerifyOptions::default())?;
    if let Some(finding) = report.findings.first() {
        bail!(
            "the trail does not verify, so it cannot be approved: {}",
            finding.message
        );
    }
    let head = match args.head {
        Some(head) => on_trail(&store, head)?,
        None => report
            .head
            .clone()
            .context("the trail has no events to approve")?,
    };
    let agent = std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from);
    let signer = Signer::choose(args.key.as_deref(), agent.as_deref())?;
    let principal = match args.principal {
        Some(p) => p,
        None if !signer.comment().trim().is_empty() => signer.comment().trim().to_string(),
        None => bail!("the key has no comment to name you by: give --principal NAME, as allowed_signers lists you"),
    };
    let statement = Statement {
        head: head.clone(),
        principal,
        role: args.role,
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        message: args.message,
    };
    let text = statement.text();
    let signature = signer.sign(&text)?;
    let key = signer.fingerprint();
    let parsed = Statement::parse(&text)?;
    let payload = ApprovalPayload {
        statement: text,
        signature,
        principal: parsed.principal.clone(),
        role: parsed.role.clone(),
        message: parsed.message.clone(),
        head: head.to_string(),
        date: parsed.date.clone(),
        key: key.clone(),
    };
    let appended = store.append(EventKind::Approval, serde_json::to_value(&payload)?)?;
    println!(
        "{} approved the trail up to event {} ({head}) with {key}; recorded as event {} (namespace {NAMESPACE})",
        parsed.principal, head.seq, appended.seq
    );
    Ok(Outcome::Passed)
}

/// `head` when the trail has that event with that hash.
fn on_trail(store: &Store, head: Head) -> anyhow::Result<Head> {
    let read = store.read_trail(&ReadOptions::default())?;
    match read.events.iter().find(|e| e.indexed.seq == head.seq) {
        Some(e) if e.indexed.hash == head.hash => Ok(head),
        Some(_) => bail!(
            "event {} of this trail has another hash than {head}",
            head.seq
        ),
        None => bail!("this trail has no event {}", head.seq),
    }
}
