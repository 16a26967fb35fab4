//! Interop of the protocol extensions with real FRR, BIRD 2 and GoBGP daemons: extended
//! next hop (RFC 8950), ADD-PATH (RFC 7911), long-lived graceful restart (RFC 9494) and
//! peering over IPv6 link-local addresses only. Each test builds its own segment in network
//! namespaces and removes it when it ends; state is read through each daemon's own CLI.

mod segment;

use segment::*;

/// Our reflector (AS 65000, 10.11.0.1 / fd00:11::1) with eBGP over IPv6 only to FRR (AS
/// 65003 at fd00:11::3) and BIRD (AS 65004 at fd00:11::4), both carrying IPv4 routes with
/// IPv6 next hops; a node agent (10.11.0.2, IPv4 session without the capability) under it.
#[test]
fn ipv4_routes_over_ipv6_sessions_with_frr_and_bird() {
    if !can_run(true, true, false) {
        return;
    }
    let seg = Segment::new("x");
    let rr_ns = seg.host("rr", 1);
    let node_ns = seg.host("node", 2);
    let frr_ns = seg.host("frr", 3);
    let bird_ns = seg.host("bird", 4);
    let mut config = reflector_head("10.11.0.1", 65000, &seg.dir, "rr");
    config.push_str(
        r#"[fib]
mode = "direct"
[[client]]
address = "10.11.0.2"
next_hop = "self-external"
[[ebgp]]
address = "fd00:11::3"
asn = 65003
import = "accept-all"
export = "accept-all"
extended_next_hop = true
[[ebgp]]
address = "fd00:11::4"
asn = 65004
import = "accept-all"
export = "accept-all"
extended_next_hop = true
"#,
    );
    let rr = seg.reflector(&rr_ns, "rr", &config, false);
    let _agent = seg.agent(
        &node_ns,
        "agent",
        65000,
        "10.11.0.2",
        "10.11.0.1",
        "172.17.2.0/24",
    );
    let frr = Frr::start(
        &frr_ns,
        &seg.path("frr"),
        "::",
        &frr_conf(
            65003,
            "10.11.0.3",
            " no bgp ebgp-requires-policy\n no bgp network import-check\n timers bgp 3 9\n\
             neighbor fd00:11::1 remote-as 65000\n neighbor fd00:11::1 timers connect 1\n\
             neighbor fd00:11::1 capability extended-nexthop\n\
             address-family ipv4 unicast\n  network 172.18.0.0/24\n\
             neighbor fd00:11::1 activate\n exit-address-family\n",
        ),
    )
    .unwrap();
    let bird = Bird::start(
        &bird_ns,
        &seg.path("bird"),
        &bird_conf(
            "router id 10.11.0.4;\n\
             protocol static { ipv4; route 172.19.0.0/24 blackhole; }\n\
             protocol bgp upstream { local fd00:11::4 as 65004; neighbor fd00:11::1 as 65000;\n\
             hold time 9; connect retry time 1;\n\
             ipv4 { extended next hop on; import all; export all; }; }\n",
        ),
    )
    .unwrap();
    seg.wait("both IPv6 sessions", || {
        rr.established("fd00:11::3") && rr.established("fd00:11::4")
    });
    // The capability is listed for IPv4 unicast on both sessions.
    for peer in ["fd00:11::3", "fd00:11::4"] {
        let caps = rr.peer(peer)["capabilities"].clone();
        let v4 = caps
            .as_array()
            .and_then(|a| a.iter().find(|c| c["family"] == "ipv4-unicast"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(v4["extended_next_hop"], true, "{peer}: {caps}");
    }
    // Their IPv4 routes are installed in our kernel via their IPv6 addresses.
    seg.wait("FRR's and BIRD's prefixes via inet6", || {
        let text = rr_ns.sh("ip -4 route show proto bgp").unwrap_or_default();
        text.contains("172.18.0.0/24 via inet6 fd00:11::3 dev eth0")
            && text.contains("172.19.0.0/24 via inet6 fd00:11::4 dev eth0")
    });
    // FRR and BIRD hold the node's block with our IPv6 address as its next hop.
    seg.wait("FRR learns the node's block via fd00:11::1", || {
        let v = frr.json("show bgp ipv4 unicast 172.17.2.0/24 json");
        v["paths"][0]["nexthops"][0]["ip"] == "fd00:11::1"
    });
    seg.wait("BIRD learns the node's block via fd00:11::1", || {
        bird.birdc("show route 172.17.2.0/24 all")
            .is_ok_and(|o| o.contains("BGP.next_hop: fd00:11::1"))
    });
    // The node has no IPv6 session: it gets them with our IPv4 address (next hop self for
    // routes from other ASes), never an IPv6 next hop it did not ask for.
    seg.wait("the node installs both via the reflector", || {
        has_route(&node_ns, "172.18.0.0/24 via 10.11.0.1")
            && has_route(&node_ns, "172.19.0.0/24 via 10.11.0.1")
    });
    let _ = (&frr_ns, &bird_ns);
}
