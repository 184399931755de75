//! Transcripts: requests and the exact bytes memcached 1.6.18 answers, one table run two
//! ways: over a socket against the real binary (`tests/text.rs`, and against memcached with
//! `LARDER_TEST_BIN=/usr/bin/memcached`), and in process through `command::step` on a fresh
//! store (`src/command/tests.rs`), so a reply that changes shows in both at once.
//!
//! Each transcript starts on an empty cache. A step is a request (any number of pipelined
//! commands, data blocks included) and every byte of its reply; an empty reply means none
//! (noreply), which the next step's reply then proves.

/// One transcript: a name and its steps.
pub struct Transcript {
    pub name: &'static str,
    pub steps: &'static [(&'static [u8], &'static [u8])],
}

pub const TRANSCRIPTS: &[Transcript] = &[
    Transcript {
        name: "multiget answers hits in request order",
        steps: &[
            (
                b"set a 0 0 1\r\n1\r\nset c 0 0 1\r\n3\r\n",
                b"STORED\r\nSTORED\r\n",
            ),
            (
                b"get a b c a\r\n",
                b"VALUE a 0 1\r\n1\r\nVALUE c 0 1\r\n3\r\nVALUE a 0 1\r\n1\r\nEND\r\n",
            ),
        ],
    },
    Transcript {
        name: "add, replace, append, prepend",
        steps: &[
            (b"add k 0 0 1\r\na\r\n", b"STORED\r\n"),
            (b"add k 0 0 1\r\nb\r\n", b"NOT_STORED\r\n"),
            (b"replace k 7 0 2\r\nbb\r\n", b"STORED\r\n"),
            (b"replace nokey 0 0 1\r\nb\r\n", b"NOT_STORED\r\n"),
            (b"append k 0 0 2\r\ncc\r\n", b"STORED\r\n"),
            (b"prepend k 0 0 2\r\naa\r\n", b"STORED\r\n"),
            (b"get k\r\n", b"VALUE k 7 6\r\naabbcc\r\nEND\r\n"),
            (b"append nokey 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
            (b"prepend nokey 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
        ],
    },
    Transcript {
        name: "delete and its usage errors",
        steps: &[
            (b"set d 0 0 1\r\nx\r\n", b"STORED\r\n"),
            (b"delete d\r\n", b"DELETED\r\n"),
            (b"delete d\r\n", b"NOT_FOUND\r\n"),
            (b"set d 0 0 1\r\nx\r\n", b"STORED\r\n"),
            (b"delete d 0\r\n", b"DELETED\r\n"),
            (
                b"delete d 5\r\n",
                b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
            ),
        ],
    },
    Transcript {
        name: "incr and decr: wrap, floor and errors",
        steps: &[
            (b"set n 0 0 2\r\n10\r\n", b"STORED\r\n"),
            (b"decr n 1\r\n", b"9\r\n"),
            // memcached keeps the length and pads with a space when the number shrinks.
            (b"get n\r\n", b"VALUE n 0 2\r\n9 \r\nEND\r\n"),
            (b"incr n 18446744073709551615\r\n", b"8\r\n"),
            (b"decr n 100\r\n", b"0\r\n"),
            (b"set m 0 0 20\r\n18446744073709551615\r\n", b"STORED\r\n"),
            (b"incr m 1\r\n", b"0\r\n"),
            (b"incr n 5\r\n", b"5\r\n"),
            (b"incr nokey 1\r\n", b"NOT_FOUND\r\n"),
            (b"decr nokey 1\r\n", b"NOT_FOUND\r\n"),
            (b"set t 0 0 2\r\nab\r\n", b"STORED\r\n"),
            (
                b"incr t 1\r\n",
                b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
            ),
            (
                b"incr n abc\r\n",
                b"CLIENT_ERROR invalid numeric delta argument\r\n",
            ),
            (b"set g 0 0 1\r\n9\r\nincr g 1\r\n", b"STORED\r\n10\r\n"),
            (b"get g\r\n", b"VALUE g 0 2\r\n10\r\nEND\r\n"),
        ],
    },
    Transcript {
        name: "noreply hides replies and errors",
        steps: &[
            (b"set a 0 0 1 noreply\r\n1\r\n", b""),
            (b"add a 0 0 1 noreply\r\n2\r\n", b""),
            (b"replace a 0 0 1 noreply\r\n3\r\n", b""),
            (b"append a 0 0 1 noreply\r\n4\r\n", b""),
            (b"prepend a 0 0 1 noreply\r\n5\r\n", b""),
            (b"incr nokey 1 noreply\r\n", b""),
            (b"touch a 100 noreply\r\n", b""),
            (b"delete nokey noreply\r\n", b""),
            (b"cas a 0 0 1 1 noreply\r\nx\r\n", b""),
            (b"get a\r\n", b"VALUE a 0 3\r\n534\r\nEND\r\n"),
            (b"incr a 1 noreply\r\ndecr a 2 noreply\r\n", b""),
            (b"get a\r\n", b"VALUE a 0 3\r\n533\r\nEND\r\n"),
            (b"flush_all noreply\r\n", b""),
            (b"get a\r\n", b"END\r\n"),
        ],
    },
    Transcript {
        name: "malformed commands get memcached's errors and the stream survives",
        steps: &[
            (b"set keep 0 0 4\r\nsafe\r\n", b"STORED\r\n"),
            (b"bogus\r\n", b"ERROR\r\n"),
            (b"\r\n", b"ERROR\r\n"),
            (b"GET keep\r\n", b"ERROR\r\n"),
            (b"get\r\n", b"ERROR\r\n"),
            (
                b"set x 0 0 abc\r\n",
                b"CLIENT_ERROR bad command line format\r\n",
            ),
            (
                b"set x 0 0 -1\r\n",
                b"CLIENT_ERROR bad command line format\r\n",
            ),
            (
                b"set x abc 0 1\r\n",
                b"CLIENT_ERROR bad command line format\r\n",
            ),
            // A data block that does not end in CRLF: memcached takes len+2 bytes, then
            // parses on.
            (
                b"set x 0 0 3\r\nabcde\r\n",
                b"CLIENT_ERROR bad data chunk\r\nERROR\r\n",
            ),
            (b"verbosity\r\n", b"ERROR\r\n"),
            (b"stats nonsense\r\n", b"ERROR\r\n"),
            (b"get keep\n", b"VALUE keep 0 4\r\nsafe\r\nEND\r\n"),
        ],
    },
    Transcript {
        name: "meta set, get, arithmetic and delete",
        steps: &[
            (b"ms mk 2 T0 F5\r\nhi\r\n", b"HD\r\n"),
            (b"mg mk v f\r\n", b"VA 2 f5\r\nhi\r\n"),
            (b"mg missing v\r\n", b"EN\r\n"),
            (b"mn\r\n", b"MN\r\n"),
            (b"ma nokey\r\n", b"NF\r\n"),
            (b"ma cnt N0 J13 v\r\n", b"VA 2\r\n13\r\n"),
            (b"ma cnt D5 v\r\n", b"VA 2\r\n18\r\n"),
            (b"md mk q\r\nmg mk v\r\n", b"EN\r\n"),
        ],
    },
];
