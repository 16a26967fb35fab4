//! A whole speaker driven by arbitrary inputs: connections accepted and made, bytes read
//! (raw, or framed as UPDATEs so that the attribute and NLRI decoders are reached often),
//! writes reported, closes, time passing, BFD datagrams and operator commands, against a
//! router with an iBGP reflector client (ADD-PATH, graceful restart, soft reconfiguration),
//! an eBGP peer with an import policy, damping and a prefix limit, and a dynamic range.
//!
//! Checked: no panic; every message the router hands out is framed (marker, length, type)
//! and its getters and table dump work at every step; a connection is never written to
//! after the router closed it; the router asks to be woken no earlier than it was called.
#![no_main]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bgp_core::bfd::Hop;
use bgp_core::policy::{Match, Policy, PrefixRange, Term, Verdict};
use bgp_core::rib::{DampingConfig, PathSelection};
use bgp_core::router::{
    AddPath, Announcement, ConnId, DynamicPeers, Input, MaxPrefixes, Output, PeerSettings, Router,
    RouterConfig,
};
use bgp_core::session::{PeerAs, SessionConfig};
use bgp_core::types::Family;
use bgp_core::wire::{AddPathMode, Context, Message};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const EXTERNAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);

#[derive(Arbitrary, Debug)]
enum Op {
    /// A connection from a peer (0 client, 1 external, 2.. the range, 255 a stranger).
    Accept {
        who: u8,
    },
    /// The connection the router asked for is up, or failed.
    Connected {
        who: u8,
        ok: bool,
    },
    /// A valid OPEN (of a few kinds) and a KEEPALIVE on a connection.
    Handshake {
        conn: u8,
        kind: u8,
    },
    /// Bytes as read.
    Raw {
        conn: u8,
        bytes: Vec<u8>,
    },
    /// An UPDATE with this body (header made right).
    Update {
        conn: u8,
        body: Vec<u8>,
    },
    /// Any message type with this body.
    Message {
        conn: u8,
        kind: u8,
        body: Vec<u8>,
    },
    Written {
        conn: u8,
        messages: u16,
    },
    Closed {
        conn: u8,
    },
    Advance {
        millis: u16,
    },
    Bfd {
        who: u8,
        multi: bool,
        bytes: Vec<u8>,
    },
    Announce {
        prefix: u16,
        med: Option<u32>,
    },
    Withdraw {
        prefix: u16,
    },
    Refresh {
        who: u8,
    },
    Reset {
        who: u8,
    },
    /// The client's settings changed in place (route-reflector client on or off).
    Toggle,
    Remove {
        who: u8,
    },
    Readd {
        who: u8,
    },
    Shutdown,
}

fn peer_addr(who: u8) -> IpAddr {
    match who % 5 {
        0 => CLIENT.into(),
        1 => EXTERNAL.into(),
        4 if who == 255 => Ipv4Addr::new(192, 0, 2, 9).into(),
        n => Ipv4Addr::new(10, 1, 0, n).into(),
    }
}

fn policy() -> Arc<Policy> {
    Arc::new(Policy {
        name: "no-10".into(),
        terms: vec![Term {
            name: "drop".into(),
            matches: vec![Match::Prefix(vec![PrefixRange::exact(
                "10.0.0.0/8".parse().unwrap(),
            )])],
            actions: Vec::new(),
            verdict: Some(Verdict::Reject),
        }],
        default: Verdict::Accept,
    })
}

fn client() -> PeerSettings {
    let mut p = PeerSettings::new(CLIENT.into(), 65000);
    p.rr_client = true;
    p.graceful_restart = Some(120);
    p.long_lived_stale_time = Some(600);
    p.soft_reconfig_inbound = true;
    p.add_path = AddPath {
        receive: true,
        send: Some(PathSelection::All),
    };
    p
}

fn external() -> PeerSettings {
    let mut p = PeerSettings::new(EXTERNAL.into(), 65001);
    p.import = Some(policy());
    p.export = Some(policy());
    p.damping = Some(DampingConfig::default());
    p.max_prefixes = vec![MaxPrefixes {
        limit: 1000,
        family: None,
        warn_only: false,
        restart_after: Some(1),
    }];
    p.passive = true;
    p
}

