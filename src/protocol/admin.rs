//! The operator commands of the text protocol: `lru_crawler ...`, `slabs ...`, and the
//! arguments of `stats cachedump` and `stats detail`; with the lines their replies are
//! made of (`key=... exp=...` metadump lines, `mg <key>` mgdump lines, `ITEM ...`
//! cachedump lines, URI-encoded keys).
//!
//! Replies that follow from the syntax alone (memcached's `BADCLASS`, `SAME`, usage
//! errors) are decided here, as [`Admin::Reply`]; the command layer answers the rest.

use super::line::{parse_u32, parse_u64, Tokens};
use std::io::Write;

/// Which key listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// `lru_crawler metadump`: `key=<uri-encoded> exp=... la=... cas=... fetch=... cls=...
    /// size=...\n` per item, then `END\r\n`.
    Meta,
    /// `lru_crawler mgdump` (memcached 1.6.19+): `mg <key>[ b]\r\n` per item, then
    /// `EN\r\n`.
    Mg,
}

/// The classes a listing covers: bit `i` for class `i` (1..=63).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassSet(pub u64);

impl ClassSet {
    /// Every class (`all`, `hash`).
    pub const ALL: ClassSet = ClassSet(u64::MAX);

    /// Whether class `id` is included.
    pub fn contains(self, id: u8) -> bool {
        id < 64 && self.0 & (1 << id) != 0
    }
}

/// An operator request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin<'a> {
    /// `lru_crawler metadump|mgdump <classes|all|hash> [key prefix]` (the prefix is a larder
    /// extension: only keys starting with it are listed).
    Dump {
        /// Line format.
        format: DumpFormat,
        /// Classes listed.
        classes: ClassSet,
        /// Only keys starting with this (larder extension).
        prefix: Option<&'a [u8]>,
    },
    /// `lru_crawler crawl <classes|all>`: crawl now (the crawler's back-off is reset; it
    /// always visits every class).
    Crawl,
    /// `slabs automove <0|1|2>`.
    SlabsAutomove(u32),
    /// `slabs reassign <src> <dst>`, both within the class range (answered by the command
    /// layer, which knows the largest class).
    SlabsReassign {
        /// Source class (-1: any).
        src: i64,
        /// Destination class.
        dst: i64,
    },
    /// `config get <key>` (ElastiCache auto-discovery: `cluster`).
    ConfigGet(&'a [u8]),
    /// A reply decided by the request alone.
    Reply(&'static [u8]),
}

const OK: &[u8] = b"OK\r\n";
const ERROR: &[u8] = b"ERROR\r\n";
const BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad command line format\r\n";
const BADCLASS: &[u8] = b"BADCLASS invalid class id\r\n";

/// `slabs reassign` whose source or destination is not a class.
pub const REASSIGN_BADCLASS: &[u8] = b"BADCLASS invalid src or dst class id\r\n";
/// `slabs reassign` from a class with no page to give (always, in larder).
pub const REASSIGN_NOSPARE: &[u8] = b"NOSPARE source class has no spare pages\r\n";
/// `lru_crawler metadump` under `-X`.
pub const METADUMP_NOT_ALLOWED: &[u8] = b"ERROR metadump not allowed\r\n";
/// `stats cachedump` under `-X`.
pub const CACHEDUMP_NOT_ALLOWED: &[u8] = b"CLIENT_ERROR stats cachedump not allowed\r\n";

/// Parses `lru_crawler ...` (as memcached 1.6.18's `process_lru_crawler_command`, plus
/// `mgdump` from 1.6.19 and the key prefix).
pub fn lru_crawler<'a>(toks: &Tokens<'a>) -> Admin<'a> {
    let n = toks.len();
    match (n, toks.get(1)) {
        (3 | 4, b"metadump" | b"mgdump") => {
            let format = if toks.get(1) == b"mgdump" {
                DumpFormat::Mg
            } else {
                DumpFormat::Meta
            };
            match classes(toks.get(2)) {
                Ok(classes) => Admin::Dump {
                    format,
                    classes,
                    prefix: (n == 4).then(|| toks.get(3)),
                },
                Err(reply) => Admin::Reply(reply),
            }
        }
        (3, b"crawl") => match classes(toks.get(2)) {
            Ok(_) => Admin::Crawl,
            Err(reply) => Admin::Reply(reply),
        },
        (3, b"sleep") => match parse_u32(toks.get(2)) {
            Some(us) if us > 1_000_000 => {
                Admin::Reply(b"CLIENT_ERROR sleep must be one second or less\r\n")
            }
            Some(_) => Admin::Reply(OK),
            None => Admin::Reply(BAD_FORMAT),
        },
        (3, b"tocrawl") => match parse_u32(toks.get(2)) {
            Some(_) => Admin::Reply(OK),
            None => Admin::Reply(BAD_FORMAT),
        },
        (2, b"enable" | b"disable") => Admin::Reply(OK),
        _ => Admin::Reply(ERROR),
    }
}

