//! `vl`: the short alias of `venturalitica`.
use std::process::ExitCode;

fn main() -> ExitCode {
    venturalitica::main_exit()
}
