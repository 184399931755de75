//! The client's one error type.
//!
//! Outcomes a memcached client must tell apart are distinct variants: a miss
//! ([`Error::NotFound`]), a refused conditional store ([`Error::NotStored`]), a CAS
//! conflict ([`Error::Exists`]), a node that cannot be reached ([`Error::Unavailable`]),
//! a reply the client cannot parse ([`Error::Protocol`]) and an error line sent by the
//! server ([`Error::Server`]). Only `Unavailable` counts toward ejecting a node.

use std::fmt;
use std::io;

use crate::node::SpecError;

/// Why a node could not serve a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The node failed `server_failure_limit` times in a row and is inside its
    /// `server_retry_timeout` window: the request was refused without touching the network.
    RetryWindow,
    /// Connecting failed (refused, unreachable, or the connect timeout expired).
    Connect(io::ErrorKind),
    /// A read or write timed out.
    TimedOut,
    /// The node closed the connection.
    Closed,
    /// Another I/O error.
    Io(io::ErrorKind),
}

/// Everything a client call can fail with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A miss: the key does not exist (get-and-touch, delete, incr/decr, touch, cas).
    NotFound,
    /// `add` on an existing key, or `replace`/`append`/`prepend` on a missing one.
    NotStored,
    /// `cas` lost: the item changed since its CAS token was read.
    Exists,
    /// The node holding the key could not be used.
    Unavailable {
        /// The node's label.
        node: String,
        /// What went wrong.
        cause: Cause,
    },
    /// The node's reply did not follow the text protocol; the connection was dropped.
    Protocol {
        /// The node's label.
        node: String,
        /// What was unexpected.
        detail: String,
    },
    /// The node answered `ERROR`, `CLIENT_ERROR ...` or `SERVER_ERROR ...`.
    Server {
        /// The node's label.
        node: String,
        /// The reply line.
        message: String,
    },
    /// The key is empty, longer than 250 bytes, or contains a space or control byte;
    /// nothing was sent.
    InvalidKey,
    /// No node is live (all ejected) or the client has no nodes.
    NoNodes,
    /// A membership call named a node the client does not have.
    UnknownNode(String),
    /// A membership call would add a node whose label is already in use.
    DuplicateNode(String),
    /// A node specification did not parse.
    Spec(SpecError),
}

impl Error {
    /// True for [`Error::Unavailable`]: the failure that counts toward ejection and that
    /// replica reads fall over on.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::RetryWindow => write!(f, "failed recently; waiting for server_retry_timeout"),
            Cause::Connect(kind) => write!(f, "connect failed: {kind}"),
            Cause::TimedOut => write!(f, "timed out"),
            Cause::Closed => write!(f, "connection closed by the node"),
            Cause::Io(kind) => write!(f, "I/O error: {kind}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound => write!(f, "not found"),
            Error::NotStored => write!(f, "not stored"),
            Error::Exists => write!(f, "exists (cas mismatch)"),
            Error::Unavailable { node, cause } => write!(f, "node {node} unavailable: {cause}"),
            Error::Protocol { node, detail } => write!(f, "protocol error from {node}: {detail}"),
            Error::Server { node, message } => write!(f, "node {node} replied {message}"),
            Error::InvalidKey => write!(f, "invalid key"),
            Error::NoNodes => write!(f, "no live nodes"),
            Error::UnknownNode(n) => write!(f, "unknown node {n}"),
            Error::DuplicateNode(n) => write!(f, "node {n} already exists"),
            Error::Spec(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<SpecError> for Error {
    fn from(e: SpecError) -> Error {
        Error::Spec(e)
    }
}

/// Maps an I/O error on an established connection to its [`Cause`].
pub(crate) fn io_cause(e: &io::Error) -> Cause {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Cause::TimedOut,
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Cause::Closed,
        kind => Cause::Io(kind),
    }
}

/// A memcached key is 1..=250 bytes with no space or control byte (protocol.txt, "Keys").
pub(crate) fn check_key(key: &[u8]) -> Result<(), Error> {
    if key.is_empty() || key.len() > 250 || key.iter().any(|b| *b <= b' ' || *b == 0x7f) {
        return Err(Error::InvalidKey);
    }
    Ok(())
}
