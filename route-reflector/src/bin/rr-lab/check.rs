//! What the lab checks: the routes each namespace should and does hold, convergence, and
//! pings between every pair of pods.

use super::*;

impl Lab {
    /// Every pod: (name, address, namespace name).
    pub fn pods(&self) -> Vec<(String, Ipv4Addr, String)> {
        self.nodes
            .iter()
            .flat_map(|n| {
                n.pods
                    .iter()
                    .map(|p| (p.name.clone(), p.address, p.ns.name.clone()))
            })
            .collect()
    }

    /// The routes of our protocol in `ns`'s main table: (prefix, gateway, device).
    pub fn bgp_routes(ns: &Ns) -> Vec<(String, String, String)> {
        Self::bgp_routes_of(ns, "-4")
    }

    /// As [`Lab::bgp_routes`], for the family `-4` or `-6`.
    pub fn bgp_routes_of(ns: &Ns, family: &str) -> Vec<(String, String, String)> {
        let Ok(out) = ns.sh(&format!("ip {family} route show proto bgp")) else {
            return Vec::new();
        };
        out.lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let after = |k: &str| {
                    w.iter()
                        .position(|x| *x == k)
                        .and_then(|i| w.get(i + 1))
                        .map(|s| s.to_string())
                };
                Some((w.first()?.to_string(), after("via")?, after("dev")?))
            })
            .collect()
    }

    /// What node `n`'s kernel should hold: every other block; in-rack via its node, the
    /// other rack's via the rack's ToR (or, in the IPIP variant, via its node through
    /// `tunl0`).
    pub fn expected_node_routes(&self, n: usize) -> BTreeSet<(String, String, String)> {
        let me = &self.nodes[n];
        self.nodes
            .iter()
            .filter(|o| o.name != me.name)
            .map(|o| {
                let (via, dev) = match (o.rack == me.rack, self.opts.ipip) {
                    (true, _) => (o.address, "eth0"),
                    (false, true) => (o.address, "tunl0"),
                    (false, false) => (tor_addr(me.rack), "eth0"),
                };
                (o.block.to_string(), via.to_string(), dev.to_string())
            })
            .collect()
    }

    /// What ToR `r`'s kernel should hold: its nodes' blocks via them, the other rack's via
    /// the other ToR (in the IPIP variant the router holds none).
    pub fn expected_tor_routes(&self, r: usize) -> BTreeSet<(String, String, String)> {
        if self.opts.ipip {
            return BTreeSet::new();
        }
        self.nodes
            .iter()
            .map(|o| {
                let (via, dev) = if o.rack == r {
                    (o.address, "br0")
                } else {
                    (link_addr(1 - r), "tor")
                };
                (o.block.to_string(), via.to_string(), dev.to_string())
            })
            .collect()
    }

    /// The kernel routes that differ from the expected ones (prefix, gateway, device), per
    /// namespace; empty when the lab has converged.
    pub fn differences(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |ns: &Ns, want: BTreeSet<(String, String, String)>, family: &str| {
            let have: BTreeSet<(String, String, String)> =
                Self::bgp_routes_of(ns, family).into_iter().collect();
            if have != want {
                out.push(format!(
                    "{}: missing {:?}, unexpected {:?}",
                    ns.name,
                    want.difference(&have).collect::<Vec<_>>(),
                    have.difference(&want).collect::<Vec<_>>()
                ));
            }
        };
        for n in 0..self.nodes.len() {
            check(&self.nodes[n].ns, self.expected_node_routes(n), "-4");
        }
        for r in 0..self.tors.len() {
            check(&self.tors[r], self.expected_tor_routes(r), "-4");
        }
        if self.opts.dual_stack {
            for n in 0..self.nodes.len() {
                check(&self.nodes[n].ns, self.expected_node_routes6(n), "-6");
            }
            for r in 0..self.tors.len() {
                check(&self.tors[r], self.expected_tor_routes6(r), "-6");
            }
        }
        out
    }

    /// Waits until every kernel holds what it should; the time it took, or the
    /// differences left after `limit`.
    pub fn wait_converged(&self, limit: Duration) -> Result<Duration, String> {
        wait_for(limit, || self.differences().is_empty())
            .ok_or_else(|| self.differences().join("\n"))
    }

    /// The route tables to show: each namespace's `ip route`, each reflector's routes.
    pub fn report_routes(&self) -> String {
        let mut s = String::new();
        let dual = self.opts.dual_stack;
        let mut show = |title: &str, ns: &Ns| {
            let out = ns
                .sh("ip -4 route show")
                .unwrap_or_else(|e| format!("({e})\n"));
            let _ = writeln!(s, "--- {title} ({}) ip route", ns.name);
            s.push_str(&out);
            if dual {
                let out = ns
                    .sh("ip -6 route show proto bgp")
                    .unwrap_or_else(|e| format!("({e})\n"));
                let _ = writeln!(s, "--- {title} ({}) ip -6 route show proto bgp", ns.name);
                s.push_str(&out);
            }
        };
        for (r, tor) in self.tors.iter().enumerate() {
            if self.opts.ipip {
                show("router", tor);
            } else {
                show(&format!("ToR {}", rack_letter(r)), tor);
            }
        }
        for n in &self.nodes {
            show(&format!("node {}", n.name), &n.ns);
        }
        for r in &self.reflectors {
            let _ = writeln!(s, "--- reflector {}: route-reflector show routes", r.name);
            s.push_str(&r.cli(&self.bins.reflector, &["show", "routes"]).1);
        }
        if let Some(frr) = &self.frr {
            let _ = writeln!(s, "--- FRR ToR: vtysh -c 'show bgp ipv4 unicast'");
            s.push_str(&frr.vtysh("show bgp ipv4 unicast").unwrap_or_default());
        }
        s
    }

    /// Pings every pod from every other pod (one echo each, in parallel per source): the
    /// matrix as text and the failed pairs.
    pub fn ping_matrix(&self) -> (String, Vec<(String, String)>) {
        let pods = self
            .pods()
            .into_iter()
            .map(|(n, a, ns)| (n, std::net::IpAddr::V4(a), ns))
            .collect();
        ping::matrix(pods)
    }

    /// The IPv6 ping matrix of the dual-stack variant.
    pub fn ping_matrix6(&self) -> (String, Vec<(String, String)>) {
        ping::matrix(self.pods6())
    }

    /// A ping stream from pod `src` (namespace name) to `dst`, one echo every 10 ms.
    pub fn ping_stream(
        &self,
        src_ns: &str,
        dst: Ipv4Addr,
        tag: &str,
    ) -> Result<PingStream, String> {
        let ns = Ns {
            name: src_ns.to_string(),
        };
        let log = self.opts.dir.join(format!("ping-{tag}.log"));
        let _ = std::fs::remove_file(&log);
        let p = ns.spawn(
            tag,
            Command::new("ping").args(["-n", "-i", "0.01", "-W", "1", &dst.to_string()]),
            &log,
        );
        // Not ours to delete: the pod's namespace stays.
        std::mem::forget(ns);
        Ok(PingStream {
            proc: p?,
            started: Instant::now(),
        })
    }
}
