//! CurveZMQ (RFC 26) as libzmq speaks it: the server side, which the proxy
//! serves to encrypted frontends, and the client side, with which it
//! reaches its own kernel over loopback TCP where there is no private ipc
//! (Windows).
//!
//! The handshake proves the client knows the server's public key and gives
//! both sides short-term keys; every frame after it travels as a `MESSAGE`
//! command boxed with those keys (X25519, XSalsa20-Poly1305: NaCl's
//! `crypto_box`, from RustCrypto). Like libzmq without a ZAP handler, any
//! client key is accepted: what is authenticated is the server.

use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::aead::{Aead, KeyInit};
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use crypto_secretbox::XSalsa20Poly1305;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::frame::{self, Properties};
use super::ZmtpError;

/// The server's long-term keys, from a connection file's Z85 strings.
#[derive(Clone)]
pub struct ServerKeys {
    secret: SecretKey,
    public: PublicKey,
}

/// Keys in a log: the public one, Z85; the secret key never reaches one.
fn debug_public(
    f: &mut std::fmt::Formatter<'_>,
    name: &str,
    field: &str,
    public: &PublicKey,
) -> std::fmt::Result {
    f.debug_struct(name)
        .field(field, &z85::encode(public.as_bytes()))
        .finish_non_exhaustive()
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_public(f, "ServerKeys", "public", &self.public)
    }
}

impl ServerKeys {
    /// Keys from Z85 (`curve_publickey`, `curve_secretkey`); the public key
    /// must be the secret key's.
    pub fn from_z85(public: &str, secret: &str) -> Result<ServerKeys, String> {
        let decode = |what: &str, text: &str| -> Result<[u8; 32], String> {
            let bytes = z85::decode(text.trim()).map_err(|e| format!("{what} is not Z85: {e}"))?;
            <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| format!("{what} is {} bytes, not 32", bytes.len()))
        };
        let secret = SecretKey::from(decode("curve_secretkey", secret)?);
        let public = PublicKey::from(decode("curve_publickey", public)?);
        if secret.public_key() != public {
            return Err("curve_publickey is not the public key of curve_secretkey".into());
        }
        Ok(ServerKeys { secret, public })
    }

    /// A fresh pair (tests, and the proxy's own use).
    pub fn generate() -> ServerKeys {
        let secret = SecretKey::from(random::<32>());
        let public = secret.public_key();
        ServerKeys { secret, public }
    }

    /// The public key, Z85.
    pub fn public_z85(&self) -> String {
        z85::encode(self.public.as_bytes())
    }

    /// The secret key, Z85 (to write a connection file).
    pub fn secret_z85(&self) -> String {
        z85::encode(self.secret.to_bytes())
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The OS RNG failing is not recoverable for a key exchange.
    getrandom::fill(&mut out).expect("the OS random number generator");
    out
}

fn nonce(prefix: &[u8], suffix: &[u8]) -> crypto_box::Nonce {
    let mut n = crypto_box::Nonce::default();
    n[..prefix.len()].copy_from_slice(prefix);
    n[prefix.len()..].copy_from_slice(suffix);
    n
}

fn open(b: &SalsaBox, prefix: &[u8], suffix: &[u8], boxed: &[u8]) -> Result<Vec<u8>, ZmtpError> {
    b.decrypt(&nonce(prefix, suffix), boxed)
        .map_err(|_| ZmtpError::Crypto("a box did not open"))
}

fn seal(b: &SalsaBox, prefix: &[u8], suffix: &[u8], plain: &[u8]) -> Vec<u8> {
    b.encrypt(&nonce(prefix, suffix), plain)
        .expect("crypto_box encrypts any length")
}

/// The nonce prefix of the `MESSAGE`s each side sends.
const FROM_CLIENT: &[u8; 16] = b"CurveZMQMESSAGEC";
const FROM_SERVER: &[u8; 16] = b"CurveZMQMESSAGES";

/// Boxes outgoing frames.
pub struct Encoder {
    key: SalsaBox,
    nonce: u64,
    /// This side's `MESSAGE` nonce prefix.
    prefix: &'static [u8; 16],
}

/// Opens incoming frames; nonces must increase.
pub struct Decoder {
    key: SalsaBox,
    peer_nonce: u64,
    /// The peer's `MESSAGE` nonce prefix.
    prefix: &'static [u8; 16],
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("peer_nonce", &self.peer_nonce)
            .finish_non_exhaustive()
    }
}

/// A `MESSAGE` command's inner flags (libzmq's `msg_t` bits, not ZMTP's).
const INNER_MORE: u8 = 0x01;
const INNER_COMMAND: u8 = 0x02;
const MESSAGE: &[u8] = b"\x07MESSAGE";

