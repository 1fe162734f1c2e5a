//! An incremental Server-Sent-Events parser following the WHATWG "event stream"
//! interpretation rules: lines end in CR, LF or CRLF; a leading BOM is skipped; `:` starts
//! a comment; `data` lines are joined with LF; a blank line dispatches the event (none if
//! the data buffer is empty); `id` without NUL sets the last event id, which persists
//! across events; `retry` takes ASCII digits only; an unterminated event at the end of
//! the stream is dropped.
//!
//! It works on bytes: CR and LF never occur inside a UTF-8 sequence, so splitting bytes
//! gives the same fields as splitting decoded text.

/// One dispatched event. `event` is empty when the stream named none ("message").
pub struct Dispatched<'a> {
    pub event: &'a [u8],
    pub data: &'a [u8],
    pub id: &'a [u8],
}

#[derive(Default)]
pub struct Parser {
    line: Vec<u8>,
    data: Vec<u8>,
    event: Vec<u8>,
    last_id: Vec<u8>,
    retry_ms: Option<u64>,
    /// The previous byte was CR: an LF right after it ends nothing.
    after_cr: bool,
    /// Bytes of the stream seen so far, up to 3 (for the BOM).
    seen: usize,
    comments: u64,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    #[cfg(test)]
    pub fn comments(&self) -> u64 {
        self.comments
    }

    #[cfg(test)]
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Feeds bytes of the stream; calls `on_event` for each dispatched event.
    pub fn feed(&mut self, mut bytes: &[u8], on_event: &mut impl FnMut(&Dispatched<'_>)) {
        bytes = self.skip_bom(bytes);
        while !bytes.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if bytes[0] == b'\n' {
                    bytes = &bytes[1..];
                    continue;
                }
            }
            match bytes.iter().position(|b| *b == b'\n' || *b == b'\r') {
                None => {
                    self.line.extend_from_slice(bytes);
                    return;
                }
                Some(end) => {
                    self.after_cr = bytes[end] == b'\r';
                    if self.line.is_empty() {
                        self.process_line(&bytes[..end], on_event);
                    } else {
                        self.line.extend_from_slice(&bytes[..end]);
                        let line = std::mem::take(&mut self.line);
                        self.process_line(&line, on_event);
                        self.line = line;
                        self.line.clear();
                    }
                    bytes = &bytes[end + 1..];
                }
            }
        }
    }

    /// Drops a UTF-8 BOM at the very start of the stream, even when split across feeds.
    fn skip_bom<'a>(&mut self, mut bytes: &'a [u8]) -> &'a [u8] {
        while self.seen < BOM.len() && !bytes.is_empty() {
            if bytes[0] != BOM[self.seen] {
                // Not a BOM: give back the bytes that looked like its start.
                let partial = BOM[..self.seen].to_vec();
                self.seen = BOM.len();
                self.line.extend_from_slice(&partial);
                return bytes;
            }
            self.seen += 1;
            bytes = &bytes[1..];
        }
        bytes
    }

    fn process_line(&mut self, line: &[u8], on_event: &mut impl FnMut(&Dispatched<'_>)) {
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if line[0] == b':' {
            self.comments += 1;
            return;
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => value.clone_into(&mut self.event),
            b"data" => {
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"id" if !value.contains(&0) => value.clone_into(&mut self.last_id),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry_ms = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(&Dispatched<'_>)) {
        if self.data.is_empty() {
            self.event.clear();
            return;
        }
        self.data.pop(); // the LF after the last data line
        on_event(&Dispatched { event: &self.event, data: &self.data, id: &self.last_id });
        self.data.clear();
        self.event.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> (Vec<(String, String, String)>, Parser) {
        let mut parser = Parser::new();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut |e: &Dispatched<'_>| {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                out.push((text(e.event), text(e.data), text(e.id)));
            });
        }
        (out, parser)
    }

    fn owned(event: &str, data: &str, id: &str) -> (String, String, String) {
        (event.into(), data.into(), id.into())
    }

    #[test]
    fn fields_comments_and_dispatch() {
        let (events, parser) =
            parse(&[b"retry: 3000\n\n: ping\n\nid: 7\nevent: new_message\ndata: {\"a\":1}\n\ndata:x\n\n"]);
        assert_eq!(events, vec![owned("new_message", "{\"a\":1}", "7"), owned("", "x", "7")]);
        assert_eq!(parser.retry_ms(), Some(3000));
        assert_eq!(parser.comments(), 1);
    }

    #[test]
    fn line_endings_and_splits_anywhere() {
        let stream: &[u8] = b"\xEF\xBB\xBFdata: a\r\ndata: b\rdata\r\n\r\nid\nevent: e\ndata:  c\n\n";
        let expected = vec![owned("", "a\nb\n", ""), owned("e", " c", "")];
        for split in 0..stream.len() {
            let (events, _) = parse(&[&stream[..split], &stream[split..]]);
            assert_eq!(events, expected, "split at {split}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse(&bytes).0, expected);
    }

    #[test]
    fn empty_data_unterminated_events_and_bad_fields() {
        let (events, _) = parse(&[b"event: x\n\nid: 1\0\nretry: 1x\nfoo: bar\ndata: y\n\ndata: lost"]);
        assert_eq!(events, vec![owned("", "y", "")]);
    }
}
