//! Server-Sent-Events framing (WHATWG "event stream" format). Each event is framed once
//! and the same bytes go to every subscriber.

use bytes::{BufMut, Bytes, BytesMut};

/// `id:` (when the event is stored) / `event:` / one `data:` line per line of `data`.
/// Newlines are refused in `event` (they would end the field early); the caller's names
/// are constants, so this only guards against a programming error.
pub fn frame(id: Option<i64>, event: &str, data: &str) -> Bytes {
    let event: String = event.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    let mut out = BytesMut::with_capacity(data.len() + event.len() + 40);
    if let Some(id) = id {
        out.put_slice(b"id: ");
        out.put_slice(id.to_string().as_bytes());
        out.put_u8(b'\n');
    }
    out.put_slice(b"event: ");
    out.put_slice(event.as_bytes());
    out.put_u8(b'\n');
    for line in data.split('\n') {
        out.put_slice(b"data: ");
        out.put_slice(line.strip_suffix('\r').unwrap_or(line).as_bytes());
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
    out.freeze()
}

/// The first bytes of every stream: how long the browser waits before reconnecting.
pub fn retry(millis: u64) -> Bytes {
    Bytes::from(format!("retry: {millis}\n\n"))
}

/// A comment that keeps proxies and browsers from timing the stream out.
pub fn ping() -> Bytes {
    Bytes::from_static(b": ping\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_exact() {
        assert_eq!(&frame(Some(7), "new_message", "{\"a\":1}")[..], b"id: 7\nevent: new_message\ndata: {\"a\":1}\n\n");
        assert_eq!(&frame(None, "typing", "{}")[..], b"event: typing\ndata: {}\n\n");
        assert_eq!(&frame(Some(1), "x\ny", "a\nb")[..], b"id: 1\nevent: xy\ndata: a\ndata: b\n\n");
        assert_eq!(&retry(3000)[..], b"retry: 3000\n\n");
        assert_eq!(&ping()[..], b": ping\n\n");
    }
}
