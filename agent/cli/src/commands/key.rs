//! `venturalitica key show`.

use std::io::Write;

use venturalitica_evidence::key::{default_key_path, KEY_ENV, KEY_FILE_ENV};
use venturalitica_evidence::EvidenceKey;

use crate::args::KeyShowArgs;
use crate::Outcome;

pub fn show(args: KeyShowArgs) -> anyhow::Result<Outcome> {
    let key = EvidenceKey::load_default()?;
    let public = key.public();
    let mut out = std::io::stdout().lock();
    if args.pem {
        write!(out, "{}", public.to_pem())?;
        return Ok(Outcome::Passed);
    }
    writeln!(out, "key id:     {}", public.id())?;
    writeln!(out, "public key: {}", public.to_hex())?;
    writeln!(out, "kept in:    {}", key.origin)?;
    if std::env::var_os(KEY_ENV).is_none() && std::env::var_os(KEY_FILE_ENV).is_none() {
        if let Some(path) = default_key_path() {
            writeln!(
                out,
                "public PEM: {}",
                path.with_file_name("signing-key.pub.pem").display()
            )?;
        }
    }
    writeln!(out)?;
    write!(out, "{}", public.to_pem())?;
    Ok(Outcome::Passed)
}