/// memcached's class list: `all`, `hash`, or ids 1..=63 separated by commas (empty
/// entries skipped).
fn classes(arg: &[u8]) -> Result<ClassSet, &'static [u8]> {
    if arg == b"all" || arg == b"hash" {
        return Ok(ClassSet::ALL);
    }
    let mut set = 0u64;
    let mut any = false;
    for id in arg.split(|&b| b == b',').filter(|s| !s.is_empty()) {
        match parse_u64(id) {
            Some(id @ 1..=63) => {
                set |= 1 << id;
                any = true;
            }
            _ => return Err(BADCLASS),
        }
    }
    if any {
        Ok(ClassSet(set))
    } else {
        Err(b"NOTSTARTED no items to crawl\r\n")
    }
}

/// Parses `slabs ...` (memcached's `process_slabs_command`).
pub fn slabs<'a>(toks: &Tokens<'a>) -> Admin<'a> {
    match (toks.len(), toks.get(1)) {
        (n, b"automove") if n >= 3 => match parse_u32(toks.get(2)) {
            Some(level @ 0..=2) => Admin::SlabsAutomove(level),
            Some(_) => Admin::Reply(ERROR),
            None => Admin::Reply(BAD_FORMAT),
        },
        (4, b"reassign") => {
            let (Some(src), Some(dst)) = (parse_long(toks.get(2)), parse_long(toks.get(3))) else {
                return Admin::Reply(BAD_FORMAT);
            };
            if src == dst {
                return Admin::Reply(b"SAME src and dst class are identical\r\n");
            }
            Admin::SlabsReassign { src, dst }
        }
        _ => Admin::Reply(ERROR),
    }
}

/// Parses `config get <key>` (anything else is `ERROR`, as memcached knows no `config`).
pub fn config<'a>(toks: &Tokens<'a>) -> Admin<'a> {
    match (toks.len(), toks.get(1)) {
        (3, b"get") => Admin::ConfigGet(toks.get(2)),
        _ => Admin::Reply(ERROR),
    }
}

/// The body of a `config get cluster` answer: `<version>\n<nodes>\n`.
pub fn cluster_body(version: u64, nodes: &str) -> Vec<u8> {
    format!("{version}\n{nodes}\n").into_bytes()
}

/// `CONFIG cluster 0 <len>\r\n<version>\n<nodes>\n\r\nEND\r\n`, ElastiCache's
/// auto-discovery reply.
pub fn encode_config_cluster(out: &mut Vec<u8>, version: u64, nodes: &str) {
    let body = cluster_body(version, nodes);
    let _ = write!(out, "CONFIG cluster 0 {}\r\n", body.len());
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\r\nEND\r\n");
}

/// `safe_strtol` on a 64-bit long.
fn parse_long(tok: &[u8]) -> Option<i64> {
    let (neg, digits) = match tok.first() {
        Some(b'-') => (true, &tok[1..]),
        _ => (false, tok),
    };
    let v = i64::try_from(parse_u64(digits)?).ok()?;
    Some(if neg { -v } else { v })
}

