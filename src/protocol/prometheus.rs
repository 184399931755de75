//! The Prometheus text exposition format (version 0.0.4): `# HELP`, `# TYPE`, then
//! samples `name{label="value",...} number`, one family at a time; and the HTTP/1.0
//! response around it.

use std::fmt::Display;
use std::io::Write;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes metric families into a buffer.
#[derive(Debug, Default)]
pub struct Exposition {
    /// The text so far.
    pub out: Vec<u8>,
}

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (reset at restart or `stats reset`).
    Counter,
    /// Any value.
    Gauge,
}

impl Exposition {
    /// Starts family `name`.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = write!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &dyn Display)], value: impl Display) {
        self.out.extend_from_slice(name.as_bytes());
        if !labels.is_empty() {
            self.out.push(b'{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(b',');
                }
                let _ = write!(self.out, "{k}=\"");
                escape_label(&mut self.out, &v.to_string());
                self.out.push(b'"');
            }
            self.out.push(b'}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

fn escape_label(out: &mut Vec<u8>, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.extend_from_slice(b"\\\\"),
            '"' => out.extend_from_slice(b"\\\""),
            '\n' => out.extend_from_slice(b"\\n"),
            c => {
                let mut b = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

/// An HTTP/1.0 response with `body`, closing the connection after it.
pub fn http_response(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// The request line's method and path, once the request head (up to the blank line) has
/// arrived: `None` while incomplete.
pub fn request_target(head: &[u8]) -> Option<(&[u8], &[u8])> {
    memchr::memmem::find(head, b"\r\n\r\n").or_else(|| memchr::memmem::find(head, b"\n\n"))?;
    let line_end = memchr::memchr(b'\n', head)?;
    let mut parts = head[..line_end].split(|&b| b == b' ');
    let method = parts.next()?;
    let path = parts.next()?;
    Some((method, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_samples() {
        let mut e = Exposition::default();
        e.family("m_total", Kind::Counter, "Things.");
        e.sample("m_total", &[("command", &"get"), ("status", &"hit")], 3);
        e.single("up", Kind::Gauge, "Up.", 1);
        assert_eq!(
            String::from_utf8(e.out).unwrap(),
            "# HELP m_total Things.\n# TYPE m_total counter\nm_total{command=\"get\",status=\"hit\"} 3\n# HELP up Up.\n# TYPE up gauge\nup 1\n"
        );
        assert_eq!(
            request_target(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some((&b"GET"[..], &b"/metrics"[..]))
        );
        assert_eq!(request_target(b"GET /metrics HTTP/1.1\r\n"), None);
    }
}
