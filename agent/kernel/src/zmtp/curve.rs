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
use curve25519_dalek::MontgomeryPoint;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroizing;

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
    let hello = expect_command(r, HANDSHAKE_LIMIT, b"HELLO").await?;
    let (server, welcome) = Server::hello(keys, &hello)?;
    send_command(w, "WELCOME", &welcome).await?;
    let initiate = expect_command(r, HANDSHAKE_LIMIT, b"INITIATE").await?;
    let (properties, ready, codecs) = server.initiate(&initiate, metadata)?;
    send_command(w, "READY", &ready).await?;
    Ok((properties, codecs.0, codecs.1))
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
    let (client, hello) = Client::hello(keys);
    send_command(w, "HELLO", &hello).await?;
    let welcome = expect_command(r, HANDSHAKE_LIMIT, b"WELCOME").await?;
    let (client, initiate) = client.welcome(&welcome, metadata)?;
    send_command(w, "INITIATE", &initiate).await?;
    let ready = expect_command(r, HANDSHAKE_LIMIT, b"READY").await?;
    client.ready(&ready)
}

/// The most a handshake command may hold: an INITIATE's metadata is the
/// only part that varies, and libzmq's is under 100 bytes.
const HANDSHAKE_LIMIT: u64 = 64 * 1024;

/// A peer's public key, refused where it is a low-order point (as libsodium
/// refuses it): the shared secret would then be all zeros, a key that
/// anyone can compute, whatever our secret.
fn peer_key(bytes: &[u8]) -> Result<PublicKey, ZmtpError> {
    let bytes =
        <[u8; 32]>::try_from(bytes).map_err(|_| ZmtpError::Crypto("a key is not 32 bytes"))?;
    // Clamped scalars are multiples of 8: the product is the identity (all
    // zeros) exactly when the point's order divides 8.
    let product = MontgomeryPoint(bytes).mul_clamped([0x5A; 32]);
    if product.to_bytes() == [0u8; 32] {
        return Err(ZmtpError::Crypto("a low-order public key"));
    }
    Ok(PublicKey::from(bytes))
}

/// Codecs for the connection once the handshake is done.
pub type Codecs = (Encoder, Decoder);

/// The server between WELCOME and INITIATE: what it needs to check the
/// client's INITIATE. The cookie key is used for this connection only, so a
/// cookie from another connection never opens here.
pub struct Server<'k> {
    keys: &'k ServerKeys,
    client_transient: PublicKey,
    server_transient: SecretKey,
    cookie_key: Zeroizing<[u8; 32]>,
    /// What the cookie holds: C' and s' (a secret, wiped on drop).
    cookie_plain: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Server<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

impl<'k> Server<'k> {
    /// Checks a HELLO (version, padding, C', nonce, Box[64 zeros](C' -> S))
    /// and answers with the WELCOME's data: our transient key and a cookie
    /// only we can open.
    pub fn hello(keys: &'k ServerKeys, hello: &[u8]) -> Result<(Server<'k>, Vec<u8>), ZmtpError> {
        if hello.len() != 194 || hello[..2] != [1, 0] {
            return Err(ZmtpError::Protocol("malformed CURVE HELLO".into()));
        }
        let client_transient = peer_key(&hello[74..106])?;
        let long_term = SalsaBox::new(&client_transient, &keys.secret);
        let zeros = open(
            &long_term,
            b"CurveZMQHELLO---",
            &hello[106..114],
            &hello[114..194],
        )?;
        if zeros.iter().any(|&b| b != 0) {
            return Err(ZmtpError::Crypto("the HELLO box does not hold zeros"));
        }

        let server_transient = SecretKey::from(random::<32>());
        let cookie_key = Zeroizing::new(random::<32>());
        let cookie_nonce = random::<16>();
        let mut cookie_plain = Zeroizing::new(Vec::with_capacity(64));
        cookie_plain.extend_from_slice(client_transient.as_bytes());
        cookie_plain.extend_from_slice(&server_transient.to_bytes());
        let cookie = XSalsa20Poly1305::new(&(*cookie_key).into())
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
        Ok((
            Server {
                keys,
                client_transient,
                server_transient,
                cookie_key,
                cookie_plain,
            },
            welcome,
        ))
    }