fn router(now: Instant) -> Router {
    let mut cfg = RouterConfig::new(65000, LOCAL);
    cfg.cluster_id = Some(LOCAL);
    cfg.peer_queue_depth = 16;
    cfg.peers = vec![client(), external()];
    let mut template = PeerSettings::new(Ipv4Addr::UNSPECIFIED.into(), 65000);
    template.rr_client = true;
    template.passive = true;
    cfg.dynamic_peers = vec![DynamicPeers {
        range: "10.1.0.0/24".parse().unwrap(),
        template,
        max: 2,
    }];
    let (r, errors) = Router::new(cfg, now);
    assert!(errors.is_empty(), "{errors:?}");
    r
}

/// The OPEN a peer sends: plain, with every capability we know, or without four-octet ASes.
fn open(who: IpAddr, kind: u8) -> Bytes {
    let asn = if who == IpAddr::from(EXTERNAL) {
        65001
    } else {
        65000
    };
    let IpAddr::V4(id) = who else { unreachable!() };
    let mut c = SessionConfig::new(asn, id, PeerAs::Is(65000));
    match kind % 3 {
        0 => {}
        1 => {
            c.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
            c.enhanced_route_refresh = true;
            c.add_path = vec![(Family::IPV4_UNICAST, AddPathMode::Both)];
            c.extended_message = true;
            c.long_lived_stale_time = Some(60);
            c.graceful_restart = Some(bgp_core::session::GracefulRestartConfig {
                restart_time: 90,
                restarting: kind & 0x80 != 0,
                forwarding_preserved: vec![Family::IPV4_UNICAST],
                notification: true,
            });
        }
        _ => c.route_refresh = false,
    }
    Message::Open(c.open())
        .to_bytes(&Context::default())
        .unwrap()
}

