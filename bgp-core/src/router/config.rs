//! What a [`Router`](super::Router) is made of: plain values, deserializable (with the `serde`
//! feature) so that a config file maps onto them.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::policy::PolicyRef;
use crate::rib::{DampingConfig, PathSelection};

#[cfg(feature = "serde")]
use serde::Deserialize;

/// A TCP-MD5 password. Never printed: `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Deserialize), serde(transparent))]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The longest TCP-MD5 key the kernel takes (`TCP_MD5SIG_MAXKEYLEN`).
pub const MAX_PASSWORD_LEN: usize = 80;

/// The well-known BGP port.
pub const BGP_PORT: u16 = 179;

/// The speaker as a whole: identity, reflection, its peers, and how it restarts.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(Deserialize), serde(deny_unknown_fields))]
pub struct RouterConfig {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// Reflect routes (RFC 4456) with this cluster ID.
    #[cfg_attr(feature = "serde", serde(default))]
    pub cluster_id: Option<Ipv4Addr>,
    /// Reflect between clients.
    #[cfg_attr(feature = "serde", serde(default = "yes"))]
    pub client_to_client: bool,
    /// Accept and send eBGP routes without a policy (off: RFC 8212).
    #[cfg_attr(feature = "serde", serde(default))]
    pub ebgp_without_policy: bool,
    /// ECMP paths per prefix.
    #[cfg_attr(feature = "serde", serde(default = "one"))]
    pub max_paths: usize,
    #[cfg_attr(feature = "serde", serde(default))]
    pub peers: Vec<PeerSettings>,
    /// Messages a peer may still have queued (not yet written) when the next flush comes;
    /// past that it is re-synchronized from the RIB once drained. Queued messages share
    /// their bytes with every other member of the update group: an entry costs a handle,
    /// not a copy.
    #[cfg_attr(feature = "serde", serde(default = "queue_depth"))]
    pub peer_queue_depth: usize,
    /// Peers accepted from address ranges without being listed.
    #[cfg_attr(feature = "serde", serde(default))]
    pub dynamic_peers: Vec<DynamicPeers>,
    /// After a start, how long to wait at most for every peer's End-of-RIB before the
    /// routes are declared settled (seconds): the kernel table is reconciled then.
    #[cfg_attr(feature = "serde", serde(default = "fib_sync_timeout"))]
    pub fib_sync_timeout: u64,
    /// This start is a graceful restart (RFC 4724): OPENs carry the Restart State bit, and
    /// nothing is sent to peers until every configured peer has sent End-of-RIB or
    /// `selection_deferral` seconds passed, so that peers holding our routes as stale get
    /// a complete table instead of a partial one followed by withdrawals.
    #[cfg_attr(feature = "serde", serde(default))]
    pub restarting: bool,
    #[cfg_attr(feature = "serde", serde(default = "selection_deferral"))]
    pub selection_deferral: u64,
    /// With `restarting`: the peers that were up with graceful restart before it (listed
    /// or from ranges), when known; they are the ones keeping our routes, and the deferral
    /// waits for their End-of-RIB only. `None`: not known; the deferral waits for every
    /// listed peer with graceful restart configured.
    #[cfg_attr(feature = "serde", serde(default))]
    pub expected_peers: Option<Vec<IpAddr>>,
    /// Minimum interval between two UPDATE flushes of one update group (MRAI, RFC 4271
    /// 9.2.1.1); zero: as soon as the inputs at hand are decided.
    #[cfg_attr(feature = "serde", serde(default))]
    pub min_route_interval: Duration,
    /// Seeds the BFD endpoint's discriminators, source ports and jitter (a driver draws it
    /// from the OS; the same seed gives the same run).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub bfd_seed: u64,
}

#[cfg(feature = "serde")]
fn yes() -> bool {
    true
}

#[cfg(feature = "serde")]
fn one() -> usize {
    1
}

fn queue_depth() -> usize {
    4096
}

