use super::*;
use bgp_core::policy::{Action, Match, NextHopAction, PrefixRange, Verdict};
use bgp_core::wire::attributes::Community;
use bgp_speaker::NextHopSetting;

fn err(src: &str) -> String {
    Config::parse("rr.toml", src).unwrap_err().to_string()
}

const HEAD: &str = "router_id = \"192.168.1.1\"\nasn = 65001\n";

/// Each broken file with the exact message the operator sees.
#[test]
fn errors_name_line_column_and_what_was_expected() {
    let cases: &[(&str, &str)] = &[
        (
            "asn = 65001\n",
            "rr.toml:1:1: missing field `router_id`\n  |\n1 | asn = 65001\n  | ^",
        ),
        (
            "router_id = \"192.168.1.1\"\nasn = \"65001\"\n",
            "rr.toml:2:7: invalid type: string \"65001\", expected u32\n  |\n2 | asn = \"65001\"\n  |       ^^^^^^^",
        ),
        (
            "router_id = \"192.168.1.300\"\nasn = 1\n",
            "rr.toml:1:13: invalid IPv4 address syntax\n  |\n1 | router_id = \"192.168.1.300\"\n  |             ^^^^^^^^^^^^^^^",
        ),
        (
            "router_id = \"192.168.1.1\"\nasn = 65001\n[[client]]\naddress = \"192.168.1.11\"\nhold_tme = 30\n",
            "rr.toml:5:1: unknown field `hold_tme`, expected one of `address`, `interface`, `range`, `max`, `asn`, `description`, `port`, `local_address`, `passive`, `hold_time`, `keepalive`, `connect_retry`, `connect_delay`, `error_wait`, `password`, `password_file`, `password_env`, `ttl_security`, `multihop`, `graceful_restart`, `damping`, `long_lived_stale_time`, `max_prefixes`, `max_prefixes_warn_only`, `max_prefixes_restart`, `import`, `export`, `next_hop`, `soft_reconfig_inbound`, `extended_next_hop`, `add_path`, `add_path_send`, `local_as`, `allow_own_as`, `bfd`\n  |\n5 | hold_tme = 30\n  | ^^^^^^^^",
        ),
        (
            "router_id = \"192.168.1.1\"\nasn = 65001\n[[client]]\naddress = \"192.168.1.11\"\nnext_hop = \"me\"\n",
            "rr.toml:5:12: unknown variant `me`, expected one of `default`, `self`, `self-external`, `unchanged`\n  |\n5 | next_hop = \"me\"\n  |            ^^^^",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(err(src), *want, "for:\n{src}");
    }
}

#[test]
fn references_and_values_are_checked_with_their_position() {
    let cases: &[(&str, &str)] = &[
        (
            "[[ebgp]]\naddress = \"10.0.0.2\"\nasn = 65002\nimport = \"from-b\"\n",
            "rr.toml:6:10: unknown policy \"from-b\"; defined: accept-all, reject-all\n  |\n6 | import = \"from-b\"\n  |          ^^^^^^^^",
        ),
        (
            "[[ebgp]]\naddress = \"10.0.0.2\"\n",
            "rr.toml:3:1: an [[ebgp]] peer needs `asn`\n  |\n3 | [[ebgp]]\n  | ^^^^^^^^",
        ),
        (
            "[[ebgp]]\naddress = \"10.0.0.2\"\nasn = 65001\n",
            "rr.toml:5:7: asn 65001 is our own: an [[ebgp]] peer is in another AS (list internal peers as [[client]])\n  |\n5 | asn = 65001\n  |       ^^^^^",
        ),
        (
            "[[client]]\naddress = \"192.168.1.11\"\n[[client]]\naddress = \"192.168.1.11\"\n",
            "rr.toml:6:11: peer 192.168.1.11 is configured twice\n  |\n6 | address = \"192.168.1.11\"\n  |           ^^^^^^^^^^^^^^",
        ),
        (
            "[prefix_lists]\npods = [\"172.17.0.0/16 le 8\"]\n",
            "rr.toml:4:9: lengths out of order in prefix entry \"172.17.0.0/16 le 8\" (expected `PREFIX [ge LEN] [le LEN]`)\n  |\n4 | pods = [\"172.17.0.0/16 le 8\"]\n  |         ^^^^^^^^^^^^^^^^^^^^",
        ),
        (
            "[policies.p]\n[[policies.p.term]]\nmatch.prefix_list = \"pods\"\n",
            "rr.toml:5:21: unknown prefix list \"pods\"; defined: none\n  |\n5 | match.prefix_list = \"pods\"\n  |                     ^^^^^^",
        ),
        (
            "[policies.p]\n[[policies.p.term]]\nset.add_community = [\"65536:1\"]\n",
            "rr.toml:5:22: community \"65536:1\": expected `ASN:VALUE` (16 bits each) or a well-known name\n  |\n5 | set.add_community = [\"65536:1\"]\n  |                      ^^^^^^^^^",
        ),
        (
            "[policies.p]\n[[policies.p.term]]\nmatch.as_path = \"^ 65002 ^\"\n",
            "rr.toml:5:17: AS-path pattern \"^ 65002 ^\": '^' only at the start at token 2\n  |\n5 | match.as_path = \"^ 65002 ^\"\n  |                 ^^^^^^^^^^^",
        ),
        (
            "[[client]]\naddress = \"192.168.1.11\"\npassword = \"a\"\npassword_env = \"X\"\n",
            "rr.toml:6:16: give one of `password`, `password_file` and `password_env`\n  |\n6 | password_env = \"X\"\n  |                ^^^",
        ),
        (
            "[[client]]\naddress = \"192.168.1.11\"\npassword_env = \"RR_TEST_UNSET_VARIABLE\"\n",
            "rr.toml:5:16: environment variable RR_TEST_UNSET_VARIABLE is not set\n  |\n5 | password_env = \"RR_TEST_UNSET_VARIABLE\"\n  |                ^^^^^^^^^^^^^^^^^^^^^^^^",
        ),
        (
            "[admin]\nmode = \"0999\"\n",
            "rr.toml:4:8: admin mode \"0999\" is not an octal file mode\n  |\n4 | mode = \"0999\"\n  |        ^^^^^^",
        ),
        (
            "[[client]]\naddress = \"192.168.1.11\"\nasn = 65002\n",
            "rr.toml:5:7: a [[client]] peer is in our AS 65001, not 65002 (list other ASes as [[ebgp]])\n  |\n5 | asn = 65002\n  |       ^^^^^",
        ),
    ];
    for (body, want) in cases {
        let src = format!("{HEAD}{body}");
        assert_eq!(err(&src), *want, "for:\n{src}");
    }
}

#[test]
fn defaults_fill_every_optional_field() {
    let c = Config::parse(
        "rr.toml",
        &format!("{HEAD}[[client]]\naddress = \"192.168.1.11\"\n"),
    )
    .unwrap();
    let s = &c.speaker;
    assert_eq!(s.router.cluster_id, Some("192.168.1.1".parse().unwrap()));
    assert_eq!(s.listen, vec!["0.0.0.0:179".parse().unwrap()]);
    assert_eq!(c.metrics, Some("127.0.0.1:9179".parse().unwrap()));
    assert_eq!(c.admin_socket, PathBuf::from(ADMIN_SOCKET));
    assert_eq!(c.admin_mode, 0o600);
    assert_eq!(
        c.restart_state,
        PathBuf::from("/run/route-reflector.sock.peers")
    );
    let p = &s.router.peers[0];
    assert!(p.rr_client);
    assert_eq!(
        (p.asn, p.hold_time, p.connect_retry, p.graceful_restart),
        (65001, 90, Some(5), Some(120))
    );
    assert_eq!(p.next_hop, NextHopSetting::Default);
    assert!(p.import.is_none() && p.export.is_none() && p.password.is_none());
}

#[test]
fn the_embedded_default_and_the_examples_check() {
    let d = Config::parse("default", DEFAULT_CONFIG).unwrap();
    assert_eq!(d.speaker.listen, vec!["127.0.0.1:179".parse().unwrap()]);
    assert_eq!(d.speaker.router.dynamic_peers.len(), 1);

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let key = std::env::temp_dir().join(format!("rr-example-{}.key", std::process::id()));
    std::fs::write(&key, "s3cret\n").unwrap();
    let read = |name: &str| {
        std::fs::read_to_string(format!("{dir}/{name}"))
            .unwrap()
            .replace(
                "/etc/route-reflector/node-13.key",
                &key.display().to_string(),
            )
            .replace("password_env = \"RACK_B_MD5\"", "password = \"rack-b\"")
            .replace("password_env = \"RACK_A_MD5\"", "password = \"rack-a\"")
    };
    let a = Config::parse("rack-a.toml", &read("rack-a.toml")).unwrap();
    let s = &a.speaker;
    assert_eq!(
        (
            s.router.asn,
            s.router.peers.len(),
            s.router.dynamic_peers.len()
        ),
        (65001, 4, 1)
    );
    let node13 = s
        .router
        .peers
        .iter()
        .find(|p| p.address.to_string() == "192.168.1.13");
    let node13 = node13.unwrap();
    assert_eq!(
        node13.password.as_ref().unwrap().0,
        "s3cret",
        "file read, newline cut"
    );
    assert_eq!(node13.ttl_security, Some(1));
    let ebgp = s.router.peers.iter().find(|p| p.asn == 65002).unwrap();
    assert!(!ebgp.rr_client);
    assert_eq!(ebgp.next_hop, NextHopSetting::SelfAddr);
    let import = ebgp.import.as_ref().unwrap();
    assert_eq!(import.name, "from-rack-b");
    assert_eq!(import.terms.len(), 1);
    assert_eq!(import.terms[0].matches.len(), 2);
    assert_eq!(import.default, Verdict::Reject);
    assert_eq!(
        s.router.dynamic_peers[0].template.max_prefixes[0].limit, 1000,
        "range template"
    );
    assert_eq!(s.fib.as_ref().unwrap().table, 254);
    let b = Config::parse("rack-b.toml", &read("rack-b.toml")).unwrap();
    assert_eq!(b.speaker.router.peers[0].asn, 65001);
    for f in ["redundant-1.toml", "redundant-2.toml"] {
        let r = Config::parse(f, &read(f)).unwrap();
        assert_eq!(
            r.speaker.router.cluster_id,
            Some("192.168.1.1".parse().unwrap())
        );
        assert!(
            !r.speaker.router.peers[0].rr_client,
            "the other reflector is no client"
        );
    }
    let _ = std::fs::remove_file(&key);
}

#[test]
fn prefix_entries_and_policies_build_core_values() {
    let src = format!(
        "{HEAD}[prefix_lists]\npods = [\"172.17.0.0/16 le 26\", \"10.0.0.0/8 ge 16\", \"192.0.2.0/24\"]\n\
         [policies.p]\ndefault = \"accept\"\n[[policies.p.term]]\nmatch.prefix_list = \"pods\"\n\
         match.community = \"no-export\"\nset.local_pref = 50\nset.prepend = 2\n\
         set.next_hop = \"self\"\nverdict = \"reject\"\n\
         [[client]]\naddress = \"192.168.1.11\"\nexport = \"p\"\n"
    );
    let c = Config::parse("rr.toml", &src).unwrap();
    let p = c.speaker.router.peers[0].export.as_ref().unwrap();
    assert_eq!(p.default, Verdict::Accept);
    let t = &p.terms[0];
    assert_eq!(t.name, "term-1");
    assert_eq!(
        t.matches[0],
        Match::Prefix(vec![
            PrefixRange {
                prefix: "172.17.0.0/16".parse().unwrap(),
                ge: 16,
                le: 26
            },
            PrefixRange {
                prefix: "10.0.0.0/8".parse().unwrap(),
                ge: 16,
                le: 32
            },
            PrefixRange::exact("192.0.2.0/24".parse().unwrap()),
        ])
    );
    assert_eq!(t.matches[1], Match::Community(Community::NO_EXPORT));
    assert_eq!(
        t.actions,
        vec![
            Action::SetLocalPref(50),
            Action::Prepend(65001, 2),
            Action::SetNextHop(NextHopAction::SelfAddr)
        ]
    );
    assert_eq!(t.verdict, Some(Verdict::Reject));
}

#[test]
fn reload_refuses_changes_that_need_a_restart() {
    let a = Config::parse("a", HEAD).unwrap();
    let b = Config::parse(
        "b",
        "router_id = \"192.168.1.2\"\nasn = 65001\nlisten = [\"127.0.0.1:179\"]\n",
    )
    .unwrap();
    assert_eq!(
        fixed_differences(&a, &b),
        vec!["router_id", "cluster_id", "listen"]
    );
    assert!(fixed_differences(&a, &a.clone()).is_empty());
}

/// Every error of a file, each at its own position, in the order of the file.
fn errors(src: &str) -> Vec<String> {
    Config::parse("rr.toml", src)
        .unwrap_err()
        .0
        .iter()
        .map(|e| format!("{}:{}: {}", e.line, e.column, e.message))
        .collect()
}

#[test]
fn every_error_is_reported_at_its_own_position() {
    let src = r#"router_id = "0.0.0.0"
asn = 0
listen = ["0.0.0.0:179", "0.0.0.0:179"]
max_paths = 0
[log]
level = "inf"
[timers]
hold_time = 2
[[client]]
address = "192.168.1.11"
[[client]]
address = "192.168.1.12"
local_address = "2001:db8::1"
[[client]]
address = "192.168.1.13"
keepalive = 30
hold_time = 30
"#;
    assert_eq!(
        errors(src),
        [
            "2:7: asn 0 is reserved (RFC 7607): not an AS to run as",
            "1:13: router_id 0.0.0.0 is not a usable BGP identifier",
            "3:26: listen address 0.0.0.0:179 is given twice",
            "4:13: max_paths is at least 1 (1: no ECMP)",
            "6:9: log level \"inf\": expected one of trace, debug, info, warn, error, off or `TARGET=LEVEL`",
            "8:13: hold_time 2 is too short: 0 or at least 3 seconds",
            "13:17: local_address 2001:db8::1 is of the other family than the peer's address",
            "16:13: keepalive 30 must be at least 1 and below the hold time (30)",
        ]
    );
    // A filter of targets and levels is a level.
    let ok = format!("{HEAD}[log]\nlevel = \"bgp_speaker=debug,info\"\n");
    assert!(Config::parse("rr.toml", &ok).is_ok());
}

#[test]
fn unused_policies_warn_secrets_can_be_left_unread_and_keepalive_is_set() {
    let src = format!(
        r#"{HEAD}[timers]
keepalive = 10
[prefix_lists]
pods = ["172.17.0.0/16 le 26"]
spare = ["10.0.0.0/8"]
[policies.pods-only]
default = "reject"
[[policies.pods-only.term]]
match.prefix_list = "pods"
verdict = "accept"
[policies.unused]
default = "accept"
[[client]]
address = "192.168.1.11"
import = "pods-only"
password_file = "/nonexistent/md5.key"
"#
    );
    let e = Config::parse("rr.toml", &src).unwrap_err().to_string();
    assert!(e.contains("password file /nonexistent/md5.key"), "{e}");
    let c = Config::parse_with("rr.toml", &src, Secrets::Skip).unwrap();
    let warnings: Vec<&str> = c.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        warnings,
        [
            "policy \"unused\" is not used by any peer",
            "prefix list \"spare\" is not used by any policy",
        ]
    );
    assert_eq!(c.speaker.router.peers[0].keepalive, Some(10));
    assert!(c.speaker.router.peers[0].password.is_some());
}

