//! The meta commands' execution (placeholder until the meta dialect lands).

use super::{Action, Ctx};
use crate::protocol::meta::MetaRequest;

/// Executes one meta request.
pub fn execute(_req: &MetaRequest<'_>, _ctx: &Ctx<'_>, out: &mut Vec<u8>) -> Action {
    out.extend_from_slice(b"ERROR\r\n");
    Action::Continue
}
