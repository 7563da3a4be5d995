//! Any text as a policy file: a policy or a located error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = venturalitica_policy::parse_policy(std::path::Path::new("fuzz.yaml"), text);
});
