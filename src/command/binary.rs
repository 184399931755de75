//! The binary protocol's execution (placeholder until the binary dialect lands: the
//! connection is closed, as memcached does with `-B ascii` on a binary frame).

use super::{Action, Ctx, Session, Stepped};

/// Handles the binary request at the front of `input`.
pub fn step(input: &[u8], _ctx: &Ctx<'_>, _session: &mut Session, _out: &mut Vec<u8>) -> Stepped {
    Stepped::Done {
        consumed: input.len(),
        swallow: 0,
        action: Action::Close,
    }
}
