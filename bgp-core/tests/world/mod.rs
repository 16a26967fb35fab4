//! A deterministic world for tests of the router: routers and scripted sessions, each at an
//! address, joined by in-memory connections, on a virtual clock that jumps from deadline to
//! deadline.
//!
//! What one side writes is delivered at once and reported written back to it, unless the
//! test stalls that direction: then it waits in the link (neither delivered nor reported),
//! as with a peer that stopped reading, until the direction flows again.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bgp_core::router::{ConnId, Event, Input, Output, PeerSettings, Router, RouterConfig};
use bgp_core::session::{Action, Event as SessionEvent, Session, SessionConfig};
use bytes::Bytes;

/// Who is at one end of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Router(usize),
    Raw(usize),
}

/// One end of a link, with the router's name for the connection (unused for a session).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct End {
    who: Who,
    conn: ConnId,
}

#[derive(Debug)]
struct Link {
    ends: [End; 2],
    /// What each end wrote while its direction was stalled.
    waiting: [VecDeque<Bytes>; 2],
    stalled: [bool; 2],
    /// Cut: nothing gets through, not even a close.
    cut: bool,
}

pub struct Node {
    pub addr: IpAddr,
    /// Further addresses (another link's), from [`World::alias`].
    pub aliases: Vec<IpAddr>,
    pub router: Router,
    pub events: Vec<Event>,
    /// What the router reported for monitoring.
    pub monitor: Vec<bgp_core::bmp::BmpMessage>,
    pub up: bool,
}

/// A peer that is one bare session, scripted by the test, for behaviours a router of ours
/// would not show (no enhanced route refresh, a peer that never reads, bad input).
pub struct Raw {
    pub addr: IpAddr,
    /// The router it connects to.
    pub peer: IpAddr,
    pub session: Session,
    pub events: Vec<SessionEvent>,
    /// Messages received, by type (1 OPEN ... 5 ROUTE-REFRESH).
    pub received: [usize; 6],
    /// NOTIFICATIONs received, as (code, subcode).
    pub notifications: Vec<(u8, u8)>,
}

pub struct World {
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub raws: Vec<Raw>,
    links: Vec<Link>,
    /// Directions stalled, for links made later too.
    stalled: Vec<(Who, Who)>,
    next_conn: u64,
    next_port: u16,
    /// Pairs of routers between which BFD datagrams are lost.
    bfd_cut: Vec<(IpAddr, IpAddr)>,
    /// Pairs between which no connection can be made (a cable pulled).
    unplugged: Vec<(IpAddr, IpAddr)>,
    /// BFD datagrams delivered.
    pub bfd_delivered: usize,
    /// Connections whose input the driver holds, read but not handed over, as the
    /// routers' timers are told.
    pub held: Vec<ConnId>,
}

impl Default for World {
    fn default() -> World {
        World::new()
    }
}

impl World {
    pub fn new() -> World {
        World {
            now: Instant::now(),
            nodes: Vec::new(),
            raws: Vec::new(),
            links: Vec::new(),
            stalled: Vec::new(),
            next_conn: 1,
            next_port: 40000,
            bfd_cut: Vec::new(),
            unplugged: Vec::new(),
            bfd_delivered: 0,
            held: Vec::new(),
        }
    }

    /// Adds a router at `addr`; returns its index.
    pub fn add(&mut self, addr: &str, cfg: RouterConfig) -> usize {
        let (router, errors) = Router::new(cfg, self.now);
        assert!(errors.is_empty(), "{errors:?}");
        self.nodes.push(Node {
            addr: addr.parse().unwrap(),
            aliases: Vec::new(),
            router,
            events: Vec::new(),
            monitor: Vec::new(),
            up: true,
        });
        self.nodes.len() - 1
    }

    /// Gives router `n` a further address, as on a second link.
    pub fn alias(&mut self, n: usize, addr: &str) {
        self.nodes[n].aliases.push(addr.parse().unwrap());
    }

    /// The address router `n` connects from towards `to`: one of the same family and
    /// scope (link-local or not) where it has several.
    fn source_for(&self, n: usize, to: IpAddr) -> IpAddr {
        let node = &self.nodes[n];
        let link_local = |a: &IpAddr| matches!(a, IpAddr::V6(v) if v.is_unicast_link_local());
        std::iter::once(&node.addr)
            .chain(&node.aliases)
            .find(|a| a.is_ipv4() == to.is_ipv4() && link_local(a) == link_local(&to))
            .copied()
            .unwrap_or(node.addr)
    }