#[test]
fn the_admin_socket_group_is_a_name_or_a_number() {
    let c = Config::parse("rr.toml", &format!("{HEAD}[admin]\ngroup = \"root\"\n")).unwrap();
    assert_eq!(c.admin_group, Some(0));
    let c = Config::parse("rr.toml", &format!("{HEAD}[admin]\ngroup = \"4242\"\n")).unwrap();
    assert_eq!(c.admin_group, Some(4242));
    assert_eq!(
        errors(&format!("{HEAD}[admin]\ngroup = \"no-such-group\"\n")),
        ["4:9: admin group \"no-such-group\": no such group"]
    );
}

#[test]
fn add_path_directions_and_the_paths_sent() {
    use bgp_speaker::{AddPath, PathSelection};
    let peer = |body: &str| {
        let src = format!("{HEAD}[[client]]\naddress = \"192.168.1.11\"\n{body}");
        Config::parse("rr.toml", &src).unwrap().speaker.router.peers[0].add_path
    };
    assert_eq!(peer(""), AddPath::default());
    assert_eq!(
        peer("add_path = \"receive\"\n"),
        AddPath {
            receive: true,
            send: None
        }
    );
    // Every path unless told otherwise: nodes build ECMP sets from them.
    assert_eq!(
        peer("add_path = \"send\"\n"),
        AddPath {
            receive: false,
            send: Some(PathSelection::All)
        }
    );
    assert_eq!(
        peer("add_path = \"both\"\nadd_path_send = 2\n").send,
        Some(PathSelection::Best(2))
    );
    assert_eq!(
        peer("add_path = \"send\"\nadd_path_send = \"ecmp\"\n").send,
        Some(PathSelection::Ecmp)
    );
    let cases: &[(&str, &str)] = &[
        (
            "add_path = \"rx\"\n",
            "rr.toml:5:12: unknown variant `rx`, expected one of `receive`, `send`, `both`\n  |\n5 | add_path = \"rx\"\n  |            ^^^^",
        ),
        (
            "add_path = \"send\"\nadd_path_send = 0\n",
            "rr.toml:6:17: invalid value: integer `0`, expected \"all\", \"ecmp\" or a number of paths from 1 to 255\n  |\n6 | add_path_send = 0\n  |                 ^",
        ),
        (
            "add_path = \"receive\"\nadd_path_send = \"all\"\n",
            "rr.toml:6:17: add_path_send needs add_path = \"send\" or \"both\"\n  |\n6 | add_path_send = \"all\"\n  |                 ^^^^^",
        ),
    ];
    for (body, want) in cases {
        let src = format!("{HEAD}[[client]]\naddress = \"192.168.1.11\"\n{body}");
        assert_eq!(err(&src), *want, "for:\n{src}");
    }
}

