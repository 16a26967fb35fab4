//! A BMP stream: messages are read until the data ends or one is damaged; what is read
//! encodes back to the same octets, and the BGP messages it carries are decoded.
#![no_main]

use bgp_core::bmp::{BmpMessage, PeerDownReason};
use bgp_core::wire::{Context, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut at = 0;
    while let Ok((m, used)) = BmpMessage::decode(&data[at..]) {
        let ctx = Context::default();
        match &m {
            BmpMessage::RouteMonitoring { update, .. } => {
                let _ = Message::decode(update, &ctx);
            }
            BmpMessage::PeerUp(up) => {
                let _ = Message::decode(&up.sent_open, &ctx);
                let _ = Message::decode(&up.received_open, &ctx);
            }
            BmpMessage::PeerDown {
                reason: PeerDownReason::LocalNotification(n) | PeerDownReason::RemoteNotification(n),
                ..
            } => {
                let _ = Message::decode(n, &ctx);
            }
            _ => {}
        }
        // Flags other than V are kept as read; V follows the address, which decoding
        // derived from it: the re-encoding is the same message.
        let again = BmpMessage::decode(&m.to_bytes()).map(|(m, _)| m);
        assert_eq!(again.as_ref(), Ok(&m));
        at += used;
    }
});