fn framed(kind: u8, body: &[u8]) -> Bytes {
    let len = (19 + body.len()).min(u16::MAX as usize);
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&(len as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(&body[..len - 19]);
    m.into()
}

struct Driver {
    now: Instant,
    router: Router,
    /// Connections the router knows, by our numbering, with the peer's address.
    conns: Vec<(ConnId, IpAddr)>,
    closed: HashSet<ConnId>,
    next: u64,
    /// Messages handed out and not reported written, per connection.
    unwritten: Vec<(ConnId, usize)>,
}

impl Driver {
    fn conn(&self, n: u8) -> Option<(ConnId, IpAddr)> {
        (!self.conns.is_empty()).then(|| self.conns[n as usize % self.conns.len()])
    }

    fn new_conn(&mut self, peer: IpAddr) -> ConnId {
        self.next += 1;
        let c = ConnId(self.next);
        self.conns.push((c, peer));
        c
    }

    fn drain(&mut self) {
        while let Some(o) = self.router.poll_output(self.now) {
            match o {
                Output::Transmit { conn, messages } => {
                    assert!(!self.closed.contains(&conn), "written to after its close");
                    for m in messages.iter() {
                        assert!(m.len() >= 19 && m[..16].iter().all(|b| *b == 0xff));
                        assert_eq!(u16::from_be_bytes([m[16], m[17]]) as usize, m.len());
                        assert!((1..=5).contains(&m[18]), "message type {}", m[18]);
                    }
                    match self.unwritten.iter_mut().find(|(c, _)| *c == conn) {
                        Some((_, n)) => *n += messages.len(),
                        None => self.unwritten.push((conn, messages.len())),
                    }
                }
                Output::Close { conn } => {
                    self.closed.insert(conn);
                    self.conns.retain(|(c, _)| *c != conn);
                    self.unwritten.retain(|(c, _)| *c != conn);
                }
                Output::Connect { .. }
                | Output::Attached { .. }
                | Output::BfdTransmit { .. }
                | Output::Event(_)
                | Output::Monitor(_) => {}
            }
        }
        let _ = (self.router.summary(), self.router.peers(self.now));
        let _ = (self.router.best_count(), self.router.backlog());
        if let Some(t) = self.router.poll_timeout() {
            // A deadline in the past would make its owner spin.
            assert!(t + Duration::from_secs(1) >= self.now, "woken in the past");
        }
    }

    fn received(&mut self, conn: u8, bytes: Bytes) {
        if let Some((conn, _)) = self.conn(conn) {
            self.router
                .handle(self.now, Input::Received { conn, bytes });
        }
    }

    fn step(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Accept { who } => {
                let remote = SocketAddr::new(peer_addr(who), 40000 + who as u16);
                let conn = self.new_conn(remote.ip());
                let local = SocketAddr::new(LOCAL.into(), 179);
                self.router.handle(
                    now,
                    Input::Accepted {
                        conn,
                        remote,
                        local,
                    },
                );
            }
            Op::Connected { who, ok } => {
                let peer = peer_addr(who);
                if ok {
                    let conn = self.new_conn(peer);
                    let local = SocketAddr::new(LOCAL.into(), 50000);
                    self.router
                        .handle(now, Input::Connected { peer, conn, local });
                } else {
                    self.router.handle(now, Input::ConnectFailed { peer });
                }
            }
            Op::Handshake { conn, kind } => {
                if let Some((_, peer)) = self.conn(conn)
                    && peer.is_ipv4()
                {
                    self.received(conn, open(peer, kind));
                    self.received(conn, framed(4, &[]));
                }
            }
            Op::Raw { conn, bytes } => self.received(conn, bytes.into()),
            Op::Update { conn, body } => self.received(conn, framed(2, &body)),
            Op::Message { conn, kind, body } => self.received(conn, framed(kind, &body)),
            Op::Written { conn, messages } => {
                if let Some((c, _)) = self.conn(conn)
                    && let Some((_, n)) = self.unwritten.iter_mut().find(|(x, _)| *x == c)
                {
                    let k = (messages as usize).min(*n);
                    *n -= k;
                    self.router.handle(
                        now,
                        Input::Written {
                            conn: c,
                            messages: k,
                        },
                    );
                }
            }
            Op::Closed { conn } => {
                if let Some((c, _)) = self.conn(conn) {
                    self.conns.retain(|(x, _)| *x != c);
                    self.unwritten.retain(|(x, _)| *x != c);
                    self.router.handle(now, Input::Closed { conn: c });
                }
            }
            Op::Advance { millis } => {
                self.now += Duration::from_millis(millis as u64) * 16;
                self.router.handle_timeout(self.now);
            }
            Op::Bfd { who, multi, bytes } => {
                let port = if multi { 4784 } else { 3784 };
                self.router.handle(
                    now,
                    Input::Bfd {
                        from: SocketAddr::new(peer_addr(who), 49152),
                        to: SocketAddr::new(LOCAL.into(), port),
                        ttl: 255,
                        hop: if multi { Hop::Multi } else { Hop::Single },
                        interface: None,
                        bytes: bytes.into(),
                    },
                );
            }
            Op::Announce { prefix, med } => {
                let p = format!("172.{}.{}.0/24", 16 + (prefix >> 8) % 16, prefix & 0xff);
                let a = Announcement {
                    next_hop: None,
                    local_pref: Some(100),
                    med,
                    communities: Vec::new(),
                    large_communities: Vec::new(),
                };
                let _ = self.router.announce(p.parse().unwrap(), &a);
            }
            Op::Withdraw { prefix } => {
                let p = format!("172.{}.{}.0/24", 16 + (prefix >> 8) % 16, prefix & 0xff);
                self.router.withdraw(p.parse().unwrap());
            }
            Op::Refresh { who } => drop(self.router.refresh(now, peer_addr(who))),
            Op::Reset { who } => drop(self.router.reset_peer(now, peer_addr(who), "fuzz")),
            Op::Toggle => {
                let mut p = client();
                let on = self
                    .router
                    .peer_settings(CLIENT.into())
                    .is_some_and(|s| s.rr_client);
                p.rr_client = !on;
                let _ = self.router.update_peer(now, p);
            }
            Op::Remove { who } => drop(self.router.remove_peer(now, peer_addr(who))),
            Op::Readd { who } => {
                let p = if who % 2 == 0 { client() } else { external() };
                let _ = self.router.add_peer(now, p);
            }
            Op::Shutdown => self.router.shutdown(now, "fuzz"),
        }
        self.drain();
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let now = Instant::now();
    let mut d = Driver {
        now,
        router: router(now),
        conns: Vec::new(),
        closed: HashSet::new(),
        next: 0,
        unwritten: Vec::new(),
    };
    d.drain();
    for op in ops.into_iter().take(256) {
        d.step(op);
    }
    let _ = d.router.table_dump(d.now, 0);
    let _ = d.router.best_routes();
});
