//! MRT captures written by BIRD, Quagga and OpenBGPD (tests/data/mrtparse-samples,
//! Apache-2.0) and RIPE RIS update dumps (tests/data/ripe-ris): every record is read, every
//! BGP message and RIB attribute block decodes, and re-encodes to the same bytes. GoBGP's
//! fuzz crashers (tests/data/gobgp-bad-len) give typed errors.

use std::fs;
use std::io::Read;
use std::path::Path;

use bgp_core::mrt::{MrtError, MrtReader, RecordBody, SessionTracker, rib_context};
use bgp_core::wire::{Context, DecodeError, Message, PathAttributes};
use bytes::Bytes;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn load(rel: &str) -> Bytes {
    let raw = fs::read(Path::new(DATA).join(rel)).unwrap();
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        Bytes::from(out)
    } else {
        Bytes::from(raw)
    }
}

#[derive(Default, Debug)]
struct Tally {
    records: usize,
    messages: usize,
    rib_entries: usize,
    unsupported: usize,
}

/// Reads every record of a capture, decoding and re-encoding what it holds.
fn walk(rel: &str) -> (Tally, Option<MrtError>) {
    let mut t = Tally::default();
    let mut sessions = SessionTracker::new();
    for rec in MrtReader::new(load(rel)) {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => return (t, Some(e)),
        };
        t.records += 1;
        match rec.body {
            RecordBody::Bgp4mpMessage(m) => {
                let (msg, ctx) = sessions.decode(&m);
                let msg = msg.unwrap_or_else(|e| panic!("{rel} record {}: {e}", t.records));
                let again = msg.to_bytes(&ctx).unwrap();
                assert_eq!(
                    hex::encode(&again),
                    hex::encode(&m.message),
                    "{rel} record {} re-encodes differently",
                    t.records
                );
                t.messages += 1;
            }
            RecordBody::Rib(r) => {
                for e in &r.entries {
                    check_attributes(rel, &e.attributes, &rib_context());
                    t.rib_entries += 1;
                }
            }
            RecordBody::TableDump(e) => {
                // OpenBGPD writes a four-octet AGGREGATOR into these two-octet entries; it is
                // discarded as RFC 7606 says, and nothing else may be wrong.
                let ctx = Context::two_octet();
                let (_, errors) = PathAttributes::decode_block(&e.attributes, &ctx).unwrap();
                if errors.is_empty() {
                    check_attributes(rel, &e.attributes, &ctx);
                } else {
                    assert!(errors.iter().all(|e| e.code == 7), "{rel}: {errors:?}");
                }
                t.rib_entries += 1;
            }
            RecordBody::Unsupported(_) => t.unsupported += 1,
            RecordBody::Bgp4mpStateChange(_) | RecordBody::PeerIndexTable(_) => {}
        }
    }
    (t, None)
}

fn check_attributes(rel: &str, block: &Bytes, ctx: &Context) {
    let (attrs, errors) = PathAttributes::decode_block(block, ctx)
        .unwrap_or_else(|e| panic!("{rel}: attributes {}: {e}", hex::encode(block)));
    assert!(errors.is_empty(), "{rel}: {errors:?}");
    assert_eq!(
        hex::encode(attrs.to_block(ctx).unwrap()),
        hex::encode(block),
        "{rel}: attributes re-encode differently"
    );
}

#[test]
fn daemon_captures_read_to_the_end() {
    // (file, records, BGP messages, RIB entries)
    let expect = [
        ("mrtparse-samples/bird_bgp", 29, 17, 0),
        ("mrtparse-samples/bird6_bgp", 29, 17, 0),
        ("mrtparse-samples/bird-mrtdump_bgp", 27, 15, 0),
        ("mrtparse-samples/bird6-mrtdump_bgp", 27, 15, 0),
        ("mrtparse-samples/openbgpd_bgp", 87, 71, 0),
        ("mrtparse-samples/quagga_bgp", 67, 47, 0),
    ];
    for (rel, records, messages, _) in expect {
        let (t, err) = walk(rel);
        assert_eq!(err, None, "{rel}");
        assert_eq!((t.records, t.messages), (records, messages), "{rel}: {t:?}");
    }
}

