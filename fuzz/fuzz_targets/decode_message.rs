//! One message under an arbitrary decoding context. Whatever decodes must re-encode, and
//! the re-encoding must decode to the same value (what a reflector passes on is valid).
#![no_main]

use arbitrary::Arbitrary;
use bgp_core::Family;
use bgp_core::types::FamilySet;
use bgp_core::wire::{Context, Message, PeerKind};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    four_octet_as: bool,
    add_path_v4: bool,
    add_path_v6: bool,
    extended_message: bool,
    external: bool,
    message: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let mut add_path = FamilySet::EMPTY;
    if input.add_path_v4 {
        add_path.insert(Family::IPV4_UNICAST);
    }
    if input.add_path_v6 {
        add_path.insert(Family::IPV6_UNICAST);
    }
    let ctx = Context {
        four_octet_as: input.four_octet_as,
        add_path,
        extended_message: input.extended_message,
        peer: if input.external {
            PeerKind::External
        } else {
            PeerKind::Internal
        },
        mrt_rib_entry: false,
    };
    let frame = Bytes::from(input.message);
    match Message::decode(&frame, &ctx) {
        Ok(m) => {
            // Re-encoding may legitimately grow past the limit (e.g. AS4_PATH added for a
            // two-octet peer); when it fits, it must decode to the same message.
            let wide = Context {
                extended_message: true,
                ..ctx
            };
            if let Ok(again) = m.to_bytes(&wide) {
                let back = Message::decode(&again, &wide).expect("our own encoding decodes");
                if ctx.four_octet_as {
                    assert_eq!(back, m);
                }
            }
        }
        Err(e) => {
            assert!(e.notification().data.len() <= frame.len());
        }
    }
});