    /// Checks an INITIATE (the cookie back, and the client's long-term key
    /// vouching for its transient one); answers with the READY's data,
    /// boxed with the short-term keys.
    pub fn initiate(
        self,
        initiate: &[u8],
        metadata: &[u8],
    ) -> Result<(Properties, Vec<u8>, Codecs), ZmtpError> {
        if initiate.len() < 248 {
            return Err(ZmtpError::Protocol("malformed CURVE INITIATE".into()));
        }
        let echoed = Zeroizing::new(
            XSalsa20Poly1305::new(&(*self.cookie_key).into())
                .decrypt(&nonce(b"COOKIE--", &initiate[..16]), &initiate[16..96])
                .map_err(|_| ZmtpError::Crypto("the cookie is not ours"))?,
        );
        if *echoed != *self.cookie_plain {
            return Err(ZmtpError::Crypto("the cookie is not this connection's"));
        }
        let initiate_nonce = &initiate[96..104];
        let session = SalsaBox::new(&self.client_transient, &self.server_transient);
        let plain = Zeroizing::new(open(
            &session,
            b"CurveZMQINITIATE",
            initiate_nonce,
            &initiate[104..],
        )?);
        if plain.len() < 128 {
            return Err(ZmtpError::Protocol("malformed CURVE INITIATE box".into()));
        }
        let client_key = peer_key(&plain[..32])?;
        let vouch = open(
            &SalsaBox::new(&client_key, &self.server_transient),
            b"VOUCH---",
            &plain[32..48],
            &plain[48..128],
        )?;
        if vouch[..32] != self.client_transient.as_bytes()[..]
            || vouch[32..64] != self.keys.public.as_bytes()[..]
        {
            return Err(ZmtpError::Crypto("the vouch does not match"));
        }
        let properties = Properties::parse(&plain[128..])?;
        let peer_nonce = u64::from_be_bytes(initiate_nonce.try_into().unwrap_or_default());

        // READY's nonce is the first of ours. SalsaBox is not Clone: each
        // direction derives its own (one X25519 each).
        let mut encoder = Encoder {
            key: SalsaBox::new(&self.client_transient, &self.server_transient),
            nonce: 1,
            prefix: FROM_SERVER,
        };
        let n = encoder.nonce.to_be_bytes();
        encoder.nonce += 1;
        let mut ready = n.to_vec();
        ready.extend(seal(&session, b"CurveZMQREADY---", &n, metadata));
        let decoder = Decoder {
            key: session,
            peer_nonce,
            prefix: FROM_CLIENT,
        };
        Ok((properties, ready, (encoder, decoder)))
    }
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

/// The client between its HELLO and the server's READY.
pub struct Client<'k> {
    keys: &'k ClientKeys,
    transient: SecretKey,
    /// Short nonces count up from 1: HELLO, INITIATE, then the messages.
    next_nonce: u64,
    /// The server's transient key, from its WELCOME.
    server_transient: Option<PublicKey>,
}

impl std::fmt::Debug for Client<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("next_nonce", &self.next_nonce)
            .finish_non_exhaustive()
    }
}

impl<'k> Client<'k> {
    fn take_nonce(&mut self) -> [u8; 8] {
        let n = self.next_nonce.to_be_bytes();
        self.next_nonce += 1;
        n
    }

    /// A new transient key and the HELLO's data: version, 72 bytes of
    /// padding (an amplification guard), C', nonce, Box[64 zeros](C' -> S).
    pub fn hello(keys: &'k ClientKeys) -> (Client<'k>, Vec<u8>) {
        let mut client = Client {
            keys,
            transient: SecretKey::from(random::<32>()),
            next_nonce: 1,
            server_transient: None,
        };
        let to_server = SalsaBox::new(&keys.server, &client.transient);
        let n = client.take_nonce();
        let mut hello = vec![1u8, 0];
        hello.extend_from_slice(&[0u8; 72]);
        hello.extend_from_slice(client.transient.public_key().as_bytes());
        hello.extend_from_slice(&n);
        hello.extend(seal(&to_server, b"CurveZMQHELLO---", &n, &[0u8; 64]));
        (client, hello)
    }

    /// Opens the WELCOME (nonce, Box[S' + cookie](S -> C')) and answers
    /// with the INITIATE's data: the cookie back, nonce, Box[C + vouch +
    /// metadata](C' -> S'), the vouch being Box[C' + S](C -> S').
    pub fn welcome(
        mut self,
        welcome: &[u8],
        metadata: &[u8],
    ) -> Result<(Client<'k>, Vec<u8>), ZmtpError> {
        if welcome.len() != 16 + 128 + 16 {
            return Err(ZmtpError::Protocol("malformed CURVE WELCOME".into()));
        }
        let to_server = SalsaBox::new(&self.keys.server, &self.transient);
        let plain = open(&to_server, b"WELCOME-", &welcome[..16], &welcome[16..])?;
        let server_transient = peer_key(&plain[..32])?;
        let keys = self.keys;
        let initiate = self.initiate(&server_transient, &plain[32..128], &keys.server, metadata);
        self.server_transient = Some(server_transient);
        Ok((self, initiate))
    }

