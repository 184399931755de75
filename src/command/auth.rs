//! Authentication: the credential file, constant-time checks, SASL PLAIN and memcached's
//! ASCII authentication (`-Y`).
//!
//! The credential file has memcached's `-Y` format: one `user:password` per line (split at
//! the first `:`, a trailing `\r` ignored, empty lines skipped). It is read once at startup;
//! its contents are never logged, and [`Credentials`]' `Debug` shows only the user count.
//!
//! Checks compare the user name and the password of *every* entry in constant time (no early
//! exit on the first differing byte or entry), so response timing does not reveal how much
//! of a guess was right or which user exists.
//!
//! ASCII authentication (`-Y`): [`ascii_step`] checks what `protocol::auth` parsed (memcached
//! 1.6.18's `try_read_command_asciiauth`) against the credentials.

use crate::protocol::auth::{self, AsciiAuthRequest};
use crate::protocol::text;
use std::fmt;
use std::path::Path;

/// The users allowed in, loaded from a `user:password` file.
#[derive(Clone, Default)]
pub struct Credentials {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("users", &self.entries.len())
            .finish()
    }
}

/// Why a credential file could not be used (never includes its contents).
#[derive(Debug)]
pub struct AuthFileError(pub String);

impl fmt::Display for AuthFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuthFileError {}

impl Credentials {
    /// Reads a credential file.
    ///
    /// # Errors
    /// The file cannot be read, has a line without `:`, or holds no user.
    pub fn load(path: &Path) -> Result<Credentials, AuthFileError> {
        let bytes = std::fs::read(path).map_err(|e| {
            AuthFileError(format!("cannot read the auth file {}: {e}", path.display()))
        })?;
        Credentials::parse(&bytes)
            .map_err(|e| AuthFileError(format!("auth file {}: {e}", path.display())))
    }

    /// Parses `user:password` lines.
    ///
    /// # Errors
    /// A non-empty line without `:` (reported by line number only), or no user at all.
    pub fn parse(bytes: &[u8]) -> Result<Credentials, AuthFileError> {
        let mut entries = Vec::new();
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                return Err(AuthFileError(format!(
                    "line {} is not user:password",
                    i + 1
                )));
            };
            entries.push((line[..colon].to_vec(), line[colon + 1..].to_vec()));
        }
        if entries.is_empty() {
            return Err(AuthFileError("no user:password line".to_string()));
        }
        Ok(Credentials { entries })
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no user (never the case for loaded credentials).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True if `user` with `password` is listed. Every entry is compared, each in
    /// constant time.
    pub fn check(&self, user: &[u8], password: &[u8]) -> bool {
        let mut ok = false;
        for (u, p) in &self.entries {
            // `&` rather than `&&`: both comparisons always run.
            ok |= ct_eq(u, user) & ct_eq(p, password);
        }
        ok
    }
}

/// Compares two byte strings in time that depends only on their lengths, not on where
/// they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// The outcome of one ASCII authentication step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsciiAuth {
    /// Not a whole command yet.
    NeedInput,
    /// The line is over 1024 bytes without a newline: close, as memcached does.
    Close,
    /// A command was handled.
    Done {
        /// Bytes of input used.
        consumed: usize,
        /// Further bytes to skip as they arrive.
        swallow: usize,
        /// The reply line, with `\r\n`.
        reply: &'static [u8],
        /// The attempt counts in `auth_cmds` (and in `auth_errors` unless it succeeded).
        attempt: bool,
        /// The connection is now authenticated.
        authenticated: bool,
    },
}

fn done(consumed: usize, swallow: usize, reply: &'static [u8], attempt: bool) -> AsciiAuth {
    AsciiAuth::Done {
        consumed,
        swallow,
        reply,
        attempt,
        authenticated: false,
    }
}

fn unauthenticated(consumed: usize) -> AsciiAuth {
    done(consumed, 0, auth::UNAUTHENTICATED, false)
}