    /// Adds a scripted session at `addr` (it connects out unless `cfg.passive`); returns its
    /// index among the scripted sessions.
    pub fn add_raw(&mut self, addr: &str, peer: &str, cfg: SessionConfig) -> usize {
        let mut session = Session::new(cfg);
        session.start(self.now);
        self.raws.push(Raw {
            addr: addr.parse().unwrap(),
            peer: peer.parse().unwrap(),
            session,
            events: Vec::new(),
            received: [0; 6],
            notifications: Vec::new(),
        });
        self.raws.len() - 1
    }

    /// A router's restart: its connections are gone without a word, a new one starts.
    pub fn restart(&mut self, n: usize, cfg: RouterConfig) {
        self.crash(n);
        let (router, errors) = Router::new(cfg, self.now);
        assert!(errors.is_empty(), "{errors:?}");
        self.nodes[n].router = router;
        self.nodes[n].events.clear();
        self.nodes[n].up = true;
    }

    /// The router dies: its links break, and the other ends see their connections close.
    pub fn crash(&mut self, n: usize) {
        self.nodes[n].up = false;
        let me = Who::Router(n);
        while let Some(i) = self
            .links
            .iter()
            .position(|l| l.ends.iter().any(|e| e.who == me))
        {
            let l = self.links.remove(i);
            let other = if l.ends[0].who == me {
                l.ends[1]
            } else {
                l.ends[0]
            };
            self.closed(other);
        }
    }

    pub fn node(&self, addr: &str) -> usize {
        let a: IpAddr = addr.parse().unwrap();
        self.nodes
            .iter()
            .position(|n| n.addr == a || n.aliases.contains(&a))
            .unwrap()
    }

    pub fn router(&mut self, n: usize) -> &mut Router {
        &mut self.nodes[n].router
    }

    /// Calls a router with the current time (a command), then lets the world settle.
    pub fn call<T>(&mut self, n: usize, f: impl FnOnce(&mut Router, Instant) -> T) -> T {
        let now = self.now;
        let r = f(&mut self.nodes[n].router, now);
        self.drive();
        r
    }

    pub fn peers(&self, n: usize) -> Vec<bgp_core::router::PeerStatus> {
        self.nodes[n].router.peers(self.now)
    }

    fn conn_id(&mut self) -> ConnId {
        self.next_conn += 1;
        ConnId(self.next_conn)
    }

    fn input(&mut self, n: usize, i: Input) {
        if self.nodes[n].up {
            let now = self.now;
            self.nodes[n].router.handle(now, i);
        }
    }

    fn closed(&mut self, end: End) {
        match end.who {
            Who::Router(n) => self.input(n, Input::Closed { conn: end.conn }),
            Who::Raw(r) => {
                let now = self.now;
                self.raws[r].session.handle_closed(now);
            }
        }
    }

    fn deliver(&mut self, end: End, bytes: Bytes) {
        match end.who {
            Who::Router(n) => self.input(
                n,
                Input::Received {
                    conn: end.conn,
                    bytes,
                },
            ),
            Who::Raw(r) => {
                let raw = &mut self.raws[r];
                if bytes.len() >= 19 {
                    let t = usize::from(bytes[18]).min(5);
                    raw.received[t] += 1;
                    if t == 3 && bytes.len() >= 21 {
                        raw.notifications.push((bytes[19], bytes[20]));
                    }
                }
                let now = self.now;
                raw.session.handle_data(now, &bytes);
            }
        }
    }

    fn link_of(&self, who: Who, conn: Option<ConnId>) -> Option<(usize, usize)> {
        self.links.iter().enumerate().find_map(|(i, l)| {
            l.ends
                .iter()
                .position(|e| e.who == who && conn.is_none_or(|c| c == e.conn))
                .map(|side| (i, side))
        })
    }

