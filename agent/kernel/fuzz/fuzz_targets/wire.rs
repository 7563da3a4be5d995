//! Any sequence of frames: parsing never panics, and what parses with a key
//! round-trips to the same frames.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use venturalitica_kernel::wire::{RawMessage, Signer};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the key (signed or not); 0xFF splits frames.
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let signer = Signer::new(if mode % 2 == 0 { b"" } else { b"key" });
    let frames: Vec<Bytes> = rest
        .split(|b| *b == 0xFF)
        .map(Bytes::copy_from_slice)
        .collect();
    if let Ok(msg) = RawMessage::parse(frames.clone(), &signer) {
        let _ = msg.header();
        let _ = msg.parent_header();
        let _ = msg.content();
        assert_eq!(msg.into_frames(), frames);
    }
});