fn failed(consumed: usize, swallow: usize) -> AsciiAuth {
    done(consumed, swallow, auth::AUTH_FAILURE, true)
}

/// Handles the input of a connection that has not authenticated under `-Y`.
pub fn ascii_step(input: &[u8], creds: &Credentials) -> AsciiAuth {
    match auth::parse_ascii_auth(input) {
        AsciiAuthRequest::Incomplete => AsciiAuth::NeedInput,
        AsciiAuthRequest::Close => AsciiAuth::Close,
        AsciiAuthRequest::NotAuth { consumed } => unauthenticated(consumed),
        AsciiAuthRequest::TooLong { consumed, swallow } => failed(consumed, swallow),
        AsciiAuthRequest::Malformed { consumed, reply } => done(consumed, 0, reply, false),
        AsciiAuthRequest::Login {
            consumed,
            user,
            password,
        } if creds.check(user, password) => AsciiAuth::Done {
            consumed,
            swallow: 0,
            reply: text::STORED,
            attempt: true,
            authenticated: true,
        },
        AsciiAuthRequest::Login { consumed, .. } => failed(consumed, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::parse(b"alice:secret\r\nbob:pa:ss\n\n").expect("valid file")
    }

    #[test]
    fn parses_memcached_auth_file_format() {
        let c = creds();
        assert_eq!(c.len(), 2);
        assert!(c.check(b"alice", b"secret"));
        assert!(c.check(b"bob", b"pa:ss"));
        assert!(!c.check(b"alice", b"secreT"));
        assert!(!c.check(b"alice", b"secret "));
        assert!(!c.check(b"bob", b"secret"));
        assert!(!c.check(b"", b""));
        assert!(Credentials::parse(b"nocolon\n").is_err());
        assert!(Credentials::parse(b"\n\n").is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let shown = format!("{:?}", creds());
        assert!(
            !shown.contains("secret") && !shown.contains("alice"),
            "{shown}"
        );
    }

    #[test]
    fn errors_never_show_contents() {
        let e = Credentials::parse(b"alice:x\nsecretline\n").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn ct_eq_is_equality() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(b"ab\0", b"ab"));
    }

    #[test]
    fn ascii_auth_transcripts() {
        let c = creds();
        let ok = b"set auth 0 0 12\r\nalice secret\r\n";
        assert_eq!(
            ascii_step(ok, &c),
            AsciiAuth::Done {
                consumed: ok.len(),
                swallow: 0,
                reply: b"STORED\r\n",
                attempt: true,
                authenticated: true
            }
        );
        for i in 0..ok.len() {
            assert_eq!(ascii_step(&ok[..i], &c), AsciiAuth::NeedInput, "prefix {i}");
        }
        let bad = b"set auth 0 0 11\r\nalice wrong\r\n";
        assert_eq!(ascii_step(bad, &c), failed(bad.len(), 0));
        assert_eq!(ascii_step(b"get foo\r\n", &c), unauthenticated(9));
        assert_eq!(ascii_step(b"set a 0 0\r\n", &c), unauthenticated(11));
        assert_eq!(ascii_step(b"set a 0 0 x\r\n", &c), unauthenticated(13));
        let unterminated = b"set a 0 0 3\r\nabcde";
        assert!(matches!(
            ascii_step(unterminated, &c),
            AsciiAuth::Done {
                reply: b"CLIENT_ERROR bad command line termination\r\n",
                ..
            }
        ));
        assert!(matches!(
            ascii_step(b"set a 0 0 5\r\nalice\r\n", &c),
            AsciiAuth::Done {
                reply: b"CLIENT_ERROR bad authentication token format\r\n",
                ..
            }
        ));
        assert_eq!(ascii_step(&[b'x'; 1025], &c), AsciiAuth::Close);
        assert_eq!(ascii_step(&[b'x'; 1000], &c), AsciiAuth::NeedInput);
    }
}