#[test]
fn long_lived_stale_time_for_every_peer_or_one() {
    let peers = |body: &str| {
        let src = format!("{HEAD}{body}");
        Config::parse("rr.toml", &src)
            .unwrap()
            .speaker
            .router
            .peers
            .iter()
            .map(|p| (p.graceful_restart, p.long_lived_stale_time))
            .collect::<Vec<_>>()
    };
    let two = "[[client]]\naddress = \"192.168.1.11\"\n[[client]]\naddress = \"192.168.1.12\"\n";
    assert_eq!(peers(two), [(Some(120), None), (Some(120), None)]);
    assert_eq!(
        peers(&format!(
            "[graceful_restart]\nlong_lived_stale_time = 86400\n{two}long_lived_stale_time = 0\n"
        )),
        [(Some(120), Some(86400)), (Some(120), None)],
        "a peer's own 0 turns it off for that peer"
    );
    assert_eq!(
        peers(
            "[[client]]\naddress = \"192.168.1.11\"\ngraceful_restart = false\nlong_lived_stale_time = 3600\n"
        ),
        [(None, Some(3600))],
        "long-lived alone: announced with a restart time of 0"
    );
    let cases: &[(&str, &str)] = &[
        (
            "[graceful_restart]\nrestart_time = 5000\n",
            "rr.toml:4:16: restart_time 5000 is too long: at most 4095 seconds (12 bits)\n  |\n4 | restart_time = 5000\n  |                ^^^^",
        ),
        (
            "[[client]]\naddress = \"192.168.1.11\"\nlong_lived_stale_time = 16777216\n",
            "rr.toml:5:25: long_lived_stale_time 16777216 is too long: at most 16777215 seconds (24 bits)\n  |\n5 | long_lived_stale_time = 16777216\n  |                         ^^^^^^^^",
        ),
    ];
    for (body, want) in cases {
        let src = format!("{HEAD}{body}");
        assert_eq!(err(&src), *want, "for:\n{src}");
    }
}

