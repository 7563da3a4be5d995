//! The proxy's transport, as a hostile peer meets it: any bytes after the
//! greeting, in NULL and CURVE mode, never panic or hang, and an untampered
//! CURVE session delivers its messages intact.
//!
//! The first byte picks the mode:
//! - 0, 1: the bytes a NULL peer sends to a ROUTER (0) or an XPUB (1):
//!   greeting, READY, then frames and commands;
//! - 2: the bytes a CURVE client sends to a ROUTER whose keys are
//!   [`SERVER_PUBLIC`] / [`SERVER_SECRET`] (the seeds are real libzmq
//!   clients' greetings and HELLOs for that key);
//! - 3: a CURVE session between our client and server, the fuzzer choosing
//!   the bytes flipped in HELLO, INITIATE and the boxed messages, and the
//!   messages.
#![no_main]

use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use venturalitica_kernel::zmtp::curve::{Client, ClientKeys, Server, ServerKeys};
use venturalitica_kernel::zmtp::{self, Incoming, Mechanism, Reader, SocketType};

pub const SERVER_PUBLIC: &str = "[44bTCPu-Y:kHF769BkC?Ie3g1Kf)Rl#!oXcMhF^";
pub const SERVER_SECRET: &str = "1U%<cTcNi+xdTI<-P)OLHR>5Uh@?ajlP9BTsfc**";

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
});
static KEYS: LazyLock<ServerKeys> =
    LazyLock::new(|| ServerKeys::from_z85(SERVER_PUBLIC, SERVER_SECRET).expect("the fuzz keys"));

/// Small, so an input cannot make the fuzzer allocate much.
const LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    RUNTIME.block_on(async {
        match mode % 4 {
            0 => stream(rest, SocketType::Router, &Mechanism::Null).await,
            1 => stream(rest, SocketType::XPub, &Mechanism::Null).await,
            2 => stream(rest, SocketType::Router, &Mechanism::Curve(KEYS.clone())).await,
            _ => session(rest).await,
        }
    });
});

/// A peer's whole byte stream, then its end.
async fn stream(bytes: &[u8], ours: SocketType, mechanism: &Mechanism) {
    let Ok((_, mut reader, _)) =
        zmtp::handshake(bytes, tokio::io::sink(), ours, None, mechanism).await
    else {
        return;
    };
    reader.set_limit(LIMIT);
    while reader.recv().await.is_ok() {}
}

/// Flips in one of the session's byte strings, from the fuzzer's input.
struct Flips(Vec<(u8, usize, u8)>);

impl Flips {
    fn apply(&self, which: u8, bytes: &mut [u8]) {
        for &(target, at, xor) in &self.0 {
            if target % 3 == which && !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] ^= xor;
            }
        }
    }

    fn any(&self) -> bool {
        self.0.iter().any(|&(_, _, xor)| xor != 0)
    }
}

async fn session(input: &[u8]) {
    // Up to 8 flips of 4 bytes each (target, offset, xor), then messages
    // separated by 0xFF.
    let Some((&n, rest)) = input.split_first() else {
        return;
    };
    let n = usize::from(n % 9).min(rest.len() / 4);
    let (flips, messages) = rest.split_at(n * 4);
    let flips = Flips(
        flips
            .chunks_exact(4)
            .map(|c| (c[0], usize::from(u16::from_be_bytes([c[1], c[2]])), c[3]))
            .collect(),
    );
    let messages: Vec<Bytes> = messages
        .split(|&b| b == 0xFF)
        .map(Bytes::copy_from_slice)
        .collect();

    let client_keys = ClientKeys::for_server(&KEYS);
    let (client, mut hello) = Client::hello(&client_keys);
    flips.apply(0, &mut hello);
    let Ok((server, welcome)) = Server::hello(&KEYS, &hello) else {
        assert!(flips.any(), "an untampered HELLO is accepted");
        return;
    };
    let (client, mut initiate) = client.welcome(&welcome, b"").expect("our own WELCOME opens");
    flips.apply(1, &mut initiate);
    let Ok((_, ready, (_, decoder))) = server.initiate(&initiate, b"") else {
        assert!(flips.any(), "an untampered INITIATE is accepted");
        return;
    };
    let (_, mut encoder, _) = client.ready(&ready).expect("our own READY opens");
    let mut wire = BytesMut::new();
    for m in &messages {
        encoder.put(&mut wire, false, false, m);
    }
    let mut wire = wire.to_vec();
    flips.apply(2, &mut wire);
    let mut reader = Reader::new(&wire[..], Some(decoder));
    reader.set_limit(LIMIT);
    let mut received = Vec::new();
    while let Ok(incoming) = reader.recv().await {
        if let Incoming::Message(parts) = incoming {
            received.extend(parts);
        }
    }
    if !flips.any() {
        assert_eq!(received, messages, "an untampered session delivers every message");
    }
}