impl Encoder {
    /// Appends the wire frame carrying `body` to `out`.
    pub fn put(&mut self, out: &mut BytesMut, more: bool, command: bool, body: &[u8]) {
        let mut plain = Vec::with_capacity(1 + body.len());
        plain.push((u8::from(more) * INNER_MORE) | (u8::from(command) * INNER_COMMAND));
        plain.extend_from_slice(body);
        let n = self.nonce.to_be_bytes();
        self.nonce += 1;
        let boxed = seal(&self.key, self.prefix, &n, &plain);
        frame::put_header(out, false, false, MESSAGE.len() + 8 + boxed.len());
        out.extend_from_slice(MESSAGE);
        out.put_slice(&n);
        out.extend_from_slice(&boxed);
    }
}

impl Decoder {
    /// The frame inside a `MESSAGE`.
    pub fn open(&mut self, wire: &frame::Frame) -> Result<frame::Frame, ZmtpError> {
        let body = &wire.body;
        if body.len() < MESSAGE.len() + 8 + 16 + 1 || !body.starts_with(MESSAGE) {
            return Err(ZmtpError::Protocol("expected a CURVE MESSAGE".into()));
        }
        let n = &body[MESSAGE.len()..MESSAGE.len() + 8];
        let value = u64::from_be_bytes(n.try_into().unwrap_or_default());
        if value <= self.peer_nonce {
            return Err(ZmtpError::Crypto("a CURVE nonce was replayed"));
        }
        self.peer_nonce = value;
        let plain = open(&self.key, self.prefix, n, &body[MESSAGE.len() + 8..])?;
        let flags = plain[0];
        Ok(frame::Frame {
            more: flags & INNER_MORE != 0,
            command: flags & INNER_COMMAND != 0,
            body: Bytes::from(plain).slice(1..),
        })
    }
}

/// The server's side of the handshake, after the greetings: HELLO,
/// WELCOME, INITIATE, READY. Returns the client's metadata and the codecs.
pub async fn accept<R, W>(
    r: &mut R,
    w: &mut W,
    keys: &ServerKeys,
    metadata: &[u8],
) -> Result<(Properties, Encoder, Decoder), ZmtpError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    const LIMIT: u64 = 64 * 1024;
    // HELLO: version, padding, C', nonce, Box[64 zeros](C' -> S).
    let hello = expect_command(r, LIMIT, b"HELLO").await?;
    if hello.len() != 194 || hello[..2] != [1, 0] {
        return Err(ZmtpError::Protocol("malformed CURVE HELLO".into()));
    }
    let client_transient =
        PublicKey::from(<[u8; 32]>::try_from(&hello[74..106]).unwrap_or_default());
    let hello_nonce = &hello[106..114];
    let long_term = SalsaBox::new(&client_transient, &keys.secret);
    open(
        &long_term,
        b"CurveZMQHELLO---",
        hello_nonce,
        &hello[114..194],
    )?;

    // WELCOME: our transient key and a cookie only we can open.
    let server_transient = SecretKey::from(random::<32>());
    let cookie_key = random::<32>();
    let cookie_nonce = random::<16>();
    let mut cookie_plain = Vec::with_capacity(64);
    cookie_plain.extend_from_slice(client_transient.as_bytes());
    cookie_plain.extend_from_slice(&server_transient.to_bytes());
    let cookie = XSalsa20Poly1305::new(&cookie_key.into())
        .encrypt(&nonce(b"COOKIE--", &cookie_nonce), cookie_plain.as_slice())
        .map_err(|_| ZmtpError::Crypto("cookie"))?;
    let mut welcome_plain = Vec::with_capacity(128);
    welcome_plain.extend_from_slice(server_transient.public_key().as_bytes());
    welcome_plain.extend_from_slice(&cookie_nonce);
    welcome_plain.extend_from_slice(&cookie);
    let welcome_nonce = random::<16>();
    let mut welcome = welcome_nonce.to_vec();
    welcome.extend(seal(
        &long_term,
        b"WELCOME-",
        &welcome_nonce,
        &welcome_plain,
    ));
    w.write_all(&frame::command_frame("WELCOME", &welcome))
        .await?;
    w.flush().await?;

    // INITIATE: the cookie back, and the client's long-term key vouching
    // for its transient one.
    let initiate = expect_command(r, LIMIT, b"INITIATE").await?;
    if initiate.len() < 248 {
        return Err(ZmtpError::Protocol("malformed CURVE INITIATE".into()));
    }
    let echoed = XSalsa20Poly1305::new(&cookie_key.into())
        .decrypt(&nonce(b"COOKIE--", &initiate[..16]), &initiate[16..96])
        .map_err(|_| ZmtpError::Crypto("the cookie is not ours"))?;
    if echoed != cookie_plain {
        return Err(ZmtpError::Crypto("the cookie is not this connection's"));
    }
    let initiate_nonce = &initiate[96..104];
    let session = SalsaBox::new(&client_transient, &server_transient);
    let plain = open(
        &session,
        b"CurveZMQINITIATE",
        initiate_nonce,
        &initiate[104..],
    )?;
    if plain.len() < 128 {
        return Err(ZmtpError::Protocol("malformed CURVE INITIATE box".into()));
    }
    let client_key = PublicKey::from(<[u8; 32]>::try_from(&plain[..32]).unwrap_or_default());
    let vouch = open(
        &SalsaBox::new(&client_key, &server_transient),
        b"VOUCH---",
        &plain[32..48],
        &plain[48..128],
    )?;
    if vouch[..32] != client_transient.as_bytes()[..] || vouch[32..64] != keys.public.as_bytes()[..]
    {
        return Err(ZmtpError::Crypto("the vouch does not match"));
    }
    let properties = Properties::parse(&plain[128..])?;
    let peer_nonce = u64::from_be_bytes(initiate_nonce.try_into().unwrap_or_default());

    // READY, boxed with the short-term keys; its nonce is the first of ours.
    // SalsaBox is not Clone: each direction derives its own (one X25519 each).
    let mut encoder = Encoder {
        key: SalsaBox::new(&client_transient, &server_transient),
        nonce: 1,
        prefix: FROM_SERVER,
    };
    let n = encoder.nonce.to_be_bytes();
    encoder.nonce += 1;
    let mut ready = n.to_vec();
    ready.extend(seal(&session, b"CurveZMQREADY---", &n, metadata));
    w.write_all(&frame::command_frame("READY", &ready)).await?;
    w.flush().await?;
    Ok((
        properties,
        encoder,
        Decoder {
            key: session,
            peer_nonce,
            prefix: FROM_CLIENT,
        },
    ))
}