fn selection_deferral() -> u64 {
    60
}

fn fib_sync_timeout() -> u64 {
    120
}

#[cfg(feature = "serde")]
fn bgp_port() -> u16 {
    BGP_PORT
}

fn hold_time() -> u16 {
    90
}

#[cfg(feature = "serde")]
fn dynamic_max() -> usize {
    1000
}

impl RouterConfig {
    pub fn new(asn: u32, router_id: Ipv4Addr) -> RouterConfig {
        RouterConfig {
            asn,
            router_id,
            cluster_id: None,
            client_to_client: true,
            ebgp_without_policy: false,
            max_paths: 1,
            peers: Vec::new(),
            peer_queue_depth: queue_depth(),
            dynamic_peers: Vec::new(),
            fib_sync_timeout: fib_sync_timeout(),
            restarting: false,
            selection_deferral: selection_deferral(),
            expected_peers: None,
            min_route_interval: Duration::ZERO,
            bfd_seed: 0,
        }
    }
}

/// Peers accepted from an address range: each connection from the range becomes a passive
/// peer made from `template` (its address replaced), removed when its session ends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Deserialize), serde(deny_unknown_fields))]
pub struct DynamicPeers {
    pub range: ipnet::IpNet,
    pub template: PeerSettings,
    /// At most this many at once; further connections are refused.
    #[cfg_attr(feature = "serde", serde(default = "dynamic_max"))]
    pub max: usize,
}

