//! ExaBGP's QA messages (tests/data/exabgp-qa, BSD-3-Clause): every message decodes, what
//! ExaBGP expects for the attributes and IP routes is what we decode, and every message
//! re-encodes to the same bytes.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use bgp_core::types::FamilySet;
use bgp_core::wire::attributes::{MpNlri, NextHop, SegmentType};
use bgp_core::wire::{Context, DecodeError, Message, Update};
use bgp_core::{Afi, Family, Safi};
use bytes::Bytes;
use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/exabgp-qa");

struct Case {
    file: String,
    hex: String,
    json: Option<Value>,
}

fn encoding_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut files: Vec<_> = fs::read_dir(Path::new(DATA).join("encoding"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, kind, rest) = (parts.next(), parts.next(), parts.next());
            match (kind, rest) {
                (Some("raw"), Some(rest)) => out.push(Case {
                    file: name.clone(),
                    hex: rest.replace(':', ""),
                    json: None,
                }),
                (Some("json"), Some(rest)) => {
                    out.last_mut().expect("json follows raw").json =
                        Some(serde_json::from_str(rest).unwrap())
                }
                _ => {}
            }
        }
    }
    out
}

fn decoding_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for e in fs::read_dir(Path::new(DATA).join("decoding")).unwrap() {
        let f = e.unwrap().path();
        let text = fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Files whose first line says "nlri" hold a bare NLRI, not a message.
        if lines[0].starts_with("nlri") {
            continue;
        }
        // Line 2 is hex with ':' or ' ' separators, sometimes an UPDATE body without header.
        let mut hex: String = lines[1].chars().filter(char::is_ascii_hexdigit).collect();
        if !hex.to_ascii_uppercase().starts_with(&"F".repeat(32)) {
            hex = format!("{}{:04x}02{hex}", "f".repeat(32), hex.len() / 2 + 19);
        }
        out.push(Case {
            file: f.file_name().unwrap().to_string_lossy().into_owned(),
            hex,
            json: Some(serde_json::from_str(lines[2]).unwrap()),
        });
    }
    out
}

/// The context ExaBGP's configuration for each file implies.
fn context_for(file: &str) -> Context {
    let mut ctx = Context {
        extended_message: true,
        ..Context::default()
    };
    if file.contains("no-asn4") {
        ctx.four_octet_as = false;
    }
    if file.contains("addpath") || file.contains("path-information") {
        ctx.add_path = [
            Family::IPV4_UNICAST,
            Family::IPV6_UNICAST,
            Family::new(Afi::IPV4, Safi::MPLS_VPN),
        ]
        .into_iter()
        .collect::<FamilySet>();
    }
    ctx
}

/// Our decode in ExaBGP's JSON shape, for the parts we interpret.
fn exabgp_view(u: &Update) -> Value {
    let a = &u.attributes;
    let mut attr = serde_json::Map::new();
    if let Some(o) = a.origin {
        let s = ["igp", "egp", "incomplete"][o as usize];
        attr.insert("origin".into(), s.into());
    }
    if let Some(m) = a.med {
        attr.insert("med".into(), m.into());
    }
    if let Some(lp) = a.local_pref {
        attr.insert("local-preference".into(), lp.into());
    }
    if let Some(p) = &a.as_path
        && !p.is_empty()
    {
        let mut segs = serde_json::Map::new();
        for (i, s) in p.segments().enumerate() {
            let element = match s.kind {
                SegmentType::Sequence => "as-sequence",
                SegmentType::Set => "as-set",
                SegmentType::ConfedSequence => "as-sequence-confed",
                SegmentType::ConfedSet => "as-set-confed",
            };
            segs.insert(
                i.to_string(),
                serde_json::json!({"element": element, "value": s.asns().collect::<Vec<_>>()}),
            );
        }
        attr.insert("as-path".into(), Value::Object(segs));
    }
    if let Some(c) = &a.communities {
        let v: Vec<Value> = c
            .iter()
            .map(|c| serde_json::json!([c.0 >> 16, c.0 & 0xffff]))
            .collect();
        attr.insert("community".into(), v.into());
    }
    if let Some(c) = &a.large_communities {
        let v: Vec<Value> = c
            .iter()
            .map(|c| serde_json::json!([c.global, c.local1, c.local2]))
            .collect();
        attr.insert("large-community".into(), v.into());
    }
    if let Some(c) = &a.ext_communities {
        let v: Vec<Value> = c
            .iter()
            .map(|c| serde_json::json!({ "value": u64::from_be_bytes(c.0) }))
            .collect();
        attr.insert("extended-community".into(), v.into());
    }
    if let Some(id) = a.originator_id {
        attr.insert("originator-id".into(), id.to_string().into());
    }
    if let Some(cl) = &a.cluster_list {
        let v: Vec<Value> = cl.iter().map(|c| c.to_string().into()).collect();
        attr.insert("cluster-list".into(), v.into());
    }

    let nlri_list = |p: &bgp_core::wire::Prefixes| -> Vec<Value> {
        p.iter()
            .map(|e| match e.path_id {
                None => serde_json::json!({"nlri": e.prefix.to_string()}),
                Some(id) => serde_json::json!({
                    "nlri": e.prefix.to_string(),
                    "path-information": std::net::Ipv4Addr::from(id).to_string()
                }),
            })
            .collect()
    };
    let mut announce = BTreeMap::<String, serde_json::Map<String, Value>>::new();
    if !u.nlri.is_empty() {
        let nh = a.next_hop.map(|n| n.to_string()).unwrap_or_default();
        announce
            .entry("ipv4 unicast".into())
            .or_default()
            .insert(nh, nlri_list(&u.nlri).into());
    }
    if let Some(m) = &a.mp_reach
        && let MpNlri::Prefixes(p) = &m.nlri
    {
        let nh = match &m.next_hop {
            NextHop::Ipv4(a) => a.to_string(),
            NextHop::Ipv6 { global, .. } => global.to_string(),
            NextHop::Other(_) => String::new(),
        };
        announce
            .entry(m.family.to_string())
            .or_default()
            .insert(nh, nlri_list(p).into());
    }
    let mut withdraw = serde_json::Map::new();
    if !u.withdrawn.is_empty() {
        withdraw.insert("ipv4 unicast".into(), nlri_list(&u.withdrawn).into());
    }
    if let Some(m) = &a.mp_unreach
        && let MpNlri::Prefixes(p) = &m.nlri
        && !p.is_empty()
    {
        withdraw.insert(m.family.to_string(), nlri_list(p).into());
    }
    serde_json::json!({"attribute": attr, "announce": announce, "withdraw": withdraw})
}