/// What a client brings: the server's public key and a long-term key pair
/// of its own (the proxy makes one per kernel; nothing checks it).
#[derive(Clone)]
pub struct ClientKeys {
    server: PublicKey,
    secret: SecretKey,
}

impl std::fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_public(f, "ClientKeys", "server", &self.server)
    }
}

impl ClientKeys {
    /// A fresh client key pair for the server whose keys are `server`.
    pub fn for_server(server: &ServerKeys) -> ClientKeys {
        ClientKeys {
            server: server.public.clone(),
            secret: SecretKey::from(random::<32>()),
        }
    }
}

/// The client's side of the handshake, after the greetings: HELLO,
/// WELCOME, INITIATE, READY (RFC 26, as libzmq's `curve_client.cpp`).
/// Returns the server's metadata and the codecs.
pub async fn connect<R, W>(
    r: &mut R,
    w: &mut W,
    keys: &ClientKeys,
    metadata: &[u8],
) -> Result<(Properties, Encoder, Decoder), ZmtpError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    const LIMIT: u64 = 64 * 1024;
    let transient = SecretKey::from(random::<32>());
    let transient_public = transient.public_key();
    let to_server = SalsaBox::new(&keys.server, &transient);
    // Short nonces count up from 1: HELLO, INITIATE, then the messages.
    let mut next_nonce = 1u64;
    let mut take_nonce = || {
        let n = next_nonce.to_be_bytes();
        next_nonce += 1;
        n
    };

    // HELLO: version, 72 bytes of padding (an amplification guard), C',
    // nonce, Box[64 zeros](C' -> S).
    let n = take_nonce();
    let mut hello = vec![1u8, 0];
    hello.extend_from_slice(&[0u8; 72]);
    hello.extend_from_slice(transient_public.as_bytes());
    hello.extend_from_slice(&n);
    hello.extend(seal(&to_server, b"CurveZMQHELLO---", &n, &[0u8; 64]));
    w.write_all(&frame::command_frame("HELLO", &hello)).await?;
    w.flush().await?;

    // WELCOME: nonce, Box[S' + cookie](S -> C').
    let welcome = expect_command(r, LIMIT, b"WELCOME").await?;
    if welcome.len() != 16 + 128 + 16 {
        return Err(ZmtpError::Protocol("malformed CURVE WELCOME".into()));
    }
    let plain = open(&to_server, b"WELCOME-", &welcome[..16], &welcome[16..])?;
    let server_transient = PublicKey::from(<[u8; 32]>::try_from(&plain[..32]).unwrap_or_default());
    let cookie = &plain[32..128];

    // INITIATE: the cookie back, nonce, Box[C + vouch + metadata](C' -> S'),
    // the vouch being Box[C' + S](C -> S').
    let vouch_nonce = random::<16>();
    let mut vouch_plain = transient_public.as_bytes().to_vec();
    vouch_plain.extend_from_slice(keys.server.as_bytes());
    let vouch = seal(
        &SalsaBox::new(&server_transient, &keys.secret),
        b"VOUCH---",
        &vouch_nonce,
        &vouch_plain,
    );
    let mut inner = keys.secret.public_key().as_bytes().to_vec();
    inner.extend_from_slice(&vouch_nonce);
    inner.extend(vouch);
    inner.extend_from_slice(metadata);
    let session = SalsaBox::new(&server_transient, &transient);
    let n = take_nonce();
    let mut initiate = cookie.to_vec();
    initiate.extend_from_slice(&n);
    initiate.extend(seal(&session, b"CurveZMQINITIATE", &n, &inner));
    w.write_all(&frame::command_frame("INITIATE", &initiate))
        .await?;
    w.flush().await?;

    // READY: nonce, Box[metadata](S' -> C').
    let ready = expect_command(r, LIMIT, b"READY").await?;
    if ready.len() < 8 + 16 {
        return Err(ZmtpError::Protocol("malformed CURVE READY".into()));
    }
    let plain = open(&session, b"CurveZMQREADY---", &ready[..8], &ready[8..])?;
    let properties = Properties::parse(&plain)?;
    let peer_nonce = u64::from_be_bytes(ready[..8].try_into().unwrap_or_default());
    Ok((
        properties,
        Encoder {
            key: SalsaBox::new(&server_transient, &transient),
            nonce: next_nonce,
            prefix: FROM_CLIENT,
        },
        Decoder {
            key: session,
            peer_nonce,
            prefix: FROM_SERVER,
        },
    ))
}

