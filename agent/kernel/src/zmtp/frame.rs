//! ZMTP 3.0 framing (RFC 23): the greeting, frames, commands and metadata.

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::ZmtpError;

/// The greeting's length: signature, version, mechanism, as-server, filler.
pub const GREETING_LEN: usize = 64;

const FLAG_MORE: u8 = 0x01;
const FLAG_LONG: u8 = 0x02;
const FLAG_COMMAND: u8 = 0x04;

/// Our greeting. We speak ZMTP 3.0, not 3.1: libzmq peers then send
/// subscriptions as `\x01topic` messages, which every version understands.
pub fn greeting(mechanism: &str, as_server: bool) -> [u8; GREETING_LEN] {
    let mut g = [0u8; GREETING_LEN];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 0;
    let name = mechanism.as_bytes();
    g[12..12 + name.len()].copy_from_slice(name);
    g[32] = u8::from(as_server);
    g
}

/// The peer's mechanism, from its greeting; refuses anything before ZMTP 3.
pub fn peer_mechanism(g: &[u8; GREETING_LEN]) -> Result<String, ZmtpError> {
    if g[0] != 0xFF || g[9] & 0x01 != 0x01 {
        return Err(ZmtpError::Protocol("not a ZMTP greeting".into()));
    }
    if g[10] < 3 {
        return Err(ZmtpError::Protocol(format!(
            "ZMTP {}.{} is too old (3.0 or later is needed)",
            g[10], g[11]
        )));
    }
    let name = &g[12..32];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..end]).into_owned())
}

/// One frame as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub more: bool,
    pub command: bool,
    pub body: Bytes,
}

/// Reads one frame. `limit` bounds its size: a peer that has not proved it
/// holds the key must not make the proxy allocate what it announces.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, limit: u64) -> Result<Frame, ZmtpError> {
    let flags = r.read_u8().await?;
    if flags & !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND) != 0 {
        return Err(ZmtpError::Protocol(format!("bad frame flags {flags:#04x}")));
    }
    let size = if flags & FLAG_LONG != 0 {
        r.read_u64().await?
    } else {
        u64::from(r.read_u8().await?)
    };
    if size > limit {
        return Err(ZmtpError::TooLarge { size, limit });
    }
    // Grows as bytes arrive rather than trusting `size` up front.
    let mut body = Vec::with_capacity(usize::try_from(size.min(1 << 16)).unwrap_or(1 << 16));
    r.take(size).read_to_end(&mut body).await?;
    if body.len() as u64 != size {
        return Err(ZmtpError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(Frame {
        more: flags & FLAG_MORE != 0,
        command: flags & FLAG_COMMAND != 0,
        body: Bytes::from(body),
    })
}

/// Appends a frame's header (flags and size) to `out`; the body follows it.
pub fn put_header(out: &mut BytesMut, more: bool, command: bool, len: usize) {
    let mut flags = 0;
    if more {
        flags |= FLAG_MORE;
    }
    if command {
        flags |= FLAG_COMMAND;
    }
    if len > 255 {
        out.put_u8(flags | FLAG_LONG);
        out.put_u64(len as u64);
    } else {
        out.put_u8(flags);
        out.put_u8(len as u8);
    }
}

/// A whole command frame: `name` (at most 255 bytes) then `data`.
pub fn command_frame(name: &str, data: &[u8]) -> Bytes {
    let body = command_body(name, data);
    let mut out = BytesMut::with_capacity(body.len() + 9);
    put_header(&mut out, false, true, body.len());
    out.extend_from_slice(&body);
    out.freeze()
}

/// A command's body: its name, length-prefixed, then its data.
pub fn command_body(name: &str, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(1 + name.len() + data.len());
    body.push(name.len() as u8);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    body
}

/// Splits a command body into its name and data.
pub fn parse_command(body: &[u8]) -> Result<(&[u8], &[u8]), ZmtpError> {
    let (&len, rest) = body
        .split_first()
        .ok_or_else(|| ZmtpError::Protocol("empty command".into()))?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(ZmtpError::Protocol("truncated command name".into()));
    }
    Ok(rest.split_at(len))
}

