//! Arbitrary bytes into an Established session: no panic, and whatever the session sends
//! back is a well-formed message.
#![no_main]

use std::net::Ipv4Addr;
use std::time::Instant;

use bgp_core::session::{Action, PeerAs, Session, SessionConfig, State};
use bgp_core::wire::{Context, Message};
use libfuzzer_sys::fuzz_target;

fn established() -> Session {
    let now = Instant::now();
    let mut s = Session::new(SessionConfig::new(
        65000,
        Ipv4Addr::new(10, 0, 0, 1),
        PeerAs::Is(65000),
    ));
    s.start(now);
    s.handle_connected(now);
    let peer = SessionConfig::new(65000, Ipv4Addr::new(10, 0, 0, 2), PeerAs::Is(65000));
    let ctx = Context::default();
    s.handle_data(now, &Message::Open(peer.open()).to_bytes(&ctx).unwrap());
    s.handle_data(now, &Message::Keepalive.to_bytes(&ctx).unwrap());
    assert_eq!(s.state(), State::Established);
    while s.poll_action().is_some() {}
    s
}

fuzz_target!(|chunks: Vec<Vec<u8>>| {
    let now = Instant::now();
    let mut s = established();
    for c in &chunks {
        s.handle_data(now, c);
        while let Some(a) = s.poll_action() {
            if let Action::Transmit(b) = a {
                Message::decode(&b, &Context::default()).expect("what we send decodes");
            }
        }
    }
});