/// One configured peer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Deserialize), serde(deny_unknown_fields))]
pub struct PeerSettings {
    pub address: IpAddr,
    #[cfg_attr(feature = "serde", serde(default = "bgp_port"))]
    pub port: u16,
    pub asn: u32,
    /// Our address on the session: the source of outgoing connections and the next hop
    /// with next-hop-self.
    #[cfg_attr(feature = "serde", serde(default))]
    pub local_address: Option<IpAddr>,
    /// Never connect out; wait for the peer.
    #[cfg_attr(feature = "serde", serde(default))]
    pub passive: bool,
    #[cfg_attr(feature = "serde", serde(default))]
    pub rr_client: bool,
    #[cfg_attr(feature = "serde", serde(default = "hold_time"))]
    pub hold_time: u16,
    /// Seconds between KEEPALIVEs; none: a third of the negotiated hold time.
    #[cfg_attr(feature = "serde", serde(default))]
    pub keepalive: Option<u16>,
    /// First connect-retry interval in seconds (doubles up to two minutes).
    #[cfg_attr(feature = "serde", serde(default))]
    pub connect_retry: Option<u64>,
    /// Seconds before the first outgoing connection (connections from the peer are
    /// accepted meanwhile); none: at once.
    #[cfg_attr(feature = "serde", serde(default))]
    pub connect_delay: Option<u64>,
    /// After a session error, the wait before starting again: `min` seconds, doubled per
    /// consecutive error up to `max` (default 1 to 120).
    #[cfg_attr(feature = "serde", serde(default))]
    pub error_wait: Option<ErrorWait>,
    /// The next hop of the routes sent to the peer.
    #[cfg_attr(feature = "serde", serde(default))]
    pub next_hop: NextHopSetting,
    /// Import policy; none: accept on iBGP, on eBGP reject unless the speaker allows eBGP
    /// without policy (RFC 8212). Built by the caller (policies are values, not config
    /// text).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub import: Option<PolicyRef>,
    /// Export policy; none as for `import`.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub export: Option<PolicyRef>,
    /// Keep the peer's routes before import policy, so that a changed import policy is
    /// re-applied without asking the peer (costs the memory of those routes).
    #[cfg_attr(feature = "serde", serde(default))]
    pub soft_reconfig_inbound: bool,
    /// Announce the extended next hop capability (RFC 8950) for IPv4 unicast: over an
    /// IPv6 session, IPv4 routes then go with an IPv6 next hop.
    #[cfg_attr(feature = "serde", serde(default))]
    pub extended_next_hop: bool,
    /// Route-flap damping (RFC 2439) of the routes of an external peer; none: off.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub damping: Option<DampingConfig>,
    /// ADD-PATH (RFC 7911) for the session's unicast families.
    #[cfg_attr(feature = "serde", serde(default))]
    pub add_path: AddPath,
    /// Graceful restart time announced to the peer (seconds); none: off.
    #[cfg_attr(feature = "serde", serde(default))]
    pub graceful_restart: Option<u16>,
    /// Long-lived graceful restart (RFC 9494): the stale time announced, in seconds (at
    /// most 16,777,215), and the longest we keep the peer's routes after its restart time.
    /// Announced with graceful restart, whose time may then be 0.
    #[cfg_attr(feature = "serde", serde(default))]
    pub long_lived_stale_time: Option<u32>,
    /// TCP-MD5 signatures (RFC 2385) with this password.
    #[cfg_attr(feature = "serde", serde(default))]
    pub password: Option<Password>,
    /// GTSM (RFC 5082): the peer is this many hops away; we send with TTL 255 and accept
    /// only what arrives with TTL of at least 256 minus the hops.
    #[cfg_attr(feature = "serde", serde(default))]
    pub ttl_security: Option<u8>,
    /// The TTL of what we send (eBGP multihop), when not using GTSM.
    #[cfg_attr(feature = "serde", serde(default))]
    pub ttl: Option<u8>,
    /// The interface the peer is on: the scope of a link-local `address` (RFC 4007), and
    /// the device of the session's link-local next hops in the kernel. With `address`
    /// `::`, the speaker finds the peer on the interface (unnumbered: the first router
    /// advertising there, or the first link-local address connecting from there).
    #[cfg_attr(feature = "serde", serde(default))]
    pub interface: Option<String>,
    /// Passive on whichever side has the higher address (with `local_address`), so that
    /// two nodes configured alike never race to connect.
    #[cfg_attr(feature = "serde", serde(default))]
    pub passive_auto: bool,
    /// Our AS on this session instead of the speaker's (a local AS override).
    #[cfg_attr(feature = "serde", serde(default))]
    pub local_as: Option<u32>,
    /// How many times our AS may appear in a received path (allowas-in).
    #[cfg_attr(feature = "serde", serde(default))]
    pub allow_own_as: u8,
    /// Limits on the routes accepted from the peer: over all families or per family.
    #[cfg_attr(feature = "serde", serde(default))]
    pub max_prefixes: Vec<MaxPrefixes>,
    /// BFD (RFC 5880) on the path to the peer; none: off.
    #[cfg_attr(feature = "serde", serde(default))]
    pub bfd: Option<BfdSettings>,
}

/// BFD on a peer's path: its session's intervals, whether it is single-hop (RFC 5881) or
/// multihop (RFC 5883), and what its failure does to the BGP session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Deserialize), serde(deny_unknown_fields))]
pub struct BfdSettings {
    /// The slowest rate we want the peer's packets at (Required Min RX), in milliseconds in
    /// a file.
    #[cfg_attr(
        feature = "serde",
        serde(default = "bfd_interval", deserialize_with = "millis")
    )]
    pub min_rx: Duration,
    /// How often we would like to send (Desired Min TX).
    #[cfg_attr(
        feature = "serde",
        serde(default = "bfd_interval", deserialize_with = "millis")
    )]
    pub min_tx: Duration,
    /// Missed packets before the session goes down (Detect Mult).
    #[cfg_attr(feature = "serde", serde(default = "bfd_multiplier"))]
    pub multiplier: u8,
    /// Multihop (port 4784) or single hop (3784, TTL 255 both ways); none: multihop when
    /// the peer is more than one hop away by its `ttl` (eBGP multihop) or `ttl_security`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub multihop: Option<bool>,
    /// The BGP session starts only once BFD is Up, and waits again after a BFD failure
    /// (needs `local_address`: the session is made before any connection).
    #[cfg_attr(feature = "serde", serde(default))]
    pub wait_for_up: bool,
    /// A BFD failure is taken for a restart of the peer, as a TCP failure is: with
    /// graceful restart negotiated its routes are kept stale (BIRD's `bfd graceful`). Off:
    /// the routes go at once, graceful restart or not.
    #[cfg_attr(feature = "serde", serde(default))]
    pub graceful: bool,
}

