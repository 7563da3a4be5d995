//! What the agent answers (docs/agent-protocol.md): the handler of the
//! typed requests of `venturalitica_kernel::protocol`, for the endpoint a
//! proxied kernel talks to and for `venturalitica agent`.
//!
//! - [`handler`]: [`EngineHandler`], one method per op.
//! - [`record`]: an evaluation recorded in the evidence store (also the
//!   CLI's `enforce`).
//! - [`reference`]: reference snapshots recorded, and found by name.
//! - [`monitor`]: energy windows opened and closed by token.
//! - [`views`]: a policy as loaded, the metric catalog, the threshold check.

pub mod handler;
pub mod monitor;
pub mod record;
pub mod reference;
pub mod views;

use std::path::Path;

pub use handler::{EngineHandler, Root};
use venturalitica_energy::EnergyConfig;
use venturalitica_kernel::proxy::Energy;

/// The energy settings of the project at `root`. Bad settings must not cost
/// the user their kernel: they are reported in the log and on every cell.
pub fn energy_setting(root: &Path) -> Energy {
    match EnergyConfig::load(root) {
        Ok(config) if config.enabled => Energy::On(Box::new(config)),
        Ok(_) => Energy::Off,
        Err(e) => {
            tracing::error!(%e, "energy settings; cells are not metered");
            Energy::Broken(e.to_string())
        }
    }
}