/// The arguments of `stats cachedump <class> <limit>`: `Ok((class, limit))` or the
/// error line memcached answers.
pub fn cachedump_args(args: &[&[u8]]) -> Result<(u32, u32), &'static [u8]> {
    if args.len() < 2 {
        return Err(b"CLIENT_ERROR bad command line\r\n");
    }
    match (parse_u32(args[0]), parse_u32(args[1])) {
        (Some(id), Some(_)) if id >= 64 => Err(b"CLIENT_ERROR Illegal slab id\r\n"),
        (Some(id), Some(limit)) => Ok((id, limit)),
        _ => Err(BAD_FORMAT),
    }
}

/// What `stats detail <arg>` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// `on`.
    On,
    /// `off`.
    Off,
    /// `dump`.
    Dump,
}

/// `stats detail` usage error.
pub const DETAIL_USAGE: &[u8] = b"CLIENT_ERROR usage: stats detail on|off|dump\r\n";

/// Parses the argument of `stats detail` (further arguments are ignored, as memcached
/// does).
pub fn detail(arg: Option<&[u8]>) -> Option<Detail> {
    match arg? {
        b"on" => Some(Detail::On),
        b"off" => Some(Detail::Off),
        b"dump" => Some(Detail::Dump),
        _ => None,
    }
}

/// Appends `key` URI-encoded as memcached's `uriencode` does: letters, digits and
/// `-._~` stay, every other byte becomes `%XX` (upper-case hex).
pub fn uri_encode(out: &mut Vec<u8>, key: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// One item of a metadump listing (times are unix seconds; `exp` is -1 for never).
#[derive(Debug, Clone, Copy)]
pub struct MetaLine<'a> {
    /// The key (raw; encoded on output).
    pub key: &'a [u8],
    /// Expiry as a unix time, or -1.
    pub exp: i64,
    /// Last access as a unix time.
    pub la: u64,
    /// CAS unique.
    pub cas: u64,
    /// Fetched since stored.
    pub fetched: bool,
    /// Class id.
    pub class: u8,
    /// Item size in bytes.
    pub size: usize,
}

/// Appends `key=... exp=... la=... cas=... fetch=yes|no cls=... size=...\n`.
pub fn encode_meta_line(out: &mut Vec<u8>, l: &MetaLine<'_>) {
    out.extend_from_slice(b"key=");
    uri_encode(out, l.key);
    // memcached ends each line with a bare newline (only END has \r\n).
    let _ = writeln!(
        out,
        " exp={} la={} cas={} fetch={} cls={} size={}",
        l.exp,
        l.la,
        l.cas,
        if l.fetched { "yes" } else { "no" },
        l.class,
        l.size
    );
}

/// Appends `mg <key>\r\n`, or `mg <base64 key> b\r\n` for a binary key.
pub fn encode_mg_line(out: &mut Vec<u8>, key: &[u8], binary: bool) {
    out.extend_from_slice(b"mg ");
    if binary {
        use base64::Engine;
        let start = out.len();
        out.resize(start + key.len().div_ceil(3) * 4, 0);
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(key, &mut out[start..])
            .unwrap_or(0);
        out.truncate(start + n);
        out.extend_from_slice(b" b\r\n");
    } else {
        out.extend_from_slice(key);
        out.extend_from_slice(b"\r\n");
    }
}

/// The end of a listing.
pub fn encode_dump_end(out: &mut Vec<u8>, format: DumpFormat) {
    out.extend_from_slice(match format {
        DumpFormat::Meta => b"END\r\n",
        DumpFormat::Mg => b"EN\r\n",
    });
}

