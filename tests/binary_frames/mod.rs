//! Binary-protocol frames for the raw-byte tests: request builders and a response reader.
#![allow(dead_code)]

use crate::common::Client;

/// Opcodes used by the tests.
pub mod op {
    pub const GET: u8 = 0x00;
    pub const SET: u8 = 0x01;
    pub const ADD: u8 = 0x02;
    pub const REPLACE: u8 = 0x03;
    pub const DELETE: u8 = 0x04;
    pub const INCR: u8 = 0x05;
    pub const DECR: u8 = 0x06;
    pub const QUIT: u8 = 0x07;
    pub const FLUSH: u8 = 0x08;
    pub const GETQ: u8 = 0x09;
    pub const NOOP: u8 = 0x0a;
    pub const VERSION: u8 = 0x0b;
    pub const GETK: u8 = 0x0c;
    pub const GETKQ: u8 = 0x0d;
    pub const APPEND: u8 = 0x0e;
    pub const PREPEND: u8 = 0x0f;
    pub const STAT: u8 = 0x10;
    pub const SETQ: u8 = 0x11;
    pub const ADDQ: u8 = 0x12;
    pub const REPLACEQ: u8 = 0x13;
    pub const DELETEQ: u8 = 0x14;
    pub const INCRQ: u8 = 0x15;
    pub const DECRQ: u8 = 0x16;
    pub const QUITQ: u8 = 0x17;
    pub const FLUSHQ: u8 = 0x18;
    pub const APPENDQ: u8 = 0x19;
    pub const PREPENDQ: u8 = 0x1a;
    pub const TOUCH: u8 = 0x1c;
    pub const GAT: u8 = 0x1d;
    pub const GATQ: u8 = 0x1e;
    pub const SASL_LIST: u8 = 0x20;
    pub const SASL_AUTH: u8 = 0x21;
    pub const SASL_STEP: u8 = 0x22;
    pub const GATK: u8 = 0x23;
    pub const GATKQ: u8 = 0x24;
}

/// Status codes.
pub mod st {
    pub const OK: u16 = 0x00;
    pub const NOT_FOUND: u16 = 0x01;
    pub const EXISTS: u16 = 0x02;
    pub const TOO_LARGE: u16 = 0x03;
    pub const EINVAL: u16 = 0x04;
    pub const NOT_STORED: u16 = 0x05;
    pub const NON_NUMERIC: u16 = 0x06;
    pub const AUTH_ERROR: u16 = 0x20;
    pub const UNKNOWN: u16 = 0x81;
}

/// A request frame with explicit fields.
pub fn frame(op: u8, extras: &[u8], key: &[u8], value: &[u8], opaque: u32, cas: u64) -> Vec<u8> {
    let mut v = vec![0x80, op];
    v.extend_from_slice(&(key.len() as u16).to_be_bytes());
    v.push(extras.len() as u8);
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(&((extras.len() + key.len() + value.len()) as u32).to_be_bytes());
    v.extend_from_slice(&opaque.to_be_bytes());
    v.extend_from_slice(&cas.to_be_bytes());
    v.extend_from_slice(extras);
    v.extend_from_slice(key);
    v.extend_from_slice(value);
    v
}

/// A request without extras, value or CAS.
pub fn simple(op: u8, key: &[u8]) -> Vec<u8> {
    frame(op, &[], key, &[], 0, 0)
}

/// Set-family extras.
pub fn set_extras(flags: u32, exptime: u32) -> Vec<u8> {
    let mut v = flags.to_be_bytes().to_vec();
    v.extend_from_slice(&exptime.to_be_bytes());
    v
}

/// A set-family request.
pub fn store(op: u8, key: &[u8], value: &[u8], flags: u32, cas: u64) -> Vec<u8> {
    frame(op, &set_extras(flags, 0), key, value, 0, cas)
}

/// Incr/decr extras.
pub fn arith_extras(delta: u64, initial: u64, exptime: u32) -> Vec<u8> {
    let mut v = delta.to_be_bytes().to_vec();
    v.extend_from_slice(&initial.to_be_bytes());
    v.extend_from_slice(&exptime.to_be_bytes());
    v
}

/// A decoded response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resp {
    pub opcode: u8,
    pub status: u16,
    pub opaque: u32,
    pub cas: u64,
    pub extras: Vec<u8>,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Reads one response, checking the magic and the data type.
pub fn read(c: &mut Client) -> Resp {
    let h = c.read_exact(24);
    assert_eq!(h[0], 0x81, "response magic in {h:?}");
    assert_eq!(h[5], 0, "data type");
    let kl = u16::from_be_bytes([h[2], h[3]]) as usize;
    let el = h[4] as usize;
    let bl = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
    let body = c.read_exact(bl);
    Resp {
        opcode: h[1],
        status: u16::from_be_bytes([h[6], h[7]]),
        opaque: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
        cas: u64::from_be_bytes(h[16..24].try_into().unwrap()),
        extras: body[..el].to_vec(),
        key: body[el..el + kl].to_vec(),
        value: body[el + kl..].to_vec(),
    }
}

/// Sends a frame and reads one response.
pub fn call(c: &mut Client, req: &[u8]) -> Resp {
    c.send(req);
    read(c)
}

/// Asserts an error response: opcode, status and memcached's message.
pub fn assert_error(r: &Resp, opcode: u8, status: u16, message: &str) {
    assert_eq!(
        (r.opcode, r.status, r.value.as_slice(), r.cas),
        (opcode, status, message.as_bytes(), 0),
        "{r:?}"
    );
    assert!(r.extras.is_empty() && r.key.is_empty(), "{r:?}");
}

/// Asserts an empty success response for `opcode`; returns its CAS.
pub fn assert_ok(r: &Resp, opcode: u8) -> u64 {
    assert_eq!((r.opcode, r.status), (opcode, 0), "{r:?}");
    assert!(
        r.extras.is_empty() && r.key.is_empty() && r.value.is_empty(),
        "{r:?}"
    );
    r.cas
}
