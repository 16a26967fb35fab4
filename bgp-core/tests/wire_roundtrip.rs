//! Property tests: every message, capability and attribute survives encode then decode, and
//! decoding arbitrary or mutated bytes never panics and bounds what it reports.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_core::types::FamilySet;
use bgp_core::wire::attributes::{
    Aggregator, AsPath, ClusterList, Communities, Community, ExtCommunities, ExtCommunity,
    LargeCommunities, LargeCommunity, MpNlri, MpReach, MpUnreach, NextHop, Origin, PathAttributes,
    RawAttribute, Segment, SegmentType,
};
use bgp_core::wire::open::{AddPathMode, GracefulRestartFamily, LlgrFamily};
use bgp_core::wire::{
    Capability, Context, FrameSplitter, Message, NlriEntry, Notification, Open, Prefixes,
    RouteRefresh, Update,
};
use bgp_core::{Afi, Family, Safi};
use bytes::Bytes;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::prelude::*;

fn v4_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u32>(), 0u8..=32)
        .prop_map(|(a, l)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc()))
}

fn v6_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u128>(), 0u8..=128)
        .prop_map(|(a, l)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc()))
}

fn prefixes(afi: Afi, add_path: bool, max: usize) -> impl Strategy<Value = Prefixes> {
    let p = if afi == Afi::IPV4 {
        v4_prefix().boxed()
    } else {
        v6_prefix().boxed()
    };
    vec((p, any::<u32>()), 0..max).prop_map(move |v| {
        let entries = v.into_iter().map(|(prefix, id)| NlriEntry {
            path_id: add_path.then_some(id),
            prefix,
        });
        Prefixes::from_entries(afi, add_path, entries).unwrap()
    })
}

fn asn() -> impl Strategy<Value = u32> {
    prop_oneof![1u32..65536, 1u32..=u32::MAX]
}

fn as_path(allow_confed: bool) -> impl Strategy<Value = AsPath> {
    let kind = if allow_confed {
        prop_oneof![
            Just(SegmentType::Sequence),
            Just(SegmentType::Set),
            Just(SegmentType::ConfedSequence),
            Just(SegmentType::ConfedSet)
        ]
        .boxed()
    } else {
        prop_oneof![Just(SegmentType::Sequence), Just(SegmentType::Set)].boxed()
    };
    vec((kind, vec(asn(), 1..8)), 0..4).prop_map(|segs| {
        let segs: Vec<Segment> = segs
            .into_iter()
            .map(|(kind, asns)| Segment { kind, asns })
            .collect();
        AsPath::from_segments(&segs)
    })
}

/// A usable unicast IPv4 next hop.
fn next_hop() -> impl Strategy<Value = Ipv4Addr> {
    (1u8..127, any::<[u8; 3]>()).prop_map(|(a, b)| Ipv4Addr::new(a, b[0], b[1], b[2]))
}

fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

prop_compose! {
    fn attributes(mp: bool)(
        origin in prop_oneof![Just(Origin::Igp), Just(Origin::Egp), Just(Origin::Incomplete)],
        path in as_path(true),
        nh in next_hop(),
        med in proptest::option::of(any::<u32>()),
        lp in proptest::option::of(any::<u32>()),
        atomic in any::<bool>(),
        agg in proptest::option::of((asn(), any::<u32>())),
        comms in proptest::option::of(vec(any::<u32>(), 1..6)),
        originator in proptest::option::of(any::<u32>()),
        clusters in proptest::option::of(vec(any::<u32>(), 1..4)),
        ext in proptest::option::of(vec(any::<[u8; 8]>(), 1..4)),
        large in proptest::option::of(vec(any::<(u32, u32, u32)>(), 1..4)),
        otc in proptest::option::of(1u32..),
        unknown in proptest::option::of((200u8..=255, vec(any::<u8>(), 0..300))),
        v6 in prefixes(Afi::IPV6, false, 20),
        v6w in prefixes(Afi::IPV6, false, 20),
        gl in ipv6(),
        ll in proptest::option::of(ipv6()),
    ) -> PathAttributes {
        PathAttributes {
            origin: Some(origin),
            as_path: Some(path),
            next_hop: Some(nh),
            med,
            local_pref: lp,
            atomic_aggregate: atomic,
            aggregator: agg.map(|(asn, a)| Aggregator { asn, address: Ipv4Addr::from(a) }),
            communities: comms.map(|v| v.into_iter().map(Community).collect::<Communities>()),
            originator_id: originator.map(Ipv4Addr::from),
            cluster_list: clusters
                .map(|v| v.into_iter().map(Ipv4Addr::from).collect::<ClusterList>()),
            mp_reach: mp.then(|| MpReach {
                family: Family::IPV6_UNICAST,
                next_hop: NextHop::Ipv6 { global: gl, link_local: ll },
                nlri: MpNlri::Prefixes(v6),
            }),
            mp_unreach: (mp && !v6w.is_empty()).then(|| MpUnreach {
                family: Family::IPV6_UNICAST,
                nlri: MpNlri::Prefixes(v6w),
            }),
            ext_communities: ext
                .map(|v| v.into_iter().map(ExtCommunity).collect::<ExtCommunities>()),
            large_communities: large.map(|v| {
                v.into_iter()
                    .map(|(global, local1, local2)| LargeCommunity { global, local1, local2 })
                    .collect::<LargeCommunities>()
            }),
            otc,
            other: unknown
                .map(|(code, value)| {
                    // The flags are kept as received, extended-length bit included.
                    let flags = if value.len() > 255 { 0xd0 } else { 0xc0 };
                    vec![RawAttribute { flags, code, value: Bytes::from(value) }]
                })
                .unwrap_or_default(),
            ..PathAttributes::default()
        }
    }
}