/// Reads a handshake command named `name`; returns its data.
async fn expect_command<R: AsyncRead + Unpin>(
    r: &mut R,
    limit: u64,
    name: &[u8],
) -> Result<Bytes, ZmtpError> {
    let f = frame::read_frame(r, limit).await?;
    let (got, _) = frame::parse_command(&f.body)?;
    if got != name {
        return Err(ZmtpError::Protocol(format!(
            "expected {}, got {}",
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(got)
        )));
    }
    Ok(f.body.slice(1 + name.len()..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z85_keys_match_the_rfc_vector_and_are_checked() {
        // RFC 32's test vector.
        assert_eq!(
            z85::decode("HelloWorld").expect("z85"),
            [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        );
        let keys = ServerKeys::generate();
        let again = ServerKeys::from_z85(&keys.public_z85(), &keys.secret_z85()).expect("keys");
        assert_eq!(again.public_z85(), keys.public_z85());
        let other = ServerKeys::generate();
        assert!(ServerKeys::from_z85(&other.public_z85(), &keys.secret_z85()).is_err());
        assert!(ServerKeys::from_z85("short", &keys.secret_z85()).is_err());
        assert!(!format!("{keys:?}").contains(&keys.secret_z85()));
    }

    /// A client's `MESSAGE`, boxed as libzmq's client boxes it.
    fn client_message(key: &SalsaBox, n: u64, flags: u8, body: &[u8]) -> frame::Frame {
        let mut plain = vec![flags];
        plain.extend_from_slice(body);
        let mut wire = MESSAGE.to_vec();
        wire.extend_from_slice(&n.to_be_bytes());
        wire.extend(seal(key, b"CurveZMQMESSAGEC", &n.to_be_bytes(), &plain));
        frame::Frame {
            more: false,
            command: false,
            body: Bytes::from(wire),
        }
    }

    #[test]
    fn messages_open_in_order_and_never_twice() {
        let (a, b) = (ServerKeys::generate(), ServerKeys::generate());
        let key = SalsaBox::new(&b.public, &a.secret);
        let mut dec = Decoder {
            key: SalsaBox::new(&b.public, &a.secret),
            peer_nonce: 2,
            prefix: FROM_CLIENT,
        };
        let opened = dec
            .open(&client_message(&key, 3, INNER_MORE, b"hello"))
            .expect("opens");
        assert_eq!(
            (opened.more, opened.command, &opened.body[..]),
            (true, false, &b"hello"[..])
        );
        // A replayed or older nonce is refused, and so is a forged box.
        assert!(dec.open(&client_message(&key, 3, 0, b"again")).is_err());
        let mut forged = client_message(&key, 4, 0, b"x").body.to_vec();
        *forged.last_mut().expect("non-empty") ^= 1;
        let forged = frame::Frame {
            more: false,
            command: false,
            body: Bytes::from(forged),
        };
        assert!(dec.open(&forged).is_err());
        // What the server sends is boxed for the other direction.
        let mut enc = Encoder {
            key: SalsaBox::new(&b.public, &a.secret),
            nonce: 9,
            prefix: FROM_SERVER,
        };
        let mut out = BytesMut::new();
        enc.put(&mut out, false, false, b"reply");
        let ours = frame::Frame {
            more: false,
            command: false,
            body: out.freeze().slice(2..),
        };
        assert!(dec.open(&ours).is_err());
    }
}