/// Metadata properties: `name` (1-byte length) and `value` (4-byte length).
pub fn put_properties(out: &mut Vec<u8>, properties: &[(&str, &[u8])]) {
    for (name, value) in properties {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }
}

/// The metadata properties of a READY or INITIATE; names are case-insensitive.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Properties(Vec<(String, Bytes)>);

impl Properties {
    pub fn parse(mut data: &[u8]) -> Result<Properties, ZmtpError> {
        let bad = || ZmtpError::Protocol("malformed metadata".into());
        let mut out = Vec::new();
        while !data.is_empty() {
            let (&len, rest) = data.split_first().ok_or_else(bad)?;
            let len = usize::from(len);
            if rest.len() < len + 4 {
                return Err(bad());
            }
            let (name, rest) = rest.split_at(len);
            let (size, rest) = rest.split_at(4);
            let size = u32::from_be_bytes([size[0], size[1], size[2], size[3]]) as usize;
            if rest.len() < size {
                return Err(bad());
            }
            let (value, rest) = rest.split_at(size);
            out.push((
                String::from_utf8_lossy(name).to_ascii_lowercase(),
                Bytes::copy_from_slice(value),
            ));
            data = rest;
        }
        Ok(Properties(out))
    }

    pub fn get(&self, name: &str) -> Option<&Bytes> {
        let name = name.to_ascii_lowercase();
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_short_and_long() {
        for (more, command, len) in [(false, false, 0), (true, false, 255), (false, true, 256)] {
            let body = vec![7u8; len];
            let mut wire = BytesMut::new();
            put_header(&mut wire, more, command, len);
            wire.extend_from_slice(&body);
            let frame = read_frame(&mut &wire[..], 1 << 20).await.expect("frame");
            assert_eq!(
                (frame.more, frame.command, &frame.body[..]),
                (more, command, &body[..])
            );
        }
    }

    #[tokio::test]
    async fn announced_sizes_past_the_limit_are_refused_before_reading() {
        let mut wire = BytesMut::new();
        put_header(&mut wire, false, false, 1 << 40);
        let err = read_frame(&mut &wire[..], 1 << 20)
            .await
            .expect_err("too large");
        assert!(matches!(err, ZmtpError::TooLarge { .. }), "{err}");
        // Announced but not sent: a clean end of stream, not a hang.
        let mut short = BytesMut::new();
        put_header(&mut short, false, false, 10);
        short.extend_from_slice(b"abc");
        assert!(read_frame(&mut &short[..], 1 << 20).await.is_err());
        assert!(read_frame(&mut &[0x80u8, 0][..], 1 << 20).await.is_err());
    }

    #[test]
    fn properties_and_commands_round_trip() {
        let mut data = Vec::new();
        put_properties(&mut data, &[("Socket-Type", b"DEALER"), ("Identity", b"")]);
        let props = Properties::parse(&data).expect("props");
        assert_eq!(
            props.get("socket-type").map(|v| &v[..]),
            Some(&b"DEALER"[..])
        );
        assert_eq!(props.get("IDENTITY").map(|v| v.len()), Some(0));
        assert!(Properties::parse(&data[..data.len() - 3]).is_err());
        let body = command_body("READY", &data);
        let (name, rest) = parse_command(&body).expect("command");
        assert_eq!((name, rest), (&b"READY"[..], &data[..]));
        assert!(parse_command(&[9, b'x']).is_err());
    }

    #[test]
    fn greeting_names_the_mechanism() {
        let g = greeting("CURVE", true);
        assert_eq!(peer_mechanism(&g).expect("valid"), "CURVE");
        let mut old = g;
        old[10] = 2;
        assert!(peer_mechanism(&old).is_err());
        assert!(peer_mechanism(&[0u8; GREETING_LEN]).is_err());
    }
}