    /// `from` writes `msgs` on link `i`.
    fn write(&mut self, i: usize, side: usize, msgs: Vec<Bytes>) {
        let l = &mut self.links[i];
        if l.cut {
            return;
        }
        if l.stalled[side] {
            l.waiting[side].extend(msgs);
            return;
        }
        let (me, to) = (l.ends[side], l.ends[1 - side]);
        let count = msgs.len();
        for m in msgs {
            self.deliver(to, m);
        }
        if let Who::Router(n) = me.who {
            self.input(
                n,
                Input::Written {
                    conn: me.conn,
                    messages: count,
                },
            );
        }
    }

    /// A connection from `from` (at `from_addr`) to the router or session at `to`.
    fn connect(&mut self, from: Who, from_conn: ConnId, from_addr: IpAddr, to: IpAddr) -> bool {
        if self
            .unplugged
            .iter()
            .any(|p| *p == (from_addr, to) || *p == (to, from_addr))
        {
            return false;
        }
        let target = if let Some(t) = self
            .nodes
            .iter()
            .position(|x| (x.addr == to || x.aliases.contains(&to)) && x.up)
        {
            Who::Router(t)
        } else if let Some(r) = self.raws.iter().position(|x| x.addr == to) {
            if self.link_of(Who::Raw(r), None).is_some() {
                return false;
            }
            Who::Raw(r)
        } else {
            return false;
        };
        let cb = self.conn_id();
        self.next_port += 1;
        let here = SocketAddr::new(from_addr, self.next_port);
        let there = SocketAddr::new(to, 179);
        self.links.push(Link {
            ends: [
                End {
                    who: from,
                    conn: from_conn,
                },
                End {
                    who: target,
                    conn: cb,
                },
            ],
            waiting: [VecDeque::new(), VecDeque::new()],
            stalled: [
                self.stalled.contains(&(from, target)),
                self.stalled.contains(&(target, from)),
            ],
            cut: false,
        });
        match target {
            Who::Router(t) => self.input(
                t,
                Input::Accepted {
                    conn: cb,
                    remote: here,
                    local: there,
                },
            ),
            Who::Raw(r) => {
                let now = self.now;
                self.raws[r].session.handle_connected(now);
            }
        }
        true
    }

    /// Carries out every router's outputs and every session's actions until all are quiet.
    pub fn drive(&mut self) {
        for _ in 0..1_000_000 {
            let mut busy = false;
            for n in 0..self.nodes.len() {
                if !self.nodes[n].up {
                    continue;
                }
                let now = self.now;
                while let Some(o) = self.nodes[n].router.poll_output(now) {
                    busy = true;
                    self.perform(n, o);
                }
            }
            for r in 0..self.raws.len() {
                while let Some(a) = self.raws[r].session.poll_action() {
                    busy = true;
                    self.perform_raw(r, a);
                }
            }
            if !busy {
                return;
            }
        }
        panic!("the world does not settle");
    }

    fn perform(&mut self, n: usize, o: Output) {
        let me = Who::Router(n);
        match o {
            Output::Connect { peer, .. } => {
                let conn = self.conn_id();
                let addr = self.source_for(n, peer);
                if self.connect(me, conn, addr, peer) {
                    let local = SocketAddr::new(addr, self.next_port);
                    self.input(n, Input::Connected { peer, conn, local });
                } else {
                    self.input(n, Input::ConnectFailed { peer });
                }
            }
            Output::Attached { .. } => {}
            Output::Transmit { conn, messages } => {
                if let Some((i, side)) = self.link_of(me, Some(conn)) {
                    self.write(i, side, messages.iter().cloned().collect());
                }
            }
            Output::Close { conn } => {
                if let Some((i, side)) = self.link_of(me, Some(conn)) {
                    // What could not be written is lost with the connection.
                    let l = self.links.remove(i);
                    if !l.cut {
                        self.closed(l.ends[1 - side]);
                    }
                }
            }
            Output::BfdTransmit {
                local,
                source_port,
                to,
                hop,
                ttl,
                bytes,
                ..
            } => {
                let cut = self
                    .bfd_cut
                    .iter()
                    .any(|p| *p == (local, to.ip()) || *p == (to.ip(), local));
                let Some(t) = self.nodes.iter().position(|x| x.addr == to.ip() && x.up) else {
                    return;
                };
                if cut {
                    return;
                }
                self.bfd_delivered += 1;
                let input = Input::Bfd {
                    from: SocketAddr::new(local, source_port),
                    to,
                    ttl,
                    hop,
                    interface: None,
                    bytes,
                };
                self.input(t, input);
            }
            Output::Event(e) => self.nodes[n].events.push(e),
            Output::Monitor(m) => self.nodes[n].monitor.push(m),
        }
    }