#[test]
fn damping_on_ebgp_peers_with_the_rfc_7196_parameters_or_others() {
    use bgp_speaker::DampingConfig;
    use std::time::Duration;
    let ebgp = "[[ebgp]]\naddress = \"10.0.0.2\"\nasn = 65002\n";
    let damping = |body: &str| {
        let src = format!("{HEAD}{body}");
        Config::parse("rr.toml", &src).unwrap().speaker.router.peers[0].damping
    };
    assert_eq!(damping(ebgp), None, "off by default");
    assert_eq!(
        damping(&format!("{ebgp}damping = true\n")),
        Some(DampingConfig::default())
    );
    assert_eq!(
        damping(&format!(
            "[damping]\nhalf_life = 5\nmax_suppress = 30\n{ebgp}damping = true\n"
        )),
        Some(DampingConfig {
            half_life: Duration::from_secs(300),
            max_suppress: Duration::from_secs(1800),
            ..DampingConfig::default()
        })
    );
    let cases: &[(&str, &str)] = &[
        (
            "[[client]]\naddress = \"192.168.1.11\"\ndamping = true\n",
            "rr.toml:5:11: damping applies to routes from other ASes: only an [[ebgp]] peer takes it\n  |\n5 | damping = true\n  |           ^^^^",
        ),
        (
            "[damping]\nreuse = 7000\n",
            "rr.toml:3:1: the damping reuse threshold is above 0 and below the suppress threshold\n  |\n3 | [damping]\n  | ^^^^^^^^^",
        ),
    ];
    for (body, want) in cases {
        let src = format!("{HEAD}{body}");
        assert_eq!(err(&src), *want, "for:\n{src}");
    }
}