/// Appends `ITEM <key> [<value bytes> b; <exptime> s]\r\n` (exptime a unix time, 0 for
/// never), memcached's cachedump line.
pub fn encode_cachedump_line(out: &mut Vec<u8>, key: &[u8], bytes: usize, exp: u64) {
    out.extend_from_slice(b"ITEM ");
    out.extend_from_slice(key);
    let _ = write!(out, " [{bytes} b; {exp} s]\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crawler(line: &str) -> Admin<'_> {
        lru_crawler(&Tokens::new(line.as_bytes()))
    }

    fn slab(line: &str) -> Admin<'_> {
        slabs(&Tokens::new(line.as_bytes()))
    }

    #[test]
    fn lru_crawler_replies_as_memcached() {
        let reply = |l| match crawler(l) {
            Admin::Reply(r) => String::from_utf8_lossy(r).into_owned(),
            other => format!("{other:?}"),
        };
        assert_eq!(reply("lru_crawler"), "ERROR\r\n");
        assert_eq!(reply("lru_crawler metadump"), "ERROR\r\n");
        assert_eq!(
            reply("lru_crawler metadump 0"),
            "BADCLASS invalid class id\r\n"
        );
        assert_eq!(
            reply("lru_crawler metadump 64"),
            "BADCLASS invalid class id\r\n"
        );
        assert_eq!(
            reply("lru_crawler metadump 1,x"),
            "BADCLASS invalid class id\r\n"
        );
        assert_eq!(
            reply("lru_crawler metadump ,"),
            "NOTSTARTED no items to crawl\r\n"
        );
        assert_eq!(crawler("lru_crawler crawl all"), Admin::Crawl);
        assert_eq!(
            reply("lru_crawler crawl 0"),
            "BADCLASS invalid class id\r\n"
        );
        assert_eq!(
            reply("lru_crawler sleep 2000000"),
            "CLIENT_ERROR sleep must be one second or less\r\n"
        );
        assert_eq!(
            reply("lru_crawler tocrawl -1"),
            "CLIENT_ERROR bad command line format\r\n"
        );
        assert_eq!(reply("lru_crawler enable x"), "ERROR\r\n");
        assert_eq!(
            crawler("lru_crawler metadump 1,,3 user:"),
            Admin::Dump {
                format: DumpFormat::Meta,
                classes: ClassSet(0b1010),
                prefix: Some(b"user:"),
            }
        );
        assert!(matches!(
            crawler("lru_crawler mgdump hash"),
            Admin::Dump {
                format: DumpFormat::Mg,
                classes: ClassSet::ALL,
                prefix: None
            }
        ));
    }

    #[test]
    fn slabs_replies_as_memcached() {
        assert_eq!(slab("slabs automove 2"), Admin::SlabsAutomove(2));
        assert_eq!(slab("slabs automove 1 x"), Admin::SlabsAutomove(1));
        assert_eq!(slab("slabs automove 3"), Admin::Reply(ERROR));
        assert_eq!(slab("slabs automove invalid"), Admin::Reply(BAD_FORMAT));
        assert_eq!(slab("slabs automove"), Admin::Reply(ERROR));
        assert_eq!(
            slab("slabs reassign 1 1"),
            Admin::Reply(b"SAME src and dst class are identical\r\n")
        );
        assert_eq!(slab("slabs reassign x 1"), Admin::Reply(BAD_FORMAT));
        assert_eq!(slab("slabs reassign 1"), Admin::Reply(ERROR));
        assert_eq!(
            slab("slabs reassign -1 2"),
            Admin::SlabsReassign { src: -1, dst: 2 }
        );
    }

    #[test]
    fn lines_are_encoded_as_memcached_writes_them() {
        let mut out = Vec::new();
        encode_meta_line(
            &mut out,
            &MetaLine {
                key: b"foo%20x y",
                exp: -1,
                la: 1796068760,
                cas: 2,
                fetched: false,
                class: 1,
                size: 61,
            },
        );
        assert_eq!(
            out,
            b"key=foo%2520x%20y exp=-1 la=1796068760 cas=2 fetch=no cls=1 size=61\n"
        );
        out.clear();
        encode_cachedump_line(&mut out, b"foo%20x", 3, 1796068875);
        assert_eq!(out, b"ITEM foo%20x [3 b; 1796068875 s]\r\n");
        out.clear();
        encode_mg_line(&mut out, b"\x00\x01", true);
        encode_mg_line(&mut out, b"k", false);
        assert_eq!(out, b"mg AAE= b\r\nmg k\r\n");
    }
}