fn bfd_interval() -> Duration {
    Duration::from_millis(300)
}

fn bfd_multiplier() -> u8 {
    3
}

#[cfg(feature = "serde")]
fn millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

impl Default for BfdSettings {
    /// 300 ms both ways, multiplier 3 (a failure seen within 900 ms), hop kind from the
    /// peer's TTL settings, no wait.
    fn default() -> BfdSettings {
        BfdSettings {
            min_rx: bfd_interval(),
            min_tx: bfd_interval(),
            multiplier: bfd_multiplier(),
            multihop: None,
            wait_for_up: false,
            graceful: false,
        }
    }
}

impl BfdSettings {
    pub fn validate(&self) -> Result<(), &'static str> {
        let ms = Duration::from_millis(1);
        let max = Duration::from_secs(60);
        if self.multiplier == 0 {
            return Err("the BFD multiplier is at least 1");
        }
        if self.min_rx < ms || self.min_tx < ms || self.min_rx > max || self.min_tx > max {
            return Err("BFD intervals are 1 ms to 60 s");
        }
        Ok(())
    }
}

/// ADD-PATH (RFC 7911) on a session: whether we take several paths per prefix from the
/// peer, and which we send it. Each side only gets what the other announced it can take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Deserialize), serde(deny_unknown_fields))]
pub struct AddPath {
    #[cfg_attr(feature = "serde", serde(default))]
    pub receive: bool,
    /// Which paths we send; none: only the best, as without ADD-PATH.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub send: Option<PathSelection>,
}

impl AddPath {
    /// The capability's mode, if any is announced.
    pub(crate) fn mode(self) -> Option<crate::wire::open::AddPathMode> {
        use crate::wire::open::AddPathMode;
        match (self.receive, self.send.is_some()) {
            (true, true) => Some(AddPathMode::Both),
            (true, false) => Some(AddPathMode::Receive),
            (false, true) => Some(AddPathMode::Send),
            (false, false) => None,
        }
    }
}

/// How the next hop is set on the routes sent to a peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(Deserialize, serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum NextHopSetting {
    /// eBGP: ourselves; iBGP: unchanged (ourselves for our own routes).
    #[default]
    Default,
    /// Always ourselves.
    #[cfg_attr(feature = "serde", serde(rename = "self"))]
    SelfAddr,
    /// Ourselves for routes learned over eBGP and our own; unchanged for routes reflected
    /// between internal peers (a rack reflector towards its nodes).
    SelfExternal,
    /// Never changed, also towards an eBGP peer (a third-party next hop).
    Unchanged,
}

impl NextHopSetting {
    pub(crate) fn mode(self) -> crate::rib::NextHopMode {
        use crate::rib::NextHopMode;
        match self {
            NextHopSetting::Default => NextHopMode::Default,
            NextHopSetting::SelfAddr => NextHopMode::SelfAddr,
            NextHopSetting::SelfExternal => NextHopMode::SelfExternal,
            NextHopSetting::Unchanged => NextHopMode::Unchanged,
        }
    }
}

/// What happens past a peer's route limit.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Deserialize), serde(deny_unknown_fields))]
pub struct MaxPrefixes {
    pub limit: u64,
    /// The family the limit counts (`ipv4` or `ipv6`); none: both together.
    #[cfg_attr(feature = "serde", serde(default))]
    pub family: Option<LimitFamily>,
    /// Only log; keep the session.
    #[cfg_attr(feature = "serde", serde(default))]
    pub warn_only: bool,
    /// Seconds before the session starts again after the Cease (default 60).
    #[cfg_attr(feature = "serde", serde(default))]
    pub restart_after: Option<u64>,
}

