use std::process::ExitCode;

fn main() -> ExitCode {
    venturalitica::main_exit()
}