    fn perform_raw(&mut self, r: usize, a: Action) {
        let me = Who::Raw(r);
        match a {
            Action::Connect => {
                // A scripted session has one connection: the router may have made it first.
                if self.link_of(me, None).is_some() {
                    return;
                }
                let (addr, peer) = (self.raws[r].addr, self.raws[r].peer);
                let now = self.now;
                let ok = self.connect(me, ConnId(0), addr, peer);
                if ok {
                    self.raws[r].session.handle_connected(now);
                } else {
                    self.raws[r].session.handle_connect_failed(now);
                }
            }
            Action::Transmit(b) => {
                if let Some((i, side)) = self.link_of(me, None) {
                    self.write(i, side, vec![b]);
                }
            }
            Action::Close => {
                if let Some((i, side)) = self.link_of(me, None) {
                    let l = self.links.remove(i);
                    self.closed(l.ends[1 - side]);
                }
            }
            Action::Event(e) => self.raws[r].events.push(e),
        }
    }

    /// Moves the clock on by `d`, stopping at every deadline on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        self.drive();
        loop {
            let routers = self
                .nodes
                .iter()
                .filter(|n| n.up)
                .filter_map(|n| n.router.poll_timeout());
            let raws = self.raws.iter().filter_map(|r| r.session.poll_timeout());
            match routers.chain(raws).min() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    for n in 0..self.nodes.len() {
                        if self.nodes[n].up {
                            let held = &self.held;
                            self.nodes[n]
                                .router
                                .handle_timeout_with(now, |c| held.contains(&c));
                        }
                    }
                    for r in 0..self.raws.len() {
                        self.raws[r].session.handle_timeout(now);
                    }
                    self.drive();
                }
                _ => break,
            }
        }
        self.now = end;
        self.drive();
    }

    /// Advances in steps of 100 ms until `cond` holds; panics after `limit`.
    pub fn until(&mut self, limit: Duration, what: &str, mut cond: impl FnMut(&mut World) -> bool) {
        let end = self.now + limit;
        while !cond(self) {
            assert!(self.now < end, "not within {limit:?}: {what}");
            self.advance(Duration::from_millis(100));
        }
    }

    /// Stalls (or lets flow again) what `from` writes to `to`.
    pub fn stall(&mut self, from: Who, to: Who, stalled: bool) {
        self.stall_all(&[(from, to)], stalled);
    }

    /// [`World::stall`] for several directions at once: released together, none of them
    /// drains before the others flow.
    pub fn stall_all(&mut self, pairs: &[(Who, Who)], stalled: bool) {
        let mut flowing = Vec::new();
        for &(from, to) in pairs {
            self.stalled.retain(|p| *p != (from, to));
            if stalled {
                self.stalled.push((from, to));
            }
            for (i, l) in self.links.iter_mut().enumerate() {
                for side in 0..2 {
                    if l.ends[side].who == from && l.ends[1 - side].who == to {
                        l.stalled[side] = stalled;
                        if !stalled {
                            flowing.push((i, side));
                        }
                    }
                }
            }
        }
        for (i, side) in flowing {
            let msgs: Vec<Bytes> = self.links[i].waiting[side].drain(..).collect();
            if !msgs.is_empty() {
                self.write(i, side, msgs);
            }
        }
        self.drive();
    }

    /// Cuts every link between two routers without a word (a cable pulled): neither side
    /// hears of it but by its hold timer.
    pub fn cut(&mut self, a: Who, b: Who) {
        if let (Who::Router(x), Who::Router(y)) = (a, b) {
            self.bfd_cut.push((self.nodes[x].addr, self.nodes[y].addr));
        }
        for l in &mut self.links {
            let ends = [l.ends[0].who, l.ends[1].who];
            if ends == [a, b] || ends == [b, a] {
                l.cut = true;
            }
        }
    }

    /// The cable between two routers is pulled (or put back): their connections are cut
    /// without a word, no new one can be made, and BFD datagrams are lost.
    pub fn unplug(&mut self, a: usize, b: usize, unplugged: bool) {
        let pair = (self.nodes[a].addr, self.nodes[b].addr);
        self.unplugged
            .retain(|p| *p != pair && *p != (pair.1, pair.0));
        if unplugged {
            self.unplugged.push(pair);
            self.cut(Who::Router(a), Who::Router(b));
        }
        self.cut_bfd(a, b, unplugged);
    }

    /// Drops (or lets through again) the BFD datagrams between two routers, leaving their
    /// TCP connections alone.
    pub fn cut_bfd(&mut self, a: usize, b: usize, cut: bool) {
        let pair = (self.nodes[a].addr, self.nodes[b].addr);
        self.bfd_cut
            .retain(|p| *p != pair && *p != (pair.1, pair.0));
        if cut {
            self.bfd_cut.push(pair);
        }
    }

    /// Lets the first `n` messages waiting from `from` to `to` through (the direction stays
    /// stalled).
    pub fn release(&mut self, from: Who, to: Who, n: usize) {
        let mut at = None;
        for (i, l) in self.links.iter().enumerate() {
            for side in 0..2 {
                if l.ends[side].who == from && l.ends[1 - side].who == to {
                    at = Some((i, side));
                }
            }
        }
        let Some((i, side)) = at else { return };
        let k = n.min(self.links[i].waiting[side].len());
        let msgs: Vec<Bytes> = self.links[i].waiting[side].drain(..k).collect();
        let (me, other) = (self.links[i].ends[side], self.links[i].ends[1 - side]);
        for m in msgs {
            self.deliver(other, m);
        }
        if let Who::Router(r) = me.who {
            self.input(
                r,
                Input::Written {
                    conn: me.conn,
                    messages: k,
                },
            );
        }
        self.drive();
    }

    /// The connections of router `n` (its ends of the links).
    pub fn conns(&self, n: usize) -> Vec<ConnId> {
        self.links
            .iter()
            .flat_map(|l| l.ends.iter())
            .filter(|e| e.who == Who::Router(n))
            .map(|e| e.conn)
            .collect()
    }

    /// Messages waiting in stalled links from `from` to `to`.
    pub fn waiting(&self, from: Who, to: Who) -> usize {
        self.links
            .iter()
            .flat_map(|l| {
                (0..2)
                    .filter(move |s| l.ends[*s].who == from && l.ends[1 - *s].who == to)
                    .map(move |s| l.waiting[s].len())
            })
            .sum()
    }

    /// Sends raw bytes from a scripted session, past its state machine (bad input).
    pub fn raw_send(&mut self, r: usize, bytes: &[u8]) {
        if let Some((i, side)) = self.link_of(Who::Raw(r), None) {
            self.write(i, side, vec![Bytes::copy_from_slice(bytes)]);
        }
        self.drive();
    }

    /// Prefixes with a best route learned from a peer at router `n`.
    pub fn learned(&self, n: usize) -> usize {
        self.nodes[n]
            .router
            .best_routes()
            .iter()
            .filter(|r| r.from.is_some())
            .count()
    }

    pub fn established(&self, n: usize) -> usize {
        self.nodes[n].router.summary().established
    }

    pub fn count_events(&self, n: usize, f: impl Fn(&Event) -> bool) -> usize {
        self.nodes[n].events.iter().filter(|e| f(e)).count()
    }
}

/// A configuration with a peer at each address.
pub fn config(asn: u32, id: &str, peers: &[(&str, u32)]) -> RouterConfig {
    let mut c = RouterConfig::new(asn, id.parse().unwrap());
    for (addr, peer_as) in peers {
        c.peers.push(peer(addr, *peer_as));
    }
    c
}

/// A peer with short timers: hold 9 s, connect retry 1 s.
pub fn peer(addr: &str, asn: u32) -> PeerSettings {
    let mut p = PeerSettings::new(addr.parse().unwrap(), asn);
    p.hold_time = 9;
    p.connect_retry = Some(1);
    p
}

/// `count` /24s from 10.n.0.0.
pub fn prefixes(n: u8, count: u32) -> Vec<ipnet::IpNet> {
    (0..count)
        .map(|i| {
            let a = u32::from(std::net::Ipv4Addr::new(10, n, 0, 0)) + (i << 8);
            ipnet::IpNet::V4(ipnet::Ipv4Net::new(a.into(), 24).unwrap())
        })
        .collect()
}
