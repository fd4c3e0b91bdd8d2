//! Just enough WebSocket framing (RFC 6455 §5.2) for the fault proxy to see Phoenix messages
//! pass by, drop one, or slip one in. Sans-IO: bytes in, frames out.
//!
//! The proxy forwards every frame's raw bytes unchanged (masking included); the payload is
//! unmasked only to read it. No extension is negotiated by phx-server, so RSV bits stay clear;
//! a frame with RSV set is still forwarded but not decoded.

/// One WebSocket frame as it crossed the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsFrame {
    /// The FIN bit.
    pub fin: bool,
    /// The RSV1-3 bits.
    pub rsv: u8,
    /// 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong.
    pub opcode: u8,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
    /// The frame's exact bytes, for forwarding.
    pub raw: Vec<u8>,
}

/// A frame longer than the reader accepts; the proxy then stops decoding that connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("WebSocket frame of {0} bytes is over the proxy's decoding limit")]
pub struct FrameTooLarge(pub u64);

/// Reassembles frames from a byte stream.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

/// Largest frame the proxy decodes (the certification traffic is tiny).
const MAX_FRAME: u64 = 16 * 1024 * 1024;

impl FrameReader {
    /// Adds bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet part of a whole frame.
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// The next whole frame, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<WsFrame>, FrameTooLarge> {
        let b = &self.buf;
        if b.len() < 2 {
            return Ok(None);
        }
        let fin = b[0] & 0x80 != 0;
        let rsv = (b[0] >> 4) & 0x07;
        let opcode = b[0] & 0x0f;
        let masked = b[1] & 0x80 != 0;
        let (len, mut at) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4usize),
            127 if b.len() >= 10 => {
                let mut l = [0u8; 8];
                l.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(l), 10)
            }
            126 | 127 => return Ok(None),
            n => (u64::from(n), 2),
        };
        if len > MAX_FRAME {
            return Err(FrameTooLarge(len));
        }
        let mask = if masked {
            if b.len() < at + 4 {
                return Ok(None);
            }
            let m = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            at += 4;
            Some(m)
        } else {
            None
        };
        let end = at + len as usize;
        if b.len() < end {
            return Ok(None);
        }
        let mut payload = b[at..end].to_vec();
        if let Some(m) = mask {
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= m[i % 4];
            }
        }
        let raw: Vec<u8> = self.buf.drain(..end).collect();
        Ok(Some(WsFrame {
            fin,
            rsv,
            opcode,
            payload,
            raw,
        }))
    }
}

/// An unmasked (server-to-client) text frame.
pub fn server_text_frame(text: &str) -> Vec<u8> {
    let p = text.as_bytes();
    let mut out = vec![0x81];
    if p.len() < 126 {
        out.push(p.len() as u8);
    } else if p.len() <= usize::from(u16::MAX) {
        out.push(126);
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(p.len() as u64).to_be_bytes());
    }
    out.extend_from_slice(p);
    out
}

/// Splits an HTTP head (request or response, up to the blank line) off the front of `buf`.
pub fn take_http_head(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    Some(buf.drain(..end).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked_text(text: &str, mask: [u8; 4]) -> Vec<u8> {
        let p = text.as_bytes();
        let mut out = vec![0x81];
        if p.len() < 126 {
            out.push(0x80 | p.len() as u8);
        } else {
            out.push(0x80 | 126);
            out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(p.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[test]
    fn reads_masked_frames_split_anywhere() {
        let long = "x".repeat(300);
        let mut bytes = masked_text("[null,\"1\",\"phoenix\",\"heartbeat\",{}]", [1, 2, 3, 4]);
        bytes.extend(masked_text(&long, [9, 8, 7, 6]));
        for split in 0..bytes.len() {
            let mut r = FrameReader::default();
            let mut got = Vec::new();
            r.push(&bytes[..split]);
            while let Some(f) = r.next_frame().expect("small") {
                got.push(f);
            }
            r.push(&bytes[split..]);
            while let Some(f) = r.next_frame().expect("small") {
                got.push(f);
            }
            assert_eq!(got.len(), 2, "split at {split}");
            assert_eq!(got[0].payload, b"[null,\"1\",\"phoenix\",\"heartbeat\",{}]");
            assert_eq!(got[1].payload, long.as_bytes());
            let raw: Vec<u8> = got.iter().flat_map(|f| f.raw.clone()).collect();
            assert_eq!(raw, bytes);
        }
    }

    #[test]
    fn server_frames_round_trip() {
        for n in [0, 125, 126, 70_000] {
            let text = "y".repeat(n);
            let mut r = FrameReader::default();
            r.push(&server_text_frame(&text));
            let f = r.next_frame().expect("ok").expect("whole");
            assert!(f.fin);
            assert_eq!(f.opcode, 1);
            assert_eq!(f.payload, text.as_bytes());
        }
    }

    #[test]
    fn refuses_huge_frames_and_splits_http_heads() {
        let mut r = FrameReader::default();
        r.push(&[0x82, 127, 0xff, 0, 0, 0, 0, 0, 0, 0]);
        assert!(r.next_frame().is_err());
        let mut buf = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x81\x00".to_vec();
        assert_eq!(
            take_http_head(&mut buf).expect("head"),
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        assert_eq!(buf, b"\x81\x00");
    }
}
