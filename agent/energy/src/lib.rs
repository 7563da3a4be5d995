//! Energy and carbon of a process tree over a window of time: one notebook
//! cell, or one `monitor` run.
//!
//! Every figure says how it was obtained (`method`): measured by RAPL or
//! NVML counters where the hardware allows, modelled otherwise.
//!
//! # Layout
//!
//! - [`config`]: settings and their precedence (env, pyproject.toml, defaults).
//! - [`carbon`]: grid carbon intensity tables.
//! - [`cpu_model`]: the CPU's model name and TDP table.
//! - [`process`]: a process tree's CPU time, memory and OS-kept energy: one
//!   interface, one reader per OS: [`procfs`] and `linux` (Linux), [`darwin`]
//!   (macOS), [`win32`] (Windows).
//! - [`procfs`]: CPU time and RSS of a process tree, from `/proc`.
//! - [`rapl`]: RAPL energy counters under a (configurable) powercap root.
//! - [`gpu`]: GPUs behind a trait; NVML is the real backend; share rules.
//! - [`gpu_window`]: one window's GPU energy and the tree's share of it.
//! - [`uncertainty`]: error bands by method, and how they combine.
//! - [`meter`]: windows: start, sample, finish with an [`EnergyReport`].

pub mod carbon;
pub mod config;
pub mod cpu_model;
pub mod darwin;
pub mod gpu;
pub mod gpu_window;
pub mod hourly;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod meter;
pub mod process;
pub mod procfs;
pub mod rapl;
pub mod uncertainty;
pub mod win32;

pub use config::EnergyConfig;
pub use meter::{EnergyReport, Meter, Window};

/// Errors of the energy module. Measurement failures are not errors (they
/// fall back to a model); these are bad settings.
#[derive(Debug, thiserror::Error)]
pub enum EnergyError {
    /// A setting has a value that cannot be used.
    #[error("{origin}: {key} = {value:?}: {reason}")]
    BadSetting {
        origin: String,
        key: String,
        value: String,
        reason: String,
    },
    /// pyproject.toml cannot be read or parsed.
    #[error(transparent)]
    Pyproject(#[from] venturalitica_vocab::project::PyprojectError),
}