/// Back-off after session errors, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Deserialize), serde(deny_unknown_fields))]
pub struct ErrorWait {
    pub min: u64,
    pub max: u64,
}

/// An address family a route limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum LimitFamily {
    Ipv4,
    Ipv6,
}

impl PeerSettings {
    pub fn new(address: IpAddr, asn: u32) -> PeerSettings {
        PeerSettings {
            address,
            port: BGP_PORT,
            asn,
            local_address: None,
            passive: false,
            rr_client: false,
            hold_time: hold_time(),
            keepalive: None,
            connect_retry: None,
            connect_delay: None,
            error_wait: None,
            next_hop: NextHopSetting::Default,
            import: None,
            export: None,
            soft_reconfig_inbound: false,
            extended_next_hop: false,
            add_path: AddPath::default(),
            damping: None,
            graceful_restart: None,
            long_lived_stale_time: None,
            password: None,
            interface: None,
            ttl_security: None,
            ttl: None,
            passive_auto: false,
            local_as: None,
            allow_own_as: 0,
            max_prefixes: Vec::new(),
            bfd: None,
        }
    }

    /// Whether the peer's BFD session is multihop: as configured, or when the peer is
    /// further than one hop by its TTL settings.
    pub fn bfd_multihop(&self) -> bool {
        let far = self.ttl.is_some_and(|t| t > 1) || self.ttl_security.is_some_and(|h| h > 1);
        self.bfd.and_then(|b| b.multihop).unwrap_or(far)
    }

    /// Passive, or passive because ours is the higher address.
    pub fn is_passive(&self) -> bool {
        self.passive || (self.passive_auto && self.local_address.is_some_and(|l| l > self.address))
    }

    pub fn connect_retry(&self) -> Duration {
        Duration::from_secs(self.connect_retry.unwrap_or(5))
    }

    /// Settings a peer cannot run with, refused before anything changes.
    pub fn validate(&self) -> Result<(), &'static str> {
        if let Some(w) = self.error_wait
            && (w.min == 0 || w.min > w.max)
        {
            return Err("error_wait needs 0 < min <= max");
        }
        if self
            .password
            .as_ref()
            .is_some_and(|pw| pw.0.len() > MAX_PASSWORD_LEN)
        {
            return Err("an MD5 password is at most 80 octets");
        }
        if self.hold_time != 0 && self.hold_time < 3 {
            return Err("the hold time is 0 or at least 3 seconds");
        }
        if let Some(k) = self.keepalive
            && self.hold_time != 0
            && (k == 0 || k >= self.hold_time)
        {
            return Err("the keepalive time is at least 1 and below the hold time");
        }
        if let Some(d) = &self.damping {
            d.validate()?;
        }
        if self.long_lived_stale_time.is_some_and(|t| t > 0x00ff_ffff) {
            return Err("the long-lived stale time is at most 16777215 seconds (24 bits)");
        }
        if self.graceful_restart.is_some_and(|t| t > 0x0fff) {
            return Err("the restart time is at most 4095 seconds (12 bits)");
        }
        let link_local = matches!(self.address, IpAddr::V6(a) if a.is_unicast_link_local());
        if link_local && self.interface.is_none() {
            return Err("a link-local address needs the interface it is on");
        }
        if self.address.is_unspecified() {
            return Err("a peer needs an address (one found on an interface is the driver's)");
        }
        if self
            .interface
            .as_ref()
            .is_some_and(|i| i.is_empty() || i.len() > 15)
        {
            return Err("an interface name has 1 to 15 characters");
        }
        if let Some(b) = &self.bfd {
            b.validate()?;
            if b.wait_for_up && self.local_address.is_none() {
                return Err("BFD wait_for_up needs local_address");
            }
        }
        Ok(())
    }
}