#[test]
fn rib_dumps_decode_every_entry() {
    for rel in [
        "mrtparse-samples/bird-mrtdump_rib",
        "mrtparse-samples/bird6-mrtdump_rib",
        "mrtparse-samples/quagga_rib",
        "mrtparse-samples/openbgpd_rib_table",
        "mrtparse-samples/openbgpd_rib_table-v2",
    ] {
        let (t, err) = walk(rel);
        assert_eq!(err, None, "{rel}");
        assert!(t.rib_entries > 0, "{rel}: {t:?}");
        // openbgpd_rib_table-v2 holds two RIB_GENERIC records of a VPN family.
        let generic = if rel.ends_with("-v2") { 2 } else { 0 };
        assert_eq!(t.unsupported, generic, "{rel}: {t:?}");
    }
    // BGP4MP_ENTRY (a subtype from the MRT drafts, not RFC 6396) is framed and skipped.
    let (t, err) = walk("mrtparse-samples/openbgpd_rib_table-mp");
    assert_eq!(err, None);
    assert_eq!((t.records, t.unsupported), (31, 31));
}

#[test]
fn ripe_ris_updates() {
    for (rel, records) in [
        ("ripe-ris/rrc15-updates.20100227.1610.gz", 1953),
        (
            "ripe-ris/rrc03-updates.20100227.1600.first-796-records.gz",
            796,
        ),
    ] {
        let (t, err) = walk(rel);
        assert_eq!(err, None, "{rel}");
        assert_eq!(t.records, records, "{rel}");
        assert!(t.messages > records / 2, "{rel}: {t:?}");
    }
}

#[test]
fn damaged_captures_end_in_a_typed_error() {
    // Shortened records from a historical Zebra bug: every record is framed; the messages in
    // them may be cut, which must give a typed error and never a panic.
    let data = load("ripe-ris/rrc01-updates.20001104.0124.gz");
    let (mut records, mut malformed) = (0, 0);
    for rec in MrtReader::new(data) {
        records += 1;
        match rec {
            Ok(rec) => {
                if let RecordBody::Bgp4mpMessage(m) = rec.body {
                    let _ = Message::decode(&m.message, &m.context());
                }
            }
            Err(MrtError::Malformed { .. }) => malformed += 1,
            Err(e) => panic!("rrc01 frames to the end: {e}"),
        }
    }
    assert_eq!(records, 1286);
    assert!(malformed > 0, "the shortened records are reported");
    // Deprecated type 5 records and two damaged boundaries: the reader stops with an error.
    let data = load("ripe-ris/rrc00-updates.20000325.0345.gz");
    let results: Vec<_> = MrtReader::new(data).collect();
    assert!(matches!(
        results.last(),
        Some(Err(
            MrtError::TruncatedRecord { .. } | MrtError::TruncatedHeader { .. }
        ))
    ));
}

#[test]
fn gobgp_crashers_give_typed_errors() {
    let dir = Path::new(DATA).join("gobgp-bad-len");
    let mut n = 0;
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.file_name().unwrap() == "LICENSE" {
            continue;
        }
        let data = Bytes::from(fs::read(&path).unwrap());
        n += 1;
        for ctx in [Context::default(), Context::two_octet()] {
            // As a whole message, and through the stream splitter.
            let whole = Message::decode(&data, &ctx);
            let mut split = bgp_core::wire::FrameSplitter::default();
            split.push(&data);
            let framed = split.next_frame();
            for r in [whole.map(|_| ()), framed.map(|_| ())] {
                if let Err(e) = r {
                    let n = e.notification();
                    assert!(matches!(n.code, 1 | 3), "{path:?}: {e}");
                    assert!(n.data.len() <= data.len());
                    assert!(!matches!(e, DecodeError::BadMessageType(_)) || n.code == 1);
                }
            }
        }
    }
    assert_eq!(n, 11);
}