    /// The INITIATE's data for `cookie`, vouching for `vouched_server`
    /// (the server's key; another only in tests of the server's check).
    fn initiate(
        &mut self,
        server_transient: &PublicKey,
        cookie: &[u8],
        vouched_server: &PublicKey,
        metadata: &[u8],
    ) -> Vec<u8> {
        let vouch_nonce = random::<16>();
        let mut vouch_plain = self.transient.public_key().as_bytes().to_vec();
        vouch_plain.extend_from_slice(vouched_server.as_bytes());
        let vouch = seal(
            &SalsaBox::new(server_transient, &self.keys.secret),
            b"VOUCH---",
            &vouch_nonce,
            &vouch_plain,
        );
        let mut inner = self.keys.secret.public_key().as_bytes().to_vec();
        inner.extend_from_slice(&vouch_nonce);
        inner.extend(vouch);
        inner.extend_from_slice(metadata);
        let session = SalsaBox::new(server_transient, &self.transient);
        let n = self.take_nonce();
        let mut initiate = cookie.to_vec();
        initiate.extend_from_slice(&n);
        initiate.extend(seal(&session, b"CurveZMQINITIATE", &n, &inner));
        initiate
    }

    /// Opens the READY (nonce, Box[metadata](S' -> C')): the server's
    /// metadata and the codecs.
    pub fn ready(self, ready: &[u8]) -> Result<(Properties, Encoder, Decoder), ZmtpError> {
        let server_transient = self
            .server_transient
            .ok_or_else(|| ZmtpError::Protocol("READY before WELCOME".into()))?;
        if ready.len() < 8 + 16 {
            return Err(ZmtpError::Protocol("malformed CURVE READY".into()));
        }
        let session = SalsaBox::new(&server_transient, &self.transient);
        let plain = open(&session, b"CurveZMQREADY---", &ready[..8], &ready[8..])?;
        let properties = Properties::parse(&plain)?;
        let peer_nonce = u64::from_be_bytes(ready[..8].try_into().unwrap_or_default());
        Ok((
            properties,
            Encoder {
                key: SalsaBox::new(&server_transient, &self.transient),
                nonce: self.next_nonce,
                prefix: FROM_CLIENT,
            },
            Decoder {
                key: session,
                peer_nonce,
                prefix: FROM_SERVER,
            },
        ))
    }
}

