//! A driver behind on its input: the peer's KEEPALIVEs are read but not yet handed to the
//! router. The delay is ours, and must not end the session by hold timer.

mod world;

use std::time::Duration;

use world::{Who, World, config};

const SEC: Duration = Duration::from_secs(1);

/// How A learns that its driver holds B's input.
#[derive(PartialEq)]
enum Told {
    Not,
    /// `input_pending` before each timer round.
    Called,
    /// `handle_timeout_with` asks.
    Asked,
}

/// Two routers with a hold time of 9 s, then what B writes to A held back for 15 s (in
/// A's driver, as far as A knows), told to A as pending input or not.
fn held_back(told: Told) -> (World, usize) {
    let mut w = World::new();
    let mut ca = config(65000, "10.0.0.1", &[("10.0.0.2", 65000)]);
    ca.peers[0].hold_time = 9;
    let a = w.add("10.0.0.1", ca);
    let b = w.add(
        "10.0.0.2",
        config(65000, "10.0.0.2", &[("10.0.0.1", 65000)]),
    );
    w.until(5 * SEC, "the session", |w| w.established(a) == 1);
    w.stall(Who::Router(b), Who::Router(a), true);
    if told == Told::Asked {
        w.held = w.conns(a);
    }
    for _ in 0..150 {
        if told == Told::Called {
            for c in w.conns(a) {
                w.call(a, |r, now| r.input_pending(now, c));
            }
        }
        w.advance(Duration::from_millis(100));
    }
    w.stall(Who::Router(b), Who::Router(a), false);
    w.held.clear();
    w.advance(SEC);
    (w, a)
}

/// A's session outlived the 15 s of held input without a restart.
fn assert_kept_up(told: Told) {
    let (w, a) = held_back(told);
    let p = &w.peers(a)[0];
    assert!(p.established, "{p:?}");
    assert_eq!(p.established_count, 1, "{p:?}");
}

#[test]
fn input_read_but_not_yet_handled_keeps_the_hold_timer_from_firing() {
    assert_kept_up(Told::Called);
}

#[test]
fn timers_that_ask_about_held_input_keep_the_hold_timer_from_firing() {
    assert_kept_up(Told::Asked);
}

#[test]
fn without_pending_input_the_hold_timer_still_fires() {
    let (w, a) = held_back(Told::Not);
    let p = &w.peers(a)[0];
    assert!(
        p.established_count >= 2 || !p.established,
        "the silent peer outlived its hold time: {p:?}"
    );
}
