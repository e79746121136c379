//! Git's pkt-line framing (gitprotocol-common): four hex digits giving the length of
//! the packet including themselves, then the payload; `0000` (flush), `0001` (delim)
//! and `0002` (response end) are the special packets. Pure: bytes in, packets out, so
//! everything a hostile server could send is tested without a network.

/// The longest packet git sends or accepts (`LARGE_PACKET_MAX`).
pub(crate) const MAX_PACKET: usize = 65520;

/// One packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packet<'a> {
    /// `0000`: end of a message.
    Flush,
    /// `0001`: end of a section (protocol v2).
    Delim,
    /// `0002`: end of a response (protocol v2, stateless).
    ResponseEnd,
    /// A payload, its length prefix removed.
    Data(&'a [u8]),
}

/// Bytes that are not pkt-lines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PktError {
    /// The length prefix is not four hex digits, or names an impossible length.
    #[error("malformed pkt-line length {0:?}")]
    BadLength(String),
    /// The input ended inside a packet.
    #[error("the response ended inside a pkt-line")]
    Truncated,
}

/// The first packet of `buf` and the number of bytes it takes; `Ok(None)` when `buf`
/// holds only part of one (more bytes are needed).
pub(crate) fn next(buf: &[u8]) -> Result<Option<(Packet<'_>, usize)>, PktError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(None);
    };
    let len = std::str::from_utf8(prefix)
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|s| usize::from_str_radix(s, 16).ok())
        .ok_or_else(|| PktError::BadLength(String::from_utf8_lossy(prefix).into_owned()))?;
    let packet = match len {
        0 => Packet::Flush,
        1 => Packet::Delim,
        2 => Packet::ResponseEnd,
        3 => return Err(PktError::BadLength(format!("{len:04x}"))),
        n if n > MAX_PACKET => return Err(PktError::BadLength(format!("{len:04x}"))),
        n => match buf.get(4..n) {
            Some(payload) => Packet::Data(payload),
            None => return Ok(None),
        },
    };
    let used = if len < 4 { 4 } else { len };
    Ok(Some((packet, used)))
}

/// Every packet of a complete message; a trailing partial packet is an error.
pub(crate) fn all(mut buf: &[u8]) -> Result<Vec<Packet<'_>>, PktError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (packet, used) = next(buf)?.ok_or(PktError::Truncated)?;
        out.push(packet);
        buf = &buf[used..];
    }
    Ok(out)
}

/// Appends `payload` as one data packet. Payloads are our own short lines.
pub(crate) fn push(out: &mut Vec<u8>, payload: &str) {
    debug_assert!(payload.len() + 4 <= MAX_PACKET);
    out.extend_from_slice(format!("{:04x}", payload.len() + 4).as_bytes());
    out.extend_from_slice(payload.as_bytes());
}

/// A data payload as text without its line feed (git ends most lines with one).
pub(crate) fn text(payload: &[u8]) -> &str {
    let payload = payload.strip_suffix(b"\n").unwrap_or(payload);
    std::str::from_utf8(payload).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_data_and_special_packets() {
        let input = b"000ahello\n000100000002";
        let packets = all(input).unwrap();
        assert_eq!(
            packets,
            [
                Packet::Data(b"hello\n"),
                Packet::Delim,
                Packet::Flush,
                Packet::ResponseEnd
            ]
        );
        assert_eq!(text(b"hello\n"), "hello");
    }

    #[test]
    fn a_partial_packet_asks_for_more_bytes() {
        assert_eq!(next(b"00"), Ok(None));
        assert_eq!(next(b"000ahel"), Ok(None));
        assert_eq!(all(b"000ahel"), Err(PktError::Truncated));
    }

    #[test]
    fn impossible_lengths_are_refused() {
        assert!(matches!(next(b"0003"), Err(PktError::BadLength(_))));
        assert!(matches!(next(b"zzzzhello"), Err(PktError::BadLength(_))));
        assert!(matches!(next(b"+123"), Err(PktError::BadLength(_))));
        // Longer than git's maximum: refused before any payload is awaited.
        assert!(matches!(next(b"fff1"), Err(PktError::BadLength(_))));
    }

    #[test]
    fn our_packets_read_back() {
        let mut out = Vec::new();
        push(&mut out, "command=fetch\n");
        out.extend_from_slice(b"0000");
        assert_eq!(
            all(&out).unwrap(),
            [Packet::Data(b"command=fetch\n"), Packet::Flush]
        );
        assert_eq!(&out[..4], b"0012");
    }
}