async fn send_command<W: AsyncWrite + Unpin>(
    w: &mut W,
    name: &str,
    data: &[u8],
) -> Result<(), ZmtpError> {
    w.write_all(&frame::command_frame(name, data)).await?;
    w.flush().await?;
    Ok(())
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

    /// A client and a server through HELLO and WELCOME: the client's state,
    /// the server's, and the WELCOME's plaintext (S' and the cookie).
    fn to_welcome<'k>(
        server: &'k ServerKeys,
        client: &'k ClientKeys,
    ) -> (Client<'k>, Server<'k>, Vec<u8>, Vec<u8>) {
        let (c, hello) = Client::hello(client);
        let (s, welcome) = Server::hello(server, &hello).expect("a valid HELLO");
        let to_server = SalsaBox::new(&client.server, &c.transient);
        let plain = open(&to_server, b"WELCOME-", &welcome[..16], &welcome[16..]).expect("opens");
        (c, s, hello, plain)
    }

    fn refusal(result: Result<impl Sized, ZmtpError>) -> String {
        match result {
            Err(ZmtpError::Crypto(why)) => why.to_string(),
            Err(e) => panic!("refused, but not for its keys: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn a_whole_handshake_opens_both_ways() {
        let keys = ServerKeys::generate();
        let client_keys = ClientKeys::for_server(&keys);
        let (client, hello) = Client::hello(&client_keys);
        let (server, welcome) = Server::hello(&keys, &hello).expect("HELLO");
        let (client, initiate) = client
            .welcome(&welcome, b"\x0bSocket-Type\0\0\0\x06DEALER")
            .expect("WELCOME");
        let (props, ready, (mut enc, _)) = server.initiate(&initiate, b"").expect("INITIATE");
        assert_eq!(
            props.get("socket-type").map(|v| &v[..]),
            Some(&b"DEALER"[..])
        );
        let (_, _, mut dec) = client.ready(&ready).expect("READY");
        let mut out = BytesMut::new();
        enc.put(&mut out, true, false, b"to the client");
        let wire = frame::Frame {
            more: false,
            command: false,
            body: out.freeze().slice(2..),
        };
        let opened = dec
            .open(&wire)
            .expect("the client opens the server's MESSAGE");
        assert_eq!(
            (opened.more, &opened.body[..]),
            (true, &b"to the client"[..])
        );
    }

    #[test]
    fn low_order_and_all_zero_keys_are_refused_in_hello() {
        let keys = ServerKeys::generate();
        let p_minus_1 = {
            let mut k = [0xFFu8; 32];
            k[0] = 0xEC;
            k[31] = 0x7F;
            k
        };
        let mut one = [0u8; 32];
        one[0] = 1;
        for low in [[0u8; 32], one, p_minus_1] {
            // With a low-order C' the box key is the same whatever the
            // secret: an attacker can make this HELLO without knowing S.
            let anyone = SalsaBox::new(&PublicKey::from(low), &SecretKey::from([7u8; 32]));
            let n = 1u64.to_be_bytes();
            let mut hello = vec![1u8, 0];
            hello.extend_from_slice(&[0u8; 72]);
            hello.extend_from_slice(&low);
            hello.extend_from_slice(&n);
            hello.extend(seal(&anyone, b"CurveZMQHELLO---", &n, &[0u8; 64]));
            assert_eq!(
                refusal(Server::hello(&keys, &hello)),
                "a low-order public key",
                "{low:02x?}"
            );
        }
        // A real key is not low-order.
        assert!(peer_key(ServerKeys::generate().public.as_bytes()).is_ok());
    }

    #[test]
    fn a_hello_for_another_server_is_refused() {
        let (keys, other) = (ServerKeys::generate(), ServerKeys::generate());
        let client_keys = ClientKeys::for_server(&other);
        let (_, hello) = Client::hello(&client_keys);
        assert_eq!(refusal(Server::hello(&keys, &hello)), "a box did not open");
    }

    #[test]
    fn a_tampered_cookie_is_refused() {
        let keys = ServerKeys::generate();
        let client_keys = ClientKeys::for_server(&keys);
        let (client, hello) = Client::hello(&client_keys);
        let (server, welcome) = Server::hello(&keys, &hello).expect("HELLO");
        let (_, mut initiate) = client.welcome(&welcome, b"").expect("WELCOME");
        initiate[40] ^= 0x01;
        assert_eq!(
            refusal(server.initiate(&initiate, b"")),
            "the cookie is not ours"
        );
    }

    #[test]
    fn a_cookie_replayed_on_another_connection_is_refused() {
        let keys = ServerKeys::generate();
        let client_keys = ClientKeys::for_server(&keys);
        let (client, hello) = Client::hello(&client_keys);
        let (first, welcome) = Server::hello(&keys, &hello).expect("HELLO");
        let (_, initiate) = client.welcome(&welcome, b"").expect("WELCOME");
        // The HELLO and INITIATE, recorded and replayed on a new connection:
        // its WELCOME made a new cookie key, so the old cookie does not open.
        let (second, _) = Server::hello(&keys, &hello).expect("a replayed HELLO is answered");
        assert_eq!(
            refusal(second.initiate(&initiate, b"")),
            "the cookie is not ours"
        );
        // The first connection still takes it.
        assert!(first.initiate(&initiate, b"").is_ok());
    }

    #[test]
    fn a_vouch_for_another_server_or_by_another_key_is_refused() {
        let keys = ServerKeys::generate();
        let client_keys = ClientKeys::for_server(&keys);
        let other = ServerKeys::generate();
        let (mut client, server, _, plain) = to_welcome(&keys, &client_keys);
        let s_prime = peer_key(&plain[..32]).expect("S'");
        let initiate = client.initiate(&s_prime, &plain[32..128], &other.public, b"");
        assert_eq!(
            refusal(server.initiate(&initiate, b"")),
            "the vouch does not match"
        );

        // The INITIATE names one long-term key and vouches with another.
        let (mut client, server, _, plain) = to_welcome(&keys, &client_keys);
        let s_prime = peer_key(&plain[..32]).expect("S'");
        let impostor = ClientKeys::for_server(&keys);
        let honest = client.keys;
        client.keys = &impostor;
        let mut initiate = client.initiate(&s_prime, &plain[32..128], &keys.public, b"");
        // Re-box the inner part naming the honest key instead.
        let session = SalsaBox::new(&s_prime, &client.transient);
        let n: [u8; 8] = initiate[96..104].try_into().expect("nonce");
        let mut inner = open(&session, b"CurveZMQINITIATE", &n, &initiate[104..]).expect("inner");
        inner[..32].copy_from_slice(honest.secret.public_key().as_bytes());
        initiate.truncate(104);
        initiate.extend(seal(&session, b"CurveZMQINITIATE", &n, &inner));
        assert_eq!(
            refusal(server.initiate(&initiate, b"")),
            "a box did not open"
        );
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
        // Reordered: once 6 has opened, 5 is late and refused.
        assert!(dec.open(&client_message(&key, 6, 0, b"six")).is_ok());
        assert!(dec.open(&client_message(&key, 5, 0, b"five")).is_err());
        let mut forged = client_message(&key, 7, 0, b"x").body.to_vec();
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
