//! The malformed messages sent by the hostile-peer test, each with the answer RFC 4271
//! section 6, RFC 6608 and RFC 7606 call for; and the single messages of the shared corpora.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::Path;

use super::raw::{ibgp_attrs, msg, open_body, prefix, std_params, update};

/// What the reflector must do with a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// NOTIFICATION code, subcode and exactly this data; the session ends.
    Notify(u8, u8, Vec<u8>),
    /// NOTIFICATION code and subcode, data not checked beyond its bound.
    NotifyAny(u8, u8),
    /// Session reset: a NOTIFICATION of this code, any subcode.
    Reset(u8),
    /// RFC 7606 treat-as-withdraw: the session stays, the UPDATE's prefix is gone.
    Withdraw,
    /// RFC 7606 attribute discard: the session stays, the UPDATE's prefix is there.
    Discard,
    /// A valid message: the session stays.
    Kept,
    /// Corpus input without a stated answer: the session stays, or a NOTIFICATION of a
    /// defined code (1 to 7) whose data is no longer than the message.
    Defined,
}

/// When the message is sent: instead of our OPEN, or once the session is Established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Open,
    Established,
}

#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub phase: Phase,
    pub bytes: Vec<u8>,
    pub expect: Expect,
}

pub const ASN: u32 = 65000;

fn case(name: &str, phase: Phase, bytes: Vec<u8>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        phase,
        bytes,
        expect,
    }
}

/// The UPDATE announcing `p`/32 with `attrs`.
fn announce(p: Ipv4Addr, attrs: &[u8]) -> Vec<u8> {
    update(&[], attrs, &prefix(p, 32))
}

/// The attributes of a good route with attribute `code` replaced by `with` (or dropped
/// when `with` is empty), then `extra` appended.
fn attrs_with(nh: Ipv4Addr, code: u8, with: &[u8], extra: &[u8]) -> Vec<u8> {
    let good = ibgp_attrs(nh);
    let mut out = Vec::new();
    let mut i = 0;
    while i < good.len() {
        let len = good[i + 2] as usize;
        let attr = &good[i..i + 3 + len];
        if good[i + 1] == code {
            out.extend_from_slice(with);
        } else {
            out.extend_from_slice(attr);
        }
        i += 3 + len;
    }
    out.extend_from_slice(extra);
    out
}

