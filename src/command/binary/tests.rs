//! Property tests: random frames and bytes through `step` on a real store never panic,
//! never use more input than given, and every reply is a whole response frame.

use super::*;
use crate::clock::Clock;
use crate::protocol::binary::HEADER_LEN;
use crate::store::{Store, StoreConfig};
use proptest::prelude::*;

/// Every reply in `out` is a whole response frame.
fn well_framed(out: &[u8]) -> bool {
    let mut at = 0;
    while at < out.len() {
        if out.len() - at < HEADER_LEN || out[at] != binary::RESPONSE_MAGIC {
            return false;
        }
        let bl = u32::from_be_bytes([out[at + 8], out[at + 9], out[at + 10], out[at + 11]]);
        at += HEADER_LEN + bl as usize;
    }
    at == out.len()
}

fn run(input: &[u8], creds: bool) -> Result<(), TestCaseError> {
    let store = Store::new(
        StoreConfig {
            item_size_max: 1024,
            ..StoreConfig::default()
        },
        Clock::manual(),
    )
    .expect("store");
    crate::command::tests::with_ctx(&store, creds, 1024, |ctx, session| {
        let mut out = Output::with_capacity(0, false);
        let mut at = 0;
        let mut swallow = 0usize;
        while at < input.len() {
            if swallow > 0 {
                let n = swallow.min(input.len() - at);
                at += n;
                swallow -= n;
                continue;
            }
            match step(&input[at..], ctx, session, &mut out) {
                Stepped::NeedInput => break,
                Stepped::Done {
                    consumed,
                    swallow: s,
                    action,
                } => {
                    prop_assert!(consumed <= input.len() - at);
                    prop_assert!(consumed > 0 || s > 0 || action != Action::Continue);
                    at += consumed;
                    swallow = s;
                    if matches!(action, Action::Close | Action::Shutdown) {
                        break;
                    }
                }
            }
        }
        prop_assert!(well_framed(&out), "{out:?}");
        Ok(())
    })
}

fn frame_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![0u8..0x25, any::<u8>()],
        0usize..24,
        0usize..12,
        0usize..40,
        any::<u64>(),
    )
        .prop_map(|(op, el, kl, vl, seed)| {
            let mut v = vec![0x80, op];
            v.extend_from_slice(&(kl as u16).to_be_bytes());
            v.push(el as u8);
            v.extend_from_slice(&[0, 0, 0]);
            v.extend_from_slice(&((el + kl + vl) as u32).to_be_bytes());
            v.extend_from_slice(&[0; 4]);
            v.extend_from_slice(&(seed % 4).to_be_bytes());
            v.extend((0..el + kl + vl).map(|i| b"ak1\0\x01"[(i + seed as usize) % 5]));
            v
        })
}

proptest! {
    #[test]
    fn random_frames_never_panic_and_replies_stay_framed(
        frames in proptest::collection::vec(frame_strategy(), 1..12),
        noise in proptest::collection::vec(any::<u8>(), 0..64),
        creds in any::<bool>(),
    ) {
        let mut input: Vec<u8> = frames.concat();
        input.extend_from_slice(&noise);
        run(&input, creds)?;
    }

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        run(&input, false)?;
    }
}
