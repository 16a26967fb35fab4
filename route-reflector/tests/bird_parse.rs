//! Reading BIRD configurations: errors name the file, line and column, with what was found
//! and what was expected; constructs outside the supported subset are refused where they
//! stand; includes are resolved as BIRD resolves them.

use std::path::{Path, PathBuf};

use route_reflector::bird::{self, Family};

fn errors(src: &str, family: Family) -> Vec<String> {
    match bird::load_str("t.cfg", src, family) {
        Ok(_) => vec![],
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn error(src: &str) -> String {
    let e = errors(src, Family::V4);
    assert_eq!(e.len(), 1, "for:\n{src}\n{e:#?}");
    e[0].clone()
}

const HEAD: &str = "router id 10.0.0.1;\n";

#[test]
fn syntax_errors_say_where_and_what_was_expected() {
    let cases: &[(&str, &str)] = &[
        (
            "router id 10.0.0.1\nprotocol device {}\n",
            "t.cfg:2:1: found `protocol`, expected `;`",
        ),
        (
            "router id 10.0.0.1;\nprotocol ospf o1 {}\n",
            "t.cfg:2:10: found `ospf`, expected a protocol kind of the Calico configurations: bgp, kernel, device, direct or static",
        ),
        (
            "router id 10.0.0.1;\nprotocol bgp p {\n  local as 65001;\n  neighbor 10.0.0.2 as 65001;\n  hold tme 30;\n}\n",
            "t.cfg:5:8: found `tme`, expected `time`",
        ),
        (
            "filter f {\n  if net ~ 10.0.0.0/8 then accept; else reject }\n",
            "t.cfg:2:48: found `}`, expected `;`",
        ),
        (
            "function f(bool a) { accept; }\nfilter g { f(); }\n",
            "t.cfg:2:13: Wrong number of arguments for function f: found 0, expected 1",
        ),
        (
            "router id 10.0.0.1;\nprotocol bgp p { local as 1; neighbor 10.0.0.2 as 1; export filter nope; }\n",
            "t.cfg:2:68: found `nope`, expected a filter name (defined: none) or `{`",
        ),
        (
            "filter f { case net.len { 24: accept; } }\n",
            "t.cfg:1:12: found `case`, expected a statement (`case` is not supported)",
        ),
        (
            "filter f {\n  net = 10.0.0.0/8;\n  accept;\n}\n",
            "t.cfg:2:3: This static attribute is read-only: found an assignment to `net`",
        ),
        (
            "filter f { if 1 < 2 < 3 then accept; }\n",
            "t.cfg:1:21: found `<`, expected `)`, `&&` or `||` (comparisons do not chain)",
        ),
        (
            "template kernel k {}\nprotocol bgp p from k {}\n",
            "t.cfg:2:21: Can't copy configuration from a different protocol type: found kernel `k`, expected a bgp template",
        ),
        (
            "filter f { accept; }\nfilter f { reject; }\n",
            "t.cfg:2:8: Symbol already defined: `f` is defined at t.cfg:1:8",
        ),
        (
            "router id 1.2.3.4; include \"x.cfg\";\n",
            "t.cfg:1:20: found `include` inside a line, expected it at the start of a line (`include \"FILE\";`)",
        ),
        (
            "filter f { if net ~ 10.0.0.1/8 then accept; }\n",
            "t.cfg:1:21: Invalid network prefix: 10.0.0.1/8: expected no bits set past the length",
        ),
        (
            "router id 10.0.0.1;\nprotocol bgp p { local as 1; neighbor 10.0.0.2 as 1; multihop 300; }\n",
            "t.cfg:2:63: Multihop must be in range 1-255: found 300",
        ),
        (
            "router id 10.0.0.1;\nprotocol bgp p { local as 1; neighbor 10.0.0.2 port 0 as 1; }\n",
            "t.cfg:2:53: Invalid port number: found 0, expected 1 to 65535",
        ),
        (
            "function f(int a, int b) { accept; }\n",
            "t.cfg:1:17: found `,`, expected `;` or `)` (BIRD 1.6 separates parameters with `;`)",
        ),
        (
            "router id 10.0.0.1;\nlog syslog all;\n",
            "t.cfg:2:1: found `log`, expected `router id`, `define`, `filter`, `function`, `protocol`, `template` or `listen bgp`",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(error(src), *want, "for:\n{src}");
    }
    // bird6 takes IPv6 neighbors; its router ID stays a dotted quad.
    assert_eq!(
        errors(
            "router id 10.0.0.1;\nprotocol bgp p { local as 1; neighbor 10.0.0.2 as 1; }\n",
            Family::V6
        ),
        [
            "t.cfg:2:39: found IPv4 address 10.0.0.2, expected an IPv6 address: this is bird6, for IPv6"
        ]
    );
}

#[test]
fn values_that_make_no_sense_are_refused_with_their_position() {
    let bgp = |body: &str| format!("{HEAD}protocol bgp p {{\n{body}}}\n");
    let cases: &[(String, &str)] = &[
        (
            bgp("  neighbor 10.0.0.2 as 1;\n"),
            "t.cfg:4:1: Local AS number must be set: found none for p, expected `local as N`",
        ),
        (
            bgp("  local as 1;\n  neighbor 10.0.0.2;\n"),
            "t.cfg:4:3: Remote AS number must be set: found none for p, expected `neighbor ADDRESS as N`",
        ),
        (
            bgp("  local as 1;\n  neighbor 10.0.0.2 as 2;\n  rr client;\n"),
            "t.cfg:5:3: Only internal neighbor can be RR client: found AS 2 for p, expected 1",
        ),
        (
            bgp(&format!(
                "  local as 1;\n  neighbor 10.0.0.2 as 1;\n  password \"{}\";\n",
                "x".repeat(81)
            )),
            "t.cfg:5:3: found a password of 81 characters, expected 1 to 80 (TCP-MD5)",
        ),
        (
            bgp("  local as 1;\n  neighbor 10.0.0.2 as 1;\n  hold time 2;\n"),
            "t.cfg:5:3: found hold time 2, expected 0 or 3 to 65535 seconds",
        ),
        (
            bgp(
                "  local as 1;\n  neighbor 10.0.0.2 as 1;\n  graceful restart;\n  graceful restart time 5000;\n",
            ),
            "t.cfg:6:3: found graceful restart time 5000, expected 0 to 4095 seconds (12 bits in the capability)",
        ),
        (
            bgp("  local as 1;\n  neighbor 10.0.0.2 as 1;\n  error wait time 0,5;\n"),
            "t.cfg:5:3: found error wait time 0,5, expected 0 < min <= max",
        ),
        (
            bgp("  local as 1;\n  neighbor 10.0.0.2 as 1;\n  neighbor 10.0.0.3 as 1;\n"),
            "t.cfg:5:3: Only one neighbor per BGP instance is allowed: found a second neighbor, expected one",
        ),
        (
            format!(
                "{HEAD}protocol bgp a {{ local as 1; neighbor 10.0.0.2 as 1; rr client; rr cluster id 1.1.1.1; }}\n\
                 protocol bgp b {{ local as 1; neighbor 10.0.0.3 as 1; rr client; rr cluster id 2.2.2.2; }}\n"
            ),
            "t.cfg:3:65: found rr cluster id 2.2.2.2 for b, expected 1.1.1.1 as for the other clients (the speaker has one cluster ID)",
        ),
        (
            format!(
                "{HEAD}protocol bgp a {{ local as 1; neighbor 10.0.0.2 as 1; }}\n\
                 protocol bgp b {{ local as 1; neighbor 10.0.0.2 as 1; }}\n\
                 protocol bgp c {{ local as 1; neighbor 10.0.0.2 as 1; disabled; }}\n"
            ),
            "t.cfg:3:14: found neighbor 10.0.0.2 in protocol b too, expected one protocol per neighbor (it is a's)",
        ),
        (
            format!("{HEAD}filter f {{ accept; }}\n"),
            "t.cfg: No protocol is specified in the config file",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(error(src), *want, "for:\n{src}");
    }
    assert_eq!(
        errors("protocol device {}\n", Family::V6),
        ["t.cfg: Router ID must be configured manually on IPv6 routers"]
    );
}

/// Filters the policy cannot express are refused, not approximated silently.
#[test]
fn unsupported_filter_constructs_are_refused_where_they_stand() {
    let export = |body: &str| {
        format!(
            "{HEAD}protocol bgp p {{\n  local as 1;\n  neighbor 10.0.0.2 as 1;\n  export filter {{\n{body}\n  }};\n}}\n"
        )
    };
    let cases: &[(String, &str)] = &[
        (
            export("    bgp_community.add([(1, 2)]);\n    accept;"),
            "t.cfg:6:5: found bgp_community.add(a set), expected bgp_community.add/delete of a pair, bgp_large_community.add/delete of a triple, or bgp_path.prepend of an AS number",
        ),
        (
            export("    if source = RTS_STATIC then accept;\n    reject;"),
            "t.cfg:6:8: found a test for a source of our own routes, expected RTS_BGP (kernel, static and direct routes cannot be told apart)",
        ),
        (
            export("    if net ~ [ 10.0.0.0/16- ] then accept;\n    reject;"),
            "t.cfg:6:8: found 10.0.0.0/16{0,16} in a prefix set, expected lengths from 16 up (shorter prefixes around it cannot be matched)",
        ),
        (
            export("    bgp_local_pref = bgp_med + 1;\n    accept;"),
            "t.cfg:6:5: found bgp_local_pref set to a value computed from the route, expected a constant (policies set fixed values)",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(error(src), *want, "for:\n{src}");
    }
}

#[test]
fn options_without_effect_are_accepted() {
    let src = format!(
        "{HEAD}protocol device {{ debug all; scan time 10; description \"watch\"; }}\n\
         protocol kernel {{ learn; persist; scan time 2; export none; }}\n\
         protocol bgp p {{ debug {{ states, routes }}; local as 1; neighbor 10.0.0.2 as 1; gateway recursive;\n\
           import filter {{ print \"seen \", net; accept; }}; }}\n"
    );
    let cfg = bird::load_str("t.cfg", &src, Family::V4).unwrap();
    assert_eq!(cfg.protocols[0].description.as_deref(), Some("watch"));
    let names: Vec<&str> = cfg.protocols.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["device1", "kernel1", "p"]);
}

/// A directory of its own under the system's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bird-parse-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn includes_are_relative_to_the_including_file_and_globs_sorted() {
    let d = scratch("glob");
    write(
        &d,
        "bird.cfg",
        "router id 10.0.0.1;\ninclude \"conf.d/*.conf\";\n  include \"last.cfg\";\n",
    );
    write(
        &d,
        "conf.d/b.conf",
        "protocol static s2 { route 10.2.0.0/16 blackhole; }\n",
    );
    write(
        &d,
        "conf.d/a.conf",
        "protocol static s1 { route 10.1.0.0/16 blackhole; }\ninclude \"../more/x.cfg\";\n",
    );
    write(&d, "conf.d/.hidden.conf", "this is not read\n");
    std::fs::create_dir_all(d.join("conf.d/dir.conf")).unwrap();
    write(&d, "more/x.cfg", "protocol device {}\n");
    write(&d, "last.cfg", "protocol direct { interface \"eth*\"; }\n");
    let cfg = bird::load(&d.join("bird.cfg"), Family::V4).unwrap();
    let names: Vec<&str> = cfg.protocols.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["s1", "device1", "s2", "direct1"]);
    assert_eq!(cfg.static_routes.len(), 2);
    // A glob that matches nothing includes nothing.
    write(
        &d,
        "bird.cfg",
        "router id 10.0.0.1;\ninclude \"none/*.cfg\";\nprotocol device {}\n",
    );
    assert!(bird::load(&d.join("bird.cfg"), Family::V4).is_ok());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn include_errors_name_the_file_and_the_line() {
    let d = scratch("inc");
    let main = d.join("bird.cfg");
    write(
        &d,
        "bird.cfg",
        "router id 10.0.0.1;\ninclude \"inc.cfg\";\ninclude \"nope.cfg\";\n",
    );
    write(&d, "inc.cfg", "protocol device {}\n");
    let e = bird::load(&main, Family::V4).unwrap_err();
    let m = main.display();
    let nope = d.join("./nope.cfg");
    let nope = nope.display();
    assert_eq!(
        e[0].to_string(),
        format!(
            "{m}:3:1: Unable to open included file {}: No such file or directory",
            d.join("nope.cfg").display()
        ),
        "(not {nope})"
    );
    write(
        &d,
        "bird.cfg",
        "router id 10.0.0.1;\ninclude \"inc.cfg\";\n",
    );
    write(&d, "inc.cfg", "protocol device {\n  scan tme 2;\n}\n");
    let e = bird::load(&main, Family::V4).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        format!(
            "{}:2:8: found `tme`, expected `time`",
            d.join("inc.cfg").display()
        )
    );
    // `bird -p` prints `bird: FILE:LINE:COLUMN MESSAGE` and exits 1.
    let e = bird::check(&main, Family::V4).unwrap_err();
    assert_eq!(
        e[0].bird_line(),
        format!(
            "{}:2:8 found `tme`, expected `time`",
            d.join("inc.cfg").display()
        )
    );
    let _ = std::fs::remove_dir_all(&d);
}
