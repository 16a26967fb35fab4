//! Inputs and decoders shared by the codec benchmark (`benches/codec.rs`) and the
//! instruction-count tool (`src/bin/decode-count.rs`).

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_core::wire::attributes::{
    AsPath, ClusterList, Community, MpNlri, MpReach, NextHop, Origin, PathAttributes,
};
use bgp_core::wire::{Context, Message, Prefixes, Update};
use bgp_core::{Afi, Family};
use bytes::Bytes;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

pub use bgp_core;

pub mod dut;
pub mod table;
pub mod tester;

/// One benchmark input.
#[derive(Debug)]
pub struct Shape {
    pub name: &'static str,
    /// Whole messages, header included.
    pub frames: Vec<Bytes>,
    pub prefixes: usize,
    /// The prefixes and attributes, for the encode benchmark.
    pub source: Vec<(PathAttributes, Vec<IpNet>)>,
}

fn ibgp_attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(&[65001, 65002])),
        next_hop: Some(Ipv4Addr::new(192, 168, 100, 101)),
        med: Some(0),
        local_pref: Some(100),
        ..PathAttributes::default()
    }
}

fn encode(attrs: &PathAttributes, prefixes: &[IpNet]) -> Bytes {
    let u = build(attrs, prefixes);
    Message::from(u).to_bytes(&Context::default()).unwrap()
}

pub fn build(attrs: &PathAttributes, prefixes: &[IpNet]) -> Update {
    let v4: Vec<IpNet> = prefixes
        .iter()
        .filter(|p| p.addr().is_ipv4())
        .copied()
        .collect();
    let v6: Vec<IpNet> = prefixes
        .iter()
        .filter(|p| p.addr().is_ipv6())
        .copied()
        .collect();
    let mut attrs = attrs.clone();
    if !v6.is_empty() {
        attrs.next_hop = None;
        attrs.mp_reach = Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: NextHop::Ipv6 {
                global: "2001:db8::1".parse().unwrap(),
                link_local: None,
            },
            nlri: MpNlri::Prefixes(Prefixes::from_entries(Afi::IPV6, false, v6).unwrap()),
        });
    }
    Update::new(
        Prefixes::empty(Afi::IPV4, false),
        attrs,
        Prefixes::from_entries(Afi::IPV4, false, v4).unwrap(),
    )
}

fn v4_24(i: u32) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap())
}

/// The benchmark inputs: packed-v4, single-v4, packed-v6.
pub fn shapes() -> Vec<Shape> {
    let attrs = ibgp_attrs();
    // Packed /24s: as many as fit in 4096 octets.
    let room = 4096 - 19 - 4 - attrs.clone().to_block(&Context::default()).unwrap().len();
    let n = room / 4;
    let packed: Vec<IpNet> = (0..n as u32).map(v4_24).collect();
    let packed_frame = encode(&attrs, &packed);
    assert!(packed_frame.len() <= 4096);

    let mut reflected = attrs.clone();
    reflected.communities = Some(
        [Community::new(65001, 100), Community::new(65001, 200)]
            .into_iter()
            .collect(),
    );
    reflected.originator_id = Some(Ipv4Addr::new(192, 168, 100, 101));
    reflected.cluster_list = Some(ClusterList::from_iter([Ipv4Addr::new(192, 168, 100, 1)]));
    let singles: Vec<(PathAttributes, Vec<IpNet>)> = (0..1000)
        .map(|i| (reflected.clone(), vec![v4_24(i)]))
        .collect();

    let v6_room = 4096 - 19 - 4 - 60;
    let v6: Vec<IpNet> = (0..(v6_room / 7) as u128)
        .map(|i| {
            let a = Ipv6Addr::from((0x2001_0db8_u128 << 96) | (i << 80));
            IpNet::V6(Ipv6Net::new(a, 48).unwrap())
        })
        .collect();
    let v6_frame = encode(&attrs, &v6);
    assert!(v6_frame.len() <= 4096, "{}", v6_frame.len());

    vec![
        Shape {
            name: "packed-v4",
            prefixes: packed.len(),
            frames: vec![packed_frame],
            source: vec![(attrs.clone(), packed)],
        },
        Shape {
            name: "single-v4",
            prefixes: singles.len(),
            frames: singles.iter().map(|(a, p)| encode(a, p)).collect(),
            source: singles,
        },
        Shape {
            name: "packed-v6",
            prefixes: v6.len(),
            frames: vec![v6_frame],
            source: vec![(attrs, v6)],
        },
    ]
}

/// Decodes and walks every announced prefix.
pub fn ours(frames: &[Bytes], ctx: &Context) -> usize {
    let mut n = 0;
    for f in frames {
        let m = Message::decode(f, ctx);
        let Ok(Message::Update(u)) = &m else {
            panic!("decode failed")
        };
        for (_, block) in u.announced() {
            for e in block {
                black_box(e);
                n += 1;
            }
        }
    }
    n
}

pub fn ours_validate(frames: &[Bytes], ctx: &Context) -> usize {
    let mut n = 0;
    for f in frames {
        let m = Message::decode(f, ctx);
        let Ok(Message::Update(u)) = &m else {
            panic!("decode failed")
        };
        n += u.announced().map(|(_, b)| b.len()).sum::<usize>();
        black_box(u);
    }
    n
}

pub fn zettabgp_params() -> zettabgp::BgpSessionParams {
    let mut p = zettabgp::BgpSessionParams::new(
        65001,
        180,
        zettabgp::BgpTransportMode::IPv4,
        Ipv4Addr::new(1, 1, 1, 1),
        vec![
            zettabgp::BgpCapability::SafiIPv4u,
            zettabgp::BgpCapability::SafiIPv6u,
            zettabgp::BgpCapability::CapASN32(65001),
        ],
    );
    // No ADD-PATH guessing: it would only add work.
    p.fuzzy_pathid = false;
    p
}

pub fn zetta(frames: &[Bytes], params: &zettabgp::BgpSessionParams) {
    use zettabgp::BgpMessage;
    for f in frames {
        let mut m = zettabgp::prelude::BgpUpdateMessage::new();
        m.decode_from(params, &f[19..]).unwrap();
        black_box(&m);
    }
}

pub fn bgpkit(frames: &[Bytes]) {
    for f in frames {
        let mut b = f.clone();
        let m = bgpkit_parser::parser::bgp::messages::parse_bgp_message(
            &mut b,
            false,
            &bgpkit_parser::models::AsnLength::Bits32,
        )
        .unwrap();
        black_box(&m);
    }
}
