//! Splits an input stream into records: lines of text (a backslash-escaped newline
//! continues the record with ESCAPE), CSV rows (newlines inside quotes continue it)
//! and JSON objects (which may span lines).

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The longest record read (Redshift's rows are at most 4 MB).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// How records end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordMode {
    Text { escape: bool },
    Csv { quote: u8 },
    Json,
}

/// Reads records, counting lines.
pub struct RecordReader<R> {
    reader: R,
    mode: RecordMode,
    /// Lines consumed so far.
    lines: u64,
    /// Bytes consumed so far.
    bytes: u64,
    /// No record starts at or after this many bytes.
    limit: Option<u64>,
}

impl<R: AsyncBufRead + Unpin> RecordReader<R> {
    pub fn new(reader: R, mode: RecordMode) -> Self {
        RecordReader {
            reader,
            mode,
            lines: 0,
            bytes: 0,
            limit: None,
        }
    }

    /// Ends the input at the first record that starts `limit` or more bytes into
    /// it (a byte range of a file: its records are those that start in it). Blank
    /// lines skipped on the way count as where the next record starts.
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = Some(limit);
    }

    /// Lines read so far (the last record's last line).
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Bytes read so far (where the next record starts).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Reads one physical line into `out` (appending); false at the end of input. A
    /// record may not grow past [`MAX_RECORD_BYTES`], so memory stays bounded
    /// whatever the input (an unterminated quote, a file without newlines).
    async fn line(&mut self, out: &mut Vec<u8>) -> std::io::Result<bool> {
        use tokio::io::AsyncReadExt;
        let room = (MAX_RECORD_BYTES + 1).saturating_sub(out.len()) as u64;
        let n = (&mut self.reader).take(room).read_until(b'\n', out).await?;
        if out.len() > MAX_RECORD_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "the record at line {} is longer than {} MiB (an unterminated quote?)",
                    self.lines + 1,
                    MAX_RECORD_BYTES >> 20
                ),
            ));
        }
        if n == 0 {
            return Ok(false);
        }
        self.lines += 1;
        self.bytes += n as u64;
        Ok(true)
    }

    /// Skips `n` lines (IGNOREHEADER).
    pub async fn skip_lines(&mut self, n: u64) -> std::io::Result<()> {
        let mut scratch = Vec::new();
        for _ in 0..n {
            scratch.clear();
            if !self.line(&mut scratch).await? {
                break;
            }
        }
        Ok(())
    }

    /// The next record into `out` (cleared first), without its line ending; returns
    /// its first line's number, or `None` at the end of input. Empty lines are
    /// skipped.
    pub async fn next_record(&mut self, out: &mut Vec<u8>) -> std::io::Result<Option<u64>> {
        loop {
            out.clear();
            if self.limit.is_some_and(|limit| self.bytes >= limit) {
                return Ok(None);
            }
            if !self.line(out).await? {
                return Ok(None);
            }
            let first = self.lines;
            match self.mode {
                RecordMode::Text { escape } => {
                    while escape && ends_with_escaped_newline(out) {
                        if !self.line(out).await? {
                            break;
                        }
                    }
                }
                RecordMode::Csv { quote } => {
                    while out.iter().filter(|&&b| b == quote).count() % 2 == 1 {
                        if !self.line(out).await? {
                            break;
                        }
                    }
                }
                RecordMode::Json => {
                    let mut scan = JsonScan::default();
                    scan.feed(out);
                    while !scan.complete() {
                        let from = out.len();
                        if !self.line(out).await? {
                            break;
                        }
                        scan.feed(&out[from..]);
                    }
                }
            }
            trim_line_end(out);
            let blank = match self.mode {
                RecordMode::Json => out.iter().all(u8::is_ascii_whitespace),
                _ => out.is_empty(),
            };
            if !blank {
                return Ok(Some(first));
            }
        }
    }
}

fn trim_line_end(out: &mut Vec<u8>) {
    if out.last() == Some(&b'\n') {
        out.pop();
        if out.last() == Some(&b'\r') {
            out.pop();
        }
    }
}

/// Whether the line ends in a newline preceded by an odd run of backslashes.
fn ends_with_escaped_newline(line: &[u8]) -> bool {
    let Some(body) = line.strip_suffix(b"\n") else {
        return false;
    };
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    body.iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// Tracks brace depth through JSON text, outside strings.
#[derive(Default)]
struct JsonScan {
    depth: i64,
    started: bool,
    in_string: bool,
    escaped: bool,
}

impl JsonScan {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    self.started = true;
                }
                b'}' | b']' => self.depth -= 1,
                b if !b.is_ascii_whitespace() => self.started = true,
                _ => {}
            }
        }
    }

    fn complete(&self) -> bool {
        !self.started || self.depth <= 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn records(input: &str, mode: RecordMode) -> Vec<(u64, String)> {
        let mut reader = RecordReader::new(input.as_bytes(), mode);
        let mut out = Vec::new();
        let mut all = Vec::new();
        while let Some(line) = reader.next_record(&mut out).await.expect("read") {
            all.push((line, String::from_utf8_lossy(&out).into_owned()));
        }
        all
    }

    /// A byte range's records are those that start before its limit; blank lines
    /// skipped up to the limit do not pull in the record after it.
    #[tokio::test]
    async fn records_stop_at_the_limit() -> std::io::Result<()> {
        let input = "a\n\nb\nc\n";
        for (limit, expected) in [
            (2, vec!["a"]),
            (3, vec!["a"]),
            (4, vec!["a", "b"]),
            (6, vec!["a", "b", "c"]),
        ] {
            let mut reader =
                RecordReader::new(input.as_bytes(), RecordMode::Text { escape: false });
            reader.set_limit(limit);
            let mut out = Vec::new();
            let mut seen = Vec::new();
            while reader.next_record(&mut out).await?.is_some() {
                seen.push(String::from_utf8_lossy(&out).into_owned());
            }
            assert_eq!(seen, expected, "limit {limit}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn records_span_lines_where_the_format_says() {
        let text = records("a|b\n\nc\\\nd|e\r\nf", RecordMode::Text { escape: true }).await;
        assert_eq!(
            text,
            vec![(1, "a|b".into()), (3, "c\\\nd|e".into()), (5, "f".into())]
        );
        let csv = records("1,\"x\ny\"\n2,\"\"\"\"\n", RecordMode::Csv { quote: b'"' }).await;
        assert_eq!(
            csv,
            vec![(1, "1,\"x\ny\"".into()), (3, "2,\"\"\"\"".into())]
        );
        let json = records(
            "{\"a\": \"}\",\n \"b\": [1,\n2]}\n{\"a\":1}",
            RecordMode::Json,
        )
        .await;
        assert_eq!(json.len(), 2);
        assert_eq!(json[1], (4, "{\"a\":1}".into()));
    }
}
