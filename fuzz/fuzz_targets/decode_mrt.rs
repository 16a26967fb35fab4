//! An MRT capture: records are read until the data ends or a record is damaged; every BGP
//! message in it is decoded with the session tracker.
#![no_main]

use bgp_core::mrt::{MrtReader, RecordBody, SessionTracker, rib_context};
use bgp_core::wire::PathAttributes;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut sessions = SessionTracker::new();
    for rec in MrtReader::new(Bytes::copy_from_slice(data)).take(10_000) {
        match rec.map(|r| r.body) {
            Ok(RecordBody::Bgp4mpMessage(m)) => {
                let _ = sessions.decode(&m);
            }
            Ok(RecordBody::Rib(r)) => {
                for e in &r.entries {
                    let _ = PathAttributes::decode_block(&e.attributes, &rib_context());
                }
            }
            _ => {}
        }
    }
});