/// ExaBGP's expectation, reduced to what [`exabgp_view`] shows.
fn expected_view(j: &Value) -> Option<Value> {
    let u = j.pointer("/neighbor/message/update")?;
    let mut attr = serde_json::Map::new();
    if let Some(src) = u.get("attribute").and_then(Value::as_object) {
        for (k, v) in src {
            let v = match k.as_str() {
                "origin" | "med" | "local-preference" | "as-path" | "community"
                | "large-community" | "originator-id" | "cluster-list" => v.clone(),
                "extended-community" => v
                    .as_array()?
                    .iter()
                    .map(|c| serde_json::json!({"value": c["value"]}))
                    .collect::<Vec<_>>()
                    .into(),
                _ => continue,
            };
            attr.insert(k.clone(), v);
        }
    }
    let mut announce = serde_json::Map::new();
    if let Some(src) = u.get("announce").and_then(Value::as_object) {
        for (fam, v) in src {
            if fam == "ipv4 unicast" || fam == "ipv6 unicast" {
                announce.insert(fam.clone(), v.clone());
            }
        }
    }
    let mut withdraw = serde_json::Map::new();
    if let Some(src) = u.get("withdraw").and_then(Value::as_object) {
        for (fam, v) in src {
            if fam == "ipv4 unicast" || fam == "ipv6 unicast" {
                withdraw.insert(fam.clone(), v.clone());
            }
        }
    }
    Some(serde_json::json!({"attribute": attr, "announce": announce, "withdraw": withdraw}))
}

/// Messages ExaBGP accepts that RFC 4271 6.3 tells us to refuse: an attribute with the
/// Optional bit clear whose type we do not know is an Unrecognized Well-known Attribute.
fn expected_refusal(file: &str, e: &DecodeError) -> bool {
    file == "conf-generic-attribute.ci"
        && matches!(
            e,
            DecodeError::UnrecognizedWellKnownAttribute { code: 0x99, .. }
        )
}

#[test]
fn every_message_decodes_matches_and_reencodes() {
    let mut cases = encoding_cases();
    cases.extend(decoding_cases());
    assert!(
        cases.len() >= 180,
        "corpus incomplete: {} cases",
        cases.len()
    );
    let (mut compared, mut refused) = (0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let bytes = Bytes::from(hex::decode(&case.hex).unwrap());
        let ctx = context_for(&case.file);
        let msg = match Message::decode(&bytes, &ctx) {
            Ok(m) => m,
            Err(e) if expected_refusal(&case.file, &e) => {
                refused += 1;
                continue;
            }
            Err(e) if case.file == "unknown-message.ci" => {
                assert_eq!(e, DecodeError::BadMessageType(0xff), "{}", case.file);
                continue;
            }
            Err(e) => {
                failures.push(format!("{} {}: decode error {e}", case.file, case.hex));
                continue;
            }
        };
        let again = msg.to_bytes(&ctx).unwrap();
        if again != bytes {
            failures.push(format!(
                "{}: re-encode differs\n  in  {}\n  out {}",
                case.file,
                case.hex.to_lowercase(),
                hex::encode(&again)
            ));
        }
        if let (Message::Update(u), Some(j)) = (&msg, &case.json) {
            let Some(want) = expected_view(j) else {
                continue;
            };
            let got = exabgp_view(u);
            if got != want {
                failures.push(format!(
                    "{}: decode differs\n  want {want}\n  got  {got}",
                    case.file
                ));
            }
            compared += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(compared >= 100, "only {compared} decodes compared");
    assert_eq!(
        refused, 2,
        "both 0x99 attributes of conf-generic-attribute.ci"
    );
}
