//! A path attribute block alone, as MRT RIB entries hold it; decoded blocks re-encode to
//! blocks that decode to the same attributes.
#![no_main]

use bgp_core::wire::{Context, PathAttributes};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, bool, Vec<u8>)| {
    let (four, mrt, data) = input;
    let ctx = Context {
        four_octet_as: four,
        mrt_rib_entry: mrt,
        extended_message: true,
        ..Context::default()
    };
    let block = Bytes::from(data);
    if let Ok((attrs, _errors)) = PathAttributes::decode_block(&block, &ctx)
        && let Ok(again) = attrs.to_block(&ctx)
    {
        let (back, errors) = PathAttributes::decode_block(&again, &ctx).expect("re-decodes");
        if four && errors.is_empty() {
            assert_eq!(back, attrs);
        }
    }
});
