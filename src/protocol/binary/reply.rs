//! Binary responses: the 24-byte header, whole responses, `Stat` rows and error responses
//! (memcached's `write_bin_response` / `write_bin_error`).

use super::{Status, HEADER_LEN, RESPONSE_MAGIC};

/// Appends a response header.
#[allow(clippy::too_many_arguments)]
pub fn encode_header(
    out: &mut Vec<u8>,
    opcode: u8,
    status: Status,
    key_len: u16,
    extras_len: u8,
    body_len: u32,
    opaque: u32,
    cas: u64,
) {
    out.push(RESPONSE_MAGIC);
    out.push(opcode);
    out.extend_from_slice(&key_len.to_be_bytes());
    out.push(extras_len);
    out.push(0);
    out.extend_from_slice(&status.code().to_be_bytes());
    out.extend_from_slice(&body_len.to_be_bytes());
    out.extend_from_slice(&opaque.to_be_bytes());
    out.extend_from_slice(&cas.to_be_bytes());
}

/// Appends a whole response: header, extras, key, value.
///
/// The key is at most [`MAX_KEY_LEN`](crate::protocol::MAX_KEY_LEN) bytes and extras at most 255 in every response
/// larder writes; the body length saturates at `u32::MAX` (values are bounded by `-I`).
#[allow(clippy::too_many_arguments)]
pub fn encode_response(
    out: &mut Vec<u8>,
    opcode: u8,
    status: Status,
    opaque: u32,
    cas: u64,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
) {
    let body = extras.len() + key.len() + value.len();
    encode_header(
        out,
        opcode,
        status,
        u16::try_from(key.len()).unwrap_or(u16::MAX),
        u8::try_from(extras.len()).unwrap_or(u8::MAX),
        u32::try_from(body).unwrap_or(u32::MAX),
        opaque,
        cas,
    );
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

/// Appends one Stat response: the row's name as key, its value as value (formatted straight
/// into `out`, then the header's lengths filled in).
pub fn encode_stat(
    out: &mut Vec<u8>,
    opcode: u8,
    opaque: u32,
    name: &dyn std::fmt::Display,
    value: &dyn std::fmt::Display,
) {
    use std::io::Write as _;
    let start = out.len();
    encode_header(out, opcode, Status::Success, 0, 0, 0, opaque, 0);
    let _ = write!(out, "{name}");
    let key_len = out.len() - start - HEADER_LEN;
    let _ = write!(out, "{value}");
    let body_len = out.len() - start - HEADER_LEN;
    let key_len = u16::try_from(key_len).unwrap_or(u16::MAX);
    out[start + 2..start + 4].copy_from_slice(&key_len.to_be_bytes());
    let body_len = u32::try_from(body_len).unwrap_or(u32::MAX);
    out[start + 8..start + 12].copy_from_slice(&body_len.to_be_bytes());
}

/// Appends an error response carrying the status's message, as `write_bin_error` does.
pub fn encode_error(out: &mut Vec<u8>, opcode: u8, status: Status, opaque: u32) {
    encode_response(
        out,
        opcode,
        status,
        opaque,
        0,
        &[],
        &[],
        status.message().as_bytes(),
    );
}
