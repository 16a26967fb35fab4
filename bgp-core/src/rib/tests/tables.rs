//! The tables as shown: why a path is not the best, what a peer is sent.

use super::*;

#[test]
fn each_path_that_is_not_best_says_at_which_step_it_loses() {
    let mut rib = reflector();
    let a = client(&mut rib, "10.0.0.1", [10, 0, 0, 1]);
    let b = client(&mut rib, "10.0.0.2", [10, 0, 0, 2]);
    let c = client(&mut rib, "10.0.0.3", [10, 0, 0, 3]);
    let mut high = pod_block("172.17.0.0/24", [10, 0, 0, 1]);
    high.attributes.local_pref = Some(200);
    rib.apply_update(a, &high).unwrap();
    rib.apply_update(b, &pod_block("172.17.0.0/24", [10, 0, 0, 2]))
        .unwrap();
    rib.apply_update(c, &pod_block("172.17.0.0/24", [10, 0, 0, 3]))
        .unwrap();
    let p = net("172.17.0.0/24");
    let d = rib.get(&p).unwrap();
    assert_eq!(d.best().unwrap().peer(), a);
    assert_eq!(rib.why_not_best(&p, 0), None, "the best path");
    for i in 1..3 {
        assert_eq!(
            rib.why_not_best(&p, i),
            Some(NotBest::Lost(Reason::LocalPref))
        );
    }
    // Without A, B and C differ only in their router IDs.
    rib.peer_down(a, false);
    let d = rib.get(&p).unwrap();
    assert_eq!(d.best().unwrap().peer(), b);
    assert_eq!(
        rib.why_not_best(&p, 1),
        Some(NotBest::Lost(Reason::RouterId))
    );
    assert_eq!(rib.why_not_best(&p, 2), None, "no such path");
    assert_eq!(rib.why_not_best(&net("10.9.9.0/24"), 1), None);

    // B is sent C's route (reflected, the ORIGINATOR_ID C's), not its own; nothing kept
    // as received without soft reconfiguration.
    let out = rib.adj_rib_out(b);
    assert!(
        out.is_empty(),
        "B's own route is the best: B is sent nothing for it"
    );
    let out = rib.adj_rib_out(c);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, p);
    assert_eq!(out[0].2.originator_id, Some(Ipv4Addr::new(10, 0, 0, 2)));
    assert!(rib.adj_rib_in_pre(b).is_none());
    assert!(rib.accepted(b, &p, 0));
    assert!(!rib.accepted(a, &p, 0));
}