#[test]
fn peers_by_link_local_address_and_interface_or_interface_alone() {
    let src = format!(
        "{HEAD}[[ebgp]]\ninterface = \"eth1\"\nasn = 65002\n[[ebgp]]\ninterface = \"eth2\"\nasn = 65003\n\
         [[ebgp]]\naddress = \"fe80::4\"\ninterface = \"eth3\"\nasn = 65004\n"
    );
    let peers = Config::parse("rr.toml", &src).unwrap().speaker.router.peers;
    let got: Vec<(String, Option<&str>)> = peers
        .iter()
        .map(|p| (p.address.to_string(), p.interface.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("::".to_string(), Some("eth1")),
            ("::".to_string(), Some("eth2")),
            ("fe80::4".to_string(), Some("eth3")),
        ]
    );
    assert!(peers.iter().take(2).all(bgp_speaker::by_interface));
    let cases: &[(&str, &str)] = &[
        (
            "[[ebgp]]\naddress = \"fe80::4\"\nasn = 65002\n",
            "rr.toml:4:11: link-local address fe80::4 needs `interface`: the link it is on",
        ),
        (
            "[[ebgp]]\ninterface = \"eth1\"\nasn = 65002\n[[ebgp]]\ninterface = \"eth1\"\nasn = 65003\n",
            "rr.toml:6:1: a peer on interface eth1 alone is configured twice",
        ),
        (
            "[[client_range]]\nrange = \"fe80::/10\"\ninterface = \"eth1\"\n",
            "rr.toml:3:1: `interface` does not belong in a [[client_range]] table",
        ),
        (
            "[[ebgp]]\ninterface = \"a-very-long-interface\"\nasn = 65002\n",
            "rr.toml:4:13: an interface name has 1 to 15 characters",
        ),
        (
            "[[ebgp]]\nasn = 65002\n",
            "rr.toml:3:1: a [[ebgp]] needs `address` (or `interface` alone, unnumbered)",
        ),
    ];
    for (body, want) in cases {
        let got = err(&format!("{HEAD}{body}"));
        assert!(got.starts_with(want), "{body}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn bmp_stations_are_read_with_defaults_and_checked_at_their_position() {
    let src = format!(
        "{HEAD}[[bmp]]\naddress = \"192.0.2.9\"\n[[bmp]]\naddress = \"2001:db8::9\"\nport = 5000\n\
         monitoring = [\"loc-rib\", \"post-policy\"]\nstatistics_interval = 0\nqueue = 10\nsys_name = \"rr-a\"\n"
    );
    let c = Config::parse("rr.toml", &src).unwrap();
    let b = &c.speaker.bmp;
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].station, "192.0.2.9:11019".parse().unwrap());
    assert!(b[0].monitoring.pre_policy && b[0].monitoring.post_policy);
    assert!(!b[0].monitoring.loc_rib);
    assert_eq!(
        b[0].statistics_interval,
        Some(std::time::Duration::from_secs(60))
    );
    assert_eq!(b[1].station, "[2001:db8::9]:5000".parse().unwrap());
    assert!(!b[1].monitoring.pre_policy && b[1].monitoring.post_policy && b[1].monitoring.loc_rib);
    assert_eq!((b[1].statistics_interval, b[1].queue), (None, 10));
    assert_eq!(b[1].sys_name, "rr-a");

    let cases: &[(&str, &str)] = &[
        (
            "[[bmp]]\naddress = \"192.0.2.9\"\nmonitoring = [\"pre\"]\n",
            "rr.toml:5:15: bmp monitoring \"pre\": expected one of pre-policy, post-policy, adj-rib-out, loc-rib",
        ),
        (
            "[[bmp]]\naddress = \"192.0.2.9\"\nmonitoring = []\n",
            "rr.toml:5:14: bmp monitoring is empty: name at least one of pre-policy, post-policy, adj-rib-out, loc-rib",
        ),
        (
            "[[bmp]]\naddress = \"192.0.2.9\"\n[[bmp]]\naddress = \"192.0.2.9\"\n",
            "rr.toml:6:11: bmp station 192.0.2.9:11019 is configured twice",
        ),
        (
            "[[bmp]]\naddress = \"192.0.2.9\"\nport = 0\nqueue = 0\n",
            "rr.toml:5:8: bmp port 0 is not a port",
        ),
        (
            "[[bmp]]\naddress = \"192.0.2.9\"\nstation = 1\n",
            "rr.toml:5:1: unknown field `station`, expected one of `address`, `port`, `monitoring`, `statistics_interval`, `queue`, `sys_name`",
        ),
    ];
    for (tail, want) in cases {
        let got = err(&format!("{HEAD}{tail}"));
        assert!(got.starts_with(want), "for:\n{tail}\ngot: {got}");
    }
    assert!(
        err(&format!(
            "{HEAD}[[bmp]]\naddress = \"192.0.2.9\"\nqueue = 0\n"
        ))
        .contains("rr.toml:5:9: bmp queue is at least 1 message")
    );
}

