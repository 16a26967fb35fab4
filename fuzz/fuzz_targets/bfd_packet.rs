//! A BFD Control packet from arbitrary bytes. Whatever decodes must re-encode to bytes that
//! decode to the same packet, and a packet never claims more octets than were received.
#![no_main]

use bgp_core::bfd::ControlPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = ControlPacket::decode(data) {
        assert!(p.encoded_len() <= data.len());
        let again = p.to_bytes();
        assert_eq!(again.len(), p.encoded_len());
        assert_eq!(ControlPacket::decode(&again), Ok(p));
    }
});