/// Every generated case. `src` is the sender's address (its NEXT_HOP), `p` the prefix the
/// UPDATE cases announce, `our_id` the reflector's identifier.
pub fn generated(src: Ipv4Addr, p: Ipv4Addr, our_id: Ipv4Addr) -> Vec<Case> {
    use Expect::*;
    use Phase::*;
    let o = |v: u8, asn: u32, hold: u16, id: Ipv4Addr, params: &[u8]| {
        msg(1, &open_body(v, asn, hold, id, params))
    };
    let sp = std_params(ASN);
    let mut bad_marker = super::raw::keepalive();
    bad_marker[3] = 0;
    let mut long_header = super::raw::keepalive();
    long_header[16..18].copy_from_slice(&4097u16.to_be_bytes());
    let mut short_header = super::raw::keepalive();
    short_header[16..18].copy_from_slice(&18u16.to_be_bytes());
    let nlri = prefix(p, 32);
    let good = ibgp_attrs(src);
    // MP_REACH_NLRI, IPv6 unicast: next hop fd00:11::5 with length `nh_len`, one /128.
    let mp_reach = |nh_len: u8| {
        let mut val = vec![0, 2, 1, nh_len, 0xfd, 0, 0, 0x11];
        val.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 128, 0xfd, 0, 0, 0x99]);
        val.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let mut a = vec![0x80, 14, val.len() as u8];
        a.extend_from_slice(&val);
        a
    };
    let mp = mp_reach(16);
    let mp_attrs = attrs_with(src, 3, &[], &mp);
    vec![
        // Message header (RFC 4271 6.1).
        case(
            "open-bad-marker",
            Open,
            bad_marker.clone(),
            Notify(1, 1, vec![]),
        ),
        case("bad-marker", Established, bad_marker, Notify(1, 1, vec![])),
        case(
            "length-4097",
            Established,
            long_header,
            Notify(1, 2, vec![0x10, 0x01]),
        ),
        case(
            "length-18",
            Established,
            short_header,
            Notify(1, 2, vec![0, 18]),
        ),
        case(
            "keepalive-with-body",
            Established,
            msg(4, &[0]),
            Notify(1, 2, vec![0, 20]),
        ),
        case("type-9", Established, msg(9, &[]), Notify(1, 3, vec![9])),
        case("type-0", Established, msg(0, &[]), Notify(1, 3, vec![0])),
        case(
            "open-length-25",
            Open,
            msg(1, &[4, 0xfd, 0xe8, 0, 90, 10]),
            Notify(1, 2, vec![0, 25]),
        ),
        case(
            "update-length-21",
            Established,
            msg(2, &[0, 0]),
            Notify(1, 2, vec![0, 21]),
        ),
        // OPEN (RFC 4271 6.2, RFC 6286, RFC 6608). RFC 4271 gives no data for Bad Peer AS
        // and Bad BGP Identifier; the received field is sent back, as FRR does.
        case(
            "open-version-3",
            Open,
            o(3, ASN, 90, src, &sp),
            Notify(2, 1, vec![0, 4]),
        ),
        case(
            "open-version-5",
            Open,
            o(5, ASN, 90, src, &sp),
            Notify(2, 1, vec![0, 4]),
        ),
        case(
            "open-bad-as",
            Open,
            o(4, 65001, 90, src, &std_params(65001)),
            Notify(2, 2, vec![0xfd, 0xe9]),
        ),
        case(
            "open-hold-1",
            Open,
            o(4, ASN, 1, src, &sp),
            Notify(2, 6, vec![]),
        ),
        case(
            "open-hold-2",
            Open,
            o(4, ASN, 2, src, &sp),
            Notify(2, 6, vec![]),
        ),
        case(
            "open-id-zero",
            Open,
            o(4, ASN, 90, Ipv4Addr::UNSPECIFIED, &sp),
            Notify(2, 3, vec![0; 4]),
        ),
        case(
            "open-id-ours",
            Open,
            o(4, ASN, 90, our_id, &sp),
            Notify(2, 3, our_id.octets().to_vec()),
        ),
        case(
            "open-param-99",
            Open,
            o(4, ASN, 90, src, &[99, 2, 0, 0]),
            Notify(2, 4, vec![]),
        ),
        case(
            "open-params-overrun",
            Open,
            o(4, ASN, 90, src, &[2, 40, 1, 4, 0, 1]),
            NotifyAny(2, 0),
        ),
        case(
            "update-before-open",
            Open,
            announce(p, &good),
            Notify(5, 1, vec![]),
        ),
        case(
            "open-when-established",
            Established,
            o(4, ASN, 90, src, &sp),
            Notify(5, 3, vec![]),
        ),
        case(
            "route-refresh-short",
            Established,
            msg(5, &[0, 1, 0]),
            Notify(7, 1, msg(5, &[0, 1, 0])),
        ),
        // UPDATE lengths (RFC 4271 6.3, RFC 7606 4 and 5.3).
        case(
            "withdrawn-length-overrun",
            Established,
            msg(2, &[0xff, 0xff, 0, 0]),
            Notify(3, 1, vec![]),
        ),
        case(
            "attribute-length-overrun",
            Established,
            msg(2, &[0, 0, 0xff, 0, 0x40, 1, 1, 0]),
            Notify(3, 1, vec![]),
        ),
        case(
            "attribute-overruns-list",
            Established,
            update(
                &[],
                &attrs_with(src, 5, &[0x40, 5, 40, 0, 0, 0, 100], &[]),
                &nlri,
            ),
            Withdraw,
        ),
        case(
            "attribute-list-tail-2",
            Established,
            update(&[], &[good.clone(), vec![0x40, 8]].concat(), &nlri),
            Withdraw,
        ),
        case(
            "nlri-length-33",
            Established,
            update(&[], &good, &[33, 10, 0, 0, 0, 0]),
            Notify(3, 10, vec![]),
        ),
        case(
            "nlri-truncated",
            Established,
            update(&[], &good, &[32, 10, 0]),
            Notify(3, 10, vec![]),
        ),
        case(
            "withdrawn-length-33",
            Established,
            update(&[33, 10, 0, 0, 0, 0], &[], &[]),
            Notify(3, 10, vec![]),
        ),
        // Flags, mandatory attributes, duplicates, values (RFC 7606 3 and 7).
        case(
            "origin-optional-flag",
            Established,
            update(&[], &attrs_with(src, 1, &[0xc0, 1, 1, 0], &[]), &nlri),
            Withdraw,
        ),
        case(
            "origin-length-0",
            Established,
            update(&[], &attrs_with(src, 1, &[0x40, 1, 0], &[]), &nlri),
            Withdraw,
        ),
        case(
            "origin-7",
            Established,
            update(&[], &attrs_with(src, 1, &[0x40, 1, 1, 7], &[]), &nlri),
            Withdraw,
        ),
        case(
            "missing-next-hop",
            Established,
            update(&[], &attrs_with(src, 3, &[], &[]), &nlri),
            Withdraw,
        ),
        case(
            "missing-origin",
            Established,
            update(&[], &attrs_with(src, 1, &[], &[]), &nlri),
            Withdraw,
        ),
        case(
            "duplicate-origin",
            Established,
            update(&[], &[good.clone(), vec![0x40, 1, 1, 2]].concat(), &nlri),
            Discard,
        ),
        case(
            "duplicate-mp-reach",
            Established,
            update(&[], &[mp_attrs.clone(), mp.clone()].concat(), &[]),
            Notify(3, 1, vec![]),
        ),
        case(
            "next-hop-length-3",
            Established,
            update(
                &[],
                &attrs_with(src, 3, &[0x40, 3, 3, 10, 11, 0], &[]),
                &nlri,
            ),
            Withdraw,
        ),
        case(
            "next-hop-zero",
            Established,
            update(
                &[],
                &attrs_with(src, 3, &[0x40, 3, 4, 0, 0, 0, 0], &[]),
                &nlri,
            ),
            Withdraw,
        ),
        case(
            "as-path-segment-overrun",
            Established,
            update(
                &[],
                &attrs_with(src, 2, &[0x40, 2, 6, 2, 5, 0, 0, 0xfd, 0xe8], &[]),
                &nlri,
            ),
            Withdraw,
        ),
        case(
            "as-path-segment-type-9",
            Established,
            update(
                &[],
                &attrs_with(src, 2, &[0x40, 2, 6, 9, 1, 0, 0, 0xfd, 0xe8], &[]),
                &nlri,
            ),
            Withdraw,
        ),
        case(
            "as-path-segment-length-0",
            Established,
            update(&[], &attrs_with(src, 2, &[0x40, 2, 2, 2, 0], &[]), &nlri),
            Withdraw,
        ),
        case(
            "local-pref-length-2",
            Established,
            update(&[], &attrs_with(src, 5, &[0x40, 5, 2, 0, 100], &[]), &nlri),
            Withdraw,
        ),
        case(
            "atomic-aggregate-length-1",
            Established,
            update(&[], &[good.clone(), vec![0x40, 6, 1, 0]].concat(), &nlri),
            Discard,
        ),
        case(
            "unknown-well-known-attr",
            Established,
            update(&[], &[good.clone(), vec![0x40, 99, 1, 0]].concat(), &nlri),
            NotifyAny(3, 2),
        ),
        case(
            "mp-reach-next-hop-overrun",
            Established,
            update(&[], &attrs_with(src, 3, &[], &mp_reach(200)), &[]),
            NotifyAny(3, 1),
        ),
        case(
            "mp-reach-truncated",
            Established,
            update(&[], &attrs_with(src, 3, &[], &[0x80, 14, 3, 0, 2, 1]), &[]),
            NotifyAny(3, 1),
        ),
        case(
            "mp-unreach-only",
            Established,
            update(&[], &[0x80, 15, 3, 0, 2, 1], &[]),
            Kept,
        ),
        case("end-of-rib-v4", Established, update(&[], &[], &[]), Kept),
        case("valid", Established, announce(p, &good), Discard),
    ]
}

