//! The wire side of authentication: memcached's ASCII authentication request (`-Y`) and the
//! SASL PLAIN message of the binary protocol. Parsing only; checking the credentials is
//! `command::auth`'s.
//!
//! ASCII authentication follows memcached 1.6.18's `try_read_command_asciiauth`: before a
//! connection authenticates, the only accepted input is `set <key> <flags> <exptime> <bytes>`
//! whose data block is `user password`; anything else answers `CLIENT_ERROR
//! unauthenticated`. A line over 1024 bytes without a newline closes the connection.

use super::line::{parse_u32, Tokens};

/// Largest line memcached waits for before it closes an unauthenticated connection.
const MAX_AUTH_LINE: usize = 1024;
/// Largest token block larder buffers; longer ones are skipped and fail.
const MAX_AUTH_DATA: usize = 64 * 1024;

/// Reply to anything but an authentication `set` before authenticating.
pub const UNAUTHENTICATED: &[u8] = b"CLIENT_ERROR unauthenticated\r\n";
/// Reply to wrong credentials (and to a token block too long to hold).
pub const AUTH_FAILURE: &[u8] = b"CLIENT_ERROR authentication failure\r\n";
/// Reply to a data block not ended by `\r\n`.
pub const BAD_TERMINATION: &[u8] = b"CLIENT_ERROR bad command line termination\r\n";
/// Reply to a data block that is not `user password`.
pub const BAD_TOKEN_FORMAT: &[u8] = b"CLIENT_ERROR bad authentication token format\r\n";

/// What the front of an unauthenticated text connection's input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsciiAuthRequest<'a> {
    /// Not a whole request yet.
    Incomplete,
    /// A line over 1024 bytes without a newline: close, as memcached does.
    Close,
    /// Not `set <key> <flags> <exptime> <bytes>`: [`UNAUTHENTICATED`]; drop `consumed`.
    NotAuth {
        /// Bytes of the line.
        consumed: usize,
    },
    /// A token block over 64 KiB: [`AUTH_FAILURE`], counted as an attempt; drop `consumed`
    /// now and `swallow` more as it arrives.
    TooLong {
        /// Bytes to drop now.
        consumed: usize,
        /// Bytes to drop as they arrive.
        swallow: usize,
    },
    /// A malformed data block: the reply ([`BAD_TERMINATION`] or [`BAD_TOKEN_FORMAT`]).
    Malformed {
        /// Bytes of the line and block.
        consumed: usize,
        /// The reply.
        reply: &'static [u8],
    },
    /// A login attempt.
    Login {
        /// Bytes of the line and block.
        consumed: usize,
        /// The user name.
        user: &'a [u8],
        /// The password.
        password: &'a [u8],
    },
}

/// Parses the authentication request at the front of `input`.
pub fn parse_ascii_auth(input: &[u8]) -> AsciiAuthRequest<'_> {
    if input.len() < 2 {
        return AsciiAuthRequest::Incomplete;
    }
    let Some(nl) = memchr::memchr(b'\n', input) else {
        return if input.len() > MAX_AUTH_LINE {
            AsciiAuthRequest::Close
        } else {
            AsciiAuthRequest::Incomplete
        };
    };
    let line_len = nl + 1;
    let line = &input[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let toks = Tokens::new(line);
    let size = match (toks.get(0), parse_u32(toks.get(4))) {
        (b"set", Some(size)) if toks.len() >= 5 => size as usize,
        _ => return AsciiAuthRequest::NotAuth { consumed: line_len },
    };
    let data_len = size + 2;
    if data_len > MAX_AUTH_DATA {
        let have = (input.len() - line_len).min(data_len);
        return AsciiAuthRequest::TooLong {
            consumed: line_len + have,
            swallow: data_len - have,
        };
    }
    if input.len() < line_len + data_len {
        return AsciiAuthRequest::Incomplete;
    }
    let consumed = line_len + data_len;
    let Some(data) = input[line_len..consumed].strip_suffix(b"\r\n") else {
        return AsciiAuthRequest::Malformed {
            consumed,
            reply: BAD_TERMINATION,
        };
    };
    let toks = Tokens::new(data);
    if toks.len() < 2 {
        return AsciiAuthRequest::Malformed {
            consumed,
            reply: BAD_TOKEN_FORMAT,
        };
    }
    AsciiAuthRequest::Login {
        consumed,
        user: toks.get(0),
        password: toks.get(1),
    }
}

/// Splits a SASL PLAIN message (`authzid NUL authcid NUL password`, RFC 4616) into user
/// and password; `None` if it is not one.
pub fn sasl_plain(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut parts = data.splitn(3, |b| *b == 0);
    let _authzid = parts.next()?;
    let user = parts.next()?;
    let password = parts.next()?;
    if user.is_empty() || password.contains(&0) {
        return None;
    }
    Some((user, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_plain_splits_rfc4616() {
        assert_eq!(
            sasl_plain(b"\0alice\0secret"),
            Some((&b"alice"[..], &b"secret"[..]))
        );
        assert_eq!(
            sasl_plain(b"admin\0alice\0secret"),
            Some((&b"alice"[..], &b"secret"[..]))
        );
        assert_eq!(sasl_plain(b"alice\0secret"), None);
        assert_eq!(sasl_plain(b"\0\0secret"), None);
    }

    #[test]
    fn ascii_auth_requests() {
        let ok = b"set auth 0 0 12\r\nalice secret\r\n";
        assert_eq!(
            parse_ascii_auth(ok),
            AsciiAuthRequest::Login {
                consumed: ok.len(),
                user: b"alice",
                password: b"secret"
            }
        );
        for i in 0..ok.len() {
            assert_eq!(parse_ascii_auth(&ok[..i]), AsciiAuthRequest::Incomplete);
        }
        assert_eq!(
            parse_ascii_auth(b"set a 0 0\r\n"),
            AsciiAuthRequest::NotAuth { consumed: 11 }
        );
        let mut long = b"set a 0 0 70000\r\n".to_vec();
        long.extend_from_slice(&[b'x'; 100]);
        assert_eq!(
            parse_ascii_auth(&long),
            AsciiAuthRequest::TooLong {
                consumed: long.len(),
                swallow: 70002 - 100
            }
        );
    }
}