#[test]
fn mrt_files_are_read_and_checked() {
    let dir = std::env::temp_dir();
    let src = format!(
        "{HEAD}[mrt]\ntable_dump = \"{0}/rib.%s.mrt\"\nupdates = \"{0}/updates.%Y%m%d.%H%M.mrt\"\n\
         rotate_interval = 900\nrotate_size = 1000000\n",
        dir.display()
    );
    let c = Config::parse("rr.toml", &src).unwrap();
    let m = c.speaker.mrt.unwrap();
    let (path, every) = m.table_dump.unwrap();
    assert_eq!(path, dir.join("rib.%s.mrt"));
    assert_eq!(every, std::time::Duration::from_secs(300));
    assert_eq!(m.rotate_interval, Some(std::time::Duration::from_secs(900)));
    assert_eq!(m.rotate_size, Some(1_000_000));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);

    assert!(
        err(&format!(
            "{HEAD}[mrt]\ntable_dump = \"/tmp/rib\"\ntable_dump_interval = 0\n"
        ))
        .starts_with("rr.toml:5:23: table_dump_interval is at least 1 second")
    );
    let c = Config::parse(
        "rr.toml",
        &format!("{HEAD}[mrt]\nupdates = \"/nonexistent-dir/u.mrt\"\nrotate_interval = 60\n"),
    )
    .unwrap();
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        w[0].starts_with("rr.toml:4:11: /nonexistent-dir: no such directory"),
        "{w:?}"
    );
    assert!(
        w[1].contains("rotates by time but its name has no time field"),
        "{w:?}"
    );
}