/// A case from the shared corpora: its file, and the message (`None` if the file's entry is
/// not a single whole BGP message).
pub fn corpus(dir: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    let mut add = |name: String, hex_text: &str, expect: Expect| {
        let Ok(bytes) = hex::decode(hex_text.trim()) else {
            return;
        };
        if bytes.len() < 19 {
            return;
        }
        // A KEEPALIVE or NOTIFICATION from a peer is no test of our parser.
        if bytes[16..18] == (bytes.len() as u16).to_be_bytes() && matches!(bytes[18], 3 | 4) {
            return;
        }
        let phase = if bytes[18] == 1 {
            Phase::Open
        } else {
            Phase::Established
        };
        out.push(Case {
            name,
            phase,
            bytes,
            expect: expect.clone(),
        });
    };
    let mut files: Vec<_> = std::fs::read_dir(dir.join("exabgp-qa/encoding"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let file = f.file_name().unwrap().to_string_lossy().into_owned();
        for (i, line) in text.lines().enumerate() {
            let mut parts = line.splitn(3, ':');
            if let (_, Some("raw"), Some(rest)) = (parts.next(), parts.next(), parts.next()) {
                add(
                    format!("exabgp {file}:{}", i + 1),
                    &rest.replace(':', ""),
                    Expect::Defined,
                );
            }
        }
    }
    let mut files: Vec<_> = std::fs::read_dir(dir.join("exabgp-qa/decoding"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() >= 2 && !lines[0].starts_with("nlri") {
            let name = format!("exabgp {}", f.file_name().unwrap().to_string_lossy());
            add(name, lines[1], Expect::Defined);
        }
    }
    let mut files: Vec<_> = std::fs::read_dir(dir.join("gobgp-bad-len"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name == "LICENSE" {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap_or_default();
        // GoBGP's rule (its TestParseMessageWithBadLength): a header error for a bad
        // marker, else a well-formed answer; ours is checked by marker below.
        let expect = if bytes.len() >= 16 && bytes[..16].iter().any(|b| *b != 0xff) {
            Expect::Notify(1, 1, vec![])
        } else {
            Expect::Defined
        };
        out.push(Case {
            name: format!("gobgp-bad-len {name}"),
            phase: Phase::Established,
            bytes,
            expect,
        });
    }
    out
}

/// The FRR RFC 7606 cases: an attribute (type, flags, value) replacing or joining a good
/// route's attributes, with the iBGP outcome the table gives.
pub fn frr_rfc7606(dir: &Path, src: Ipv4Addr, p: Ipv4Addr) -> Vec<Case> {
    let Ok(text) = std::fs::read_to_string(dir.join("frr-rfc7606/rfc7606-cases.json")) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    let resets = &v["suites"]["session_reset_expected_notification"];
    for (suite, cases) in v["suites"].as_object().unwrap() {
        let Some(cases) = cases.as_array() else {
            continue;
        };
        for c in cases.iter().filter(|c| c.is_object()) {
            let name = format!("frr {suite} {}", c["name"].as_str().unwrap());
            if c["skip_peer_sorts"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x == "ibgp"))
            {
                continue;
            }
            let code = c["attr_type"].as_u64().unwrap_or(3) as u8;
            let flags = u8::from_str_radix(
                c["flags"]
                    .as_str()
                    .unwrap_or("0x40")
                    .trim_start_matches("0x"),
                16,
            )
            .unwrap();
            let value = hex::decode(c["value_hex"].as_str().unwrap_or("")).unwrap();
            let mut attr = vec![flags, code, value.len() as u8];
            attr.extend_from_slice(&value);
            // Mandatory attributes replace the good one; others are added after it.
            let attrs = if let Some(nh) = c["nexthop"].as_str() {
                let o = nh.parse::<Ipv4Addr>().unwrap().octets();
                attrs_with(src, 3, &[0x40, 3, 4, o[0], o[1], o[2], o[3]], &[])
            } else if matches!(code, 1..=3 | 5) {
                attrs_with(src, code, &attr, &[])
            } else {
                attrs_with(src, 0, &[], &attr)
            };
            let expect = match c["outcome"]["ibgp"].as_str().unwrap() {
                "withdraw" => Expect::Withdraw,
                "discard" | "attr-discard" => Expect::Discard,
                "session-reset" => {
                    let n = &resets[c["name"].as_str().unwrap()];
                    match (n["code"].as_u64(), n["subcode"].as_u64()) {
                        (Some(a), Some(b)) => Expect::NotifyAny(a as u8, b as u8),
                        _ => Expect::Reset(3),
                    }
                }
                other => panic!("{name}: outcome {other}"),
            };
            out.push(Case {
                name,
                phase: Phase::Established,
                bytes: update(&[], &attrs, &prefix(p, 32)),
                expect,
            });
        }
    }
    out
}