fn family() -> impl Strategy<Value = Family> {
    (prop_oneof![Just(1u16), Just(2), any::<u16>()], any::<u8>())
        .prop_map(|(a, s)| Family::new(Afi(a), Safi(s)))
}

fn capability() -> impl Strategy<Value = Capability> {
    let name = "[a-z0-9.-]{0,20}";
    prop_oneof![
        family().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        Just(Capability::RouteRefreshCisco),
        any::<u8>().prop_map(Capability::Role),
        asn().prop_map(Capability::FourOctetAs),
        vec(
            (
                (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Family::new(Afi(a), Safi(s))),
                any::<u16>()
            ),
            0..4
        )
        .prop_map(|v| Capability::ExtendedNextHop(
            v.into_iter().map(|(f, nh)| (f, Afi(nh))).collect()
        )),
        (
            any::<bool>(),
            any::<bool>(),
            0u16..4096,
            vec((family(), any::<bool>()), 0..4)
        )
            .prop_map(|(r, n, t, fams)| Capability::GracefulRestart {
                restarting: r,
                notification: n,
                restart_time: t,
                families: fams
                    .into_iter()
                    .map(|(family, f)| GracefulRestartFamily {
                        family,
                        forwarding_preserved: f
                    })
                    .collect(),
            }),
        vec(
            (
                family(),
                prop_oneof![
                    Just(AddPathMode::Receive),
                    Just(AddPathMode::Send),
                    Just(AddPathMode::Both)
                ]
            ),
            0..4
        )
        .prop_map(Capability::AddPath),
        vec((family(), any::<bool>(), 0u32..(1 << 24)), 0..3).prop_map(|v| {
            Capability::LongLivedGracefulRestart(
                v.into_iter()
                    .map(|(family, f, stale_time)| LlgrFamily {
                        family,
                        forwarding_preserved: f,
                        stale_time,
                    })
                    .collect(),
            )
        }),
        (name, name).prop_map(|(hostname, domain)| Capability::Fqdn { hostname, domain }),
        name.prop_map(Capability::SoftwareVersion),
        (150u8..=255, vec(any::<u8>(), 0..20)).prop_map(|(code, v)| Capability::Unknown {
            code,
            value: Bytes::from(v)
        }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    (
        any::<u16>(),
        prop_oneof![Just(0u16), 3u16..],
        any::<u32>(),
        vec(vec(capability(), 0..5), 0..4),
        any::<bool>(),
    )
        .prop_map(|(my_as, hold_time, id, parameters, ext)| Open {
            version: 4,
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            parameters,
            extended_parameters: ext,
        })
}

fn update(add_path: bool) -> impl Strategy<Value = Update> {
    (
        prefixes(Afi::IPV4, add_path, 40),
        prefixes(Afi::IPV4, add_path, 40),
        any::<bool>(),
        attributes(true),
        attributes(false),
    )
        .prop_map(|(withdrawn, nlri, mp, with_mp, plain)| {
            let attributes = if mp {
                with_mp
            } else if nlri.is_empty() {
                PathAttributes::default()
            } else {
                plain
            };
            Update::new(withdrawn, attributes, nlri)
        })
}

fn message(add_path: bool) -> impl Strategy<Value = Message> {
    prop_oneof![
        open().prop_map(Message::Open),
        update(add_path).prop_map(Message::from),
        (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..64)).prop_map(|(c, s, d)| {
            Message::Notification(Notification::new(c, s, Bytes::from(d)))
        }),
        Just(Message::Keepalive),
        (family(), 0u8..3).prop_map(|(family, subtype)| Message::RouteRefresh(RouteRefresh {
            family,
            subtype,
            orf: Bytes::new()
        })),
    ]
}

fn contexts() -> impl Strategy<Value = Context> {
    (any::<bool>(), any::<bool>()).prop_map(|(four, add_path)| Context {
        four_octet_as: four,
        add_path: if add_path {
            FamilySet::from_iter([Family::IPV4_UNICAST, Family::IPV6_UNICAST])
        } else {
            FamilySet::EMPTY
        },
        extended_message: true,
        ..Context::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn messages_roundtrip_four_octet(add_path in any::<bool>(), m in message(false)) {
        // ADD-PATH is a property of the context; entries carry path ids only when it is on.
        let ctx = Context {
            add_path: if add_path {
                FamilySet::from_iter([Family::IPV4_UNICAST])
            } else {
                FamilySet::EMPTY
            },
            extended_message: true,
            ..Context::default()
        };
        let bytes = m.to_bytes(&ctx).unwrap();
        let back = Message::decode(&bytes, &ctx).unwrap();
        if let Message::Update(u) = &back {
            prop_assert!(u.errors.is_empty(), "{:?}", u.errors);
        }
        // With ADD-PATH on, entries built without path ids come back with id 0.
        let back_bytes = back.to_bytes(&ctx).unwrap();
        prop_assert_eq!(&back_bytes, &bytes);
        if !add_path {
            prop_assert_eq!(back, m);
        }
    }

    #[test]
    fn add_path_updates_roundtrip(u in update(true)) {
        let ctx = Context {
            add_path: FamilySet::from_iter([Family::IPV4_UNICAST, Family::IPV6_UNICAST]),
            extended_message: true,
            ..Context::default()
        };
        let m = Message::from(u);
        let bytes = m.to_bytes(&ctx).unwrap();
        let back = Message::decode(&bytes, &ctx).unwrap();
        prop_assert_eq!(back.to_bytes(&ctx).unwrap(), bytes);
        if let (Message::Update(a), Message::Update(b)) = (&back, &m) {
            prop_assert_eq!(a.nlri.iter().collect::<Vec<_>>(), b.nlri.iter().collect::<Vec<_>>());
            prop_assert_eq!(
                a.withdrawn.iter().collect::<Vec<_>>(),
                b.withdrawn.iter().collect::<Vec<_>>()
            );
        }
    }

    /// To a two-octet peer and back: AS4_PATH carries what AS_PATH cannot, and the merge
    /// restores the path (AGGREGATOR left out: RFC 6793 drops AS4_PATH when an old speaker
    /// aggregated).
    #[test]
    fn two_octet_peers_see_the_same_path(path in as_path(false)) {
        let ctx = Context { extended_message: true, ..Context::two_octet() };
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(path),
            next_hop: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ..PathAttributes::default()
        };
        let nlri = Prefixes::from_entries(Afi::IPV4, false, ["10.0.0.0/8".parse::<IpNet>().unwrap()]).unwrap();
        let u = Update::new(Prefixes::empty(Afi::IPV4, false), attrs.clone(), nlri);
        let bytes = Message::from(u).to_bytes(&ctx).unwrap();
        let Message::Update(mut back) = Message::decode(&bytes, &ctx).unwrap() else {
            panic!("not an update");
        };
        back.attributes.merge_as4();
        // Adjacent AS_SEQUENCEs may come back joined: compare the path, not the segmenting.
        let flat = |p: &AsPath| -> Vec<(bool, Vec<u32>)> {
            p.segments().map(|s| (s.kind == SegmentType::Set, s.asns().collect())).collect()
        };
        let (got, want) = (back.attributes.as_path.unwrap(), attrs.as_path.unwrap());
        prop_assert_eq!(got.asns().collect::<Vec<_>>(), want.asns().collect::<Vec<_>>());
        prop_assert_eq!(got.path_len(), want.path_len());
        let (fg, fw) = (flat(&got), flat(&want));
        let sets = |f: &[(bool, Vec<u32>)]| f.iter().filter(|s| s.0).cloned().collect::<Vec<_>>();
        prop_assert_eq!(sets(&fg), sets(&fw));
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(ctx in contexts(), body in vec(any::<u8>(), 0..600), ty in 1u8..=5) {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        m.push(ty);
        m.extend_from_slice(&body);
        let m = Bytes::from(m);
        if let Err(e) = Message::decode(&m, &ctx) {
            prop_assert!(e.notification().data.len() <= m.len());
        }
    }

    #[test]
    fn decode_never_panics_on_mutated_messages(
        ctx in contexts(),
        m in message(false),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let enc = Context { extended_message: true, ..Context::default() };
        let mut bytes = m.to_bytes(&enc).unwrap().to_vec();
        for (i, v) in flips {
            let i = i.index(bytes.len() - 18) + 18;
            bytes[i] = v;
        }
        let len = cut.index(bytes.len() + 1).max(19).min(bytes.len());
        bytes.truncate(len);
        let mut s = FrameSplitter::new(65535);
        s.push(&bytes);
        if let Ok(Some(frame)) = s.next_frame()
            && let Err(e) = Message::decode(&frame, &ctx)
        {
            prop_assert!(e.notification().data.len() <= frame.len());
        }
        let whole = Bytes::from(bytes);
        let _ = Message::decode(&whole, &ctx);
    }
}