#[test]
fn bfd_on_peers_and_ranges_with_defaults_and_own_values() {
    let src = format!(
        "{HEAD}[bfd]\nmin_rx = 200\nmultiplier = 5\n\
         [[client]]\naddress = \"192.168.1.11\"\nbfd = true\n\
         [[client]]\naddress = \"192.168.1.12\"\nlocal_address = \"192.168.1.1\"\n\
         bfd = {{ min_tx = 100, wait_for_up = true }}\n\
         [[client]]\naddress = \"192.168.1.13\"\n\
         [[ebgp]]\naddress = \"10.0.0.2\"\nasn = 65002\nmultihop = 3\nbfd = {{ graceful = true }}\n\
         [[client_range]]\nrange = \"192.168.2.0/24\"\nbfd = true\n"
    );
    let c = Config::parse("rr.toml", &src).unwrap();
    let peers = &c.speaker.router.peers;
    let b11 = peers[0].bfd.unwrap();
    assert_eq!(
        (b11.min_rx, b11.min_tx, b11.multiplier, b11.wait_for_up),
        (
            std::time::Duration::from_millis(200),
            std::time::Duration::from_millis(300),
            5,
            false
        )
    );
    let b12 = peers[1].bfd.unwrap();
    assert_eq!(
        (
            b12.min_rx.as_millis(),
            b12.min_tx.as_millis(),
            b12.wait_for_up
        ),
        (200, 100, true)
    );
    assert_eq!(peers[2].bfd, None, "off unless [bfd] enabled");
    let ebgp = &peers[3];
    assert!(ebgp.bfd.unwrap().graceful && ebgp.bfd_multihop());
    assert!(c.speaker.router.dynamic_peers[0].template.bfd.is_some());
    // `enabled` turns it on for every peer that does not say otherwise.
    let src = format!(
        "{HEAD}[bfd]\nenabled = true\n[[client]]\naddress = \"192.168.1.11\"\n\
         [[client]]\naddress = \"192.168.1.12\"\nbfd = false\n"
    );
    let c = Config::parse("rr.toml", &src).unwrap();
    let on: Vec<bool> = c
        .speaker
        .router
        .peers
        .iter()
        .map(|p| p.bfd.is_some())
        .collect();
    assert_eq!(on, [true, false]);
}

#[test]
fn bfd_values_are_checked_where_they_are_written() {
    let cases: &[(&str, &str)] = &[
        (
            "[[client]]\naddress = \"192.168.1.11\"\nbfd = { min_rx = 0 }\n",
            "rr.toml:5:7: bfd min_rx 0 ms: from 1 to 60000 ms",
        ),
        (
            "[bfd]\nmultiplier = 256\n",
            "rr.toml:3:1: bfd multiplier 256: from 1 to 255",
        ),
        (
            "[[client]]\naddress = \"192.168.1.11\"\nbfd = { wait_for_up = true }\n",
            "rr.toml:5:7: bfd wait_for_up needs `local_address` on the peer",
        ),
        (
            "[[client_range]]\nrange = \"192.168.2.0/24\"\nlocal_address = \"192.168.1.1\"\nbfd = { wait_for_up = true }\n",
            "rr.toml:6:7: bfd wait_for_up needs a listed peer with local_address, not a range",
        ),
        (
            "[[client]]\naddress = \"192.168.1.11\"\nbfd = { enabled = true }\n",
            "rr.toml:5:7: `enabled` belongs in [bfd]; a peer says `bfd = true` or `false`",
        ),
    ];
    for (body, want) in cases {
        let got = err(&format!("{HEAD}{body}"));
        assert!(got.starts_with(want), "for:\n{body}\ngot: {got}");
    }
}

#[test]
fn peer_queue_depth_is_set_and_bounded() {
    assert_eq!(
        Config::parse("rr.toml", HEAD)
            .unwrap()
            .speaker
            .router
            .peer_queue_depth,
        4096
    );
    let c = Config::parse("rr.toml", &format!("peer_queue_depth = 64\n{HEAD}")).unwrap();
    assert_eq!(c.speaker.router.peer_queue_depth, 64);
    for (v, col) in [("0", 20), ("15", 20), ("1000001", 20)] {
        assert_eq!(
            errors(&format!("peer_queue_depth = {v}\n{HEAD}")),
            [format!(
                "1:{col}: peer_queue_depth {v} is out of range: 16 to 1000000 messages"
            )]
        );
    }
    // Larger than any integer: the parser's own error, at the value.
    let e = errors(&format!("peer_queue_depth = 99999999999999999999\n{HEAD}"));
    assert!(e[0].starts_with("1:20: "), "{e:?}");
    // A reload cannot change it.
    let b = Config::parse("rr.toml", &format!("peer_queue_depth = 64\n{HEAD}")).unwrap();
    let a = Config::parse("rr.toml", HEAD).unwrap();
    assert_eq!(fixed_differences(&a, &b), vec!["peer_queue_depth"]);
}
