//! The cheap side of a benchmark's sessions: a `bgp_core` session only until Established,
//! then raw bytes: UPDATEs written as encoded beforehand, received ones framed and their
//! prefixes walked in wire form (attributes skipped but for MP_REACH_NLRI and
//! MP_UNREACH_NLRI), keepalives sent by a timer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bgp_core::Family;
use bgp_core::session::{Action, Event, PeerAs, Session, SessionConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::dut::{ASN, DUT, PORT};

pub const KEEPALIVE: [u8; 19] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 19, 4,
];

/// Nanoseconds since the epoch: a clock every process of the benchmark reads alike.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// An established session in raw form, and what arrived after the message that
/// established it.
#[derive(Debug)]
pub struct Open {
    pub read: OwnedReadHalf,
    pub write: OwnedWriteHalf,
    pub pending: Vec<u8>,
}

/// The length of the first complete message in `buf`, if there is one.
pub fn message_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 19 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([buf[16], buf[17]]));
    (len >= 19 && buf.len() >= len).then_some(len)
}

/// Connects from `local` to the daemon under test (iBGP, IPv4 and IPv6 unicast) and runs
/// the session until Established.
pub async fn open(local: Ipv4Addr, hold: u16, limit: Duration) -> Result<Open, String> {
    let mut cfg = SessionConfig::new(ASN, local, PeerAs::Is(ASN));
    cfg.hold_time = hold;
    cfg.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    cfg.damp_peer_oscillations = false;
    let mut s = Session::new(cfg);
    let sock = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    sock.bind(SocketAddr::new(IpAddr::V4(local), 0))
        .map_err(|e| format!("bind {local}: {e}"))?;
    let stream = sock
        .connect(SocketAddr::new(IpAddr::V4(DUT), PORT))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut read, mut write) = stream.into_split();
    let deadline = Instant::now() + limit;
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    s.start(Instant::now());
    loop {
        while let Some(a) = s.poll_action() {
            match a {
                Action::Connect => s.handle_connected(Instant::now()),
                Action::Transmit(b) => write.write_all(&b).await.map_err(|e| e.to_string())?,
                Action::Close => return Err("closed before Established".into()),
                Action::Event(Event::Established(_)) => {
                    return Ok(Open {
                        read,
                        write,
                        pending,
                    });
                }
                Action::Event(_) => {}
            }
        }
        // One message at a time: what follows the one that establishes is for the caller.
        if let Some(len) = message_len(&pending) {
            let msg: Vec<u8> = pending.drain(..len).collect();
            s.handle_data(Instant::now(), &msg);
            continue;
        }
        let timeout = s
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1))
            .min(deadline);
        tokio::select! {
            n = read.read(&mut buf) => match n {
                Ok(0) | Err(_) => return Err("closed before Established".into()),
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            },
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(timeout)) => {
                if Instant::now() >= deadline {
                    return Err("not Established in time".into());
                }
                s.handle_timeout(Instant::now());
            }
        }
    }
}

/// Sends a KEEPALIVE every `interval` on `w` until the task is aborted (the only thing a
/// receiver ever writes).
pub async fn keepalives(mut w: OwnedWriteHalf, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        if w.write_all(&KEEPALIVE).await.is_err() {
            return;
        }
    }
}

/// Walks the prefixes of one NLRI field (IPv4 or IPv6, no path identifiers), passing
/// each one's length and leading address bytes (up to 8, zero-padded).
fn walk(field: &[u8], ipv6: bool, mut f: impl FnMut(bool, u8, u64)) {
    let mut i = 0;
    while i < field.len() {
        let len = field[i];
        let n = usize::from(len).div_ceil(8);
        let Some(p) = field.get(i + 1..i + 1 + n) else {
            return;
        };
        let mut b = [0u8; 8];
        let m = n.min(8);
        b[..m].copy_from_slice(&p[..m]);
        f(ipv6, len, u64::from_be_bytes(b));
        i += 1 + n;
    }
}

/// The prefixes of one UPDATE body: `f(announced, ipv6, length, leading bytes)`.
pub fn update_prefixes(body: &[u8], mut f: impl FnMut(bool, bool, u8, u64)) {
    let Some(w) = body.get(0..2) else { return };
    let wlen = usize::from(u16::from_be_bytes([w[0], w[1]]));
    let Some(withdrawn) = body.get(2..2 + wlen) else {
        return;
    };
    walk(withdrawn, false, |v6, l, a| f(false, v6, l, a));
    let Some(a) = body.get(2 + wlen..4 + wlen) else {
        return;
    };
    let alen = usize::from(u16::from_be_bytes([a[0], a[1]]));
    let Some(attrs) = body.get(4 + wlen..4 + wlen + alen) else {
        return;
    };
    let mut i = 0;
    while i + 2 < attrs.len() {
        let (flags, typ) = (attrs[i], attrs[i + 1]);
        let (hdr, len) = if flags & 0x10 != 0 {
            let Some(l) = attrs.get(i + 2..i + 4) else {
                return;
            };
            (4, usize::from(u16::from_be_bytes([l[0], l[1]])))
        } else {
            (3, usize::from(attrs[i + 2]))
        };
        let Some(v) = attrs.get(i + hdr..i + hdr + len) else {
            return;
        };
        let v6 = v.get(0..2) == Some(&[0, 2]);
        match typ {
            14 if v.len() >= 5 => {
                let nh = usize::from(v[3]);
                if let Some(nlri) = v.get(5 + nh..) {
                    walk(nlri, v6, |v6, l, a| f(true, v6, l, a));
                }
            }
            15 if v.len() >= 3 => walk(&v[3..], v6, |v6, l, a| f(false, v6, l, a)),
            _ => {}
        }
        i += hdr + len;
    }
    if let Some(nlri) = body.get(4 + wlen + alen..) {
        walk(nlri, false, |v6, l, a| f(true, v6, l, a));
    }
}

/// The key of a prefix as [`crate::table::key`] makes it, from its wire form.
pub fn wire_key(ipv6: bool, len: u8, lead: u64) -> u64 {
    if ipv6 {
        crate::table::key_v6(len, lead >> 16)
    } else {
        crate::table::key_v4(len, (lead >> 32) as u32)
    }
}

/// Lags in buckets: 100 µs wide below 1 s, 10 ms wide up to 10 minutes.
#[derive(Clone, Debug)]
pub struct Histogram {
    pub buckets: Vec<u64>,
    pub max_us: u64,
    pub count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; 10_000 + 60_000],
            max_us: 0,
            count: 0,
        }
    }
}

impl Histogram {
    fn bucket(us: u64) -> usize {
        if us < 1_000_000 {
            (us / 100) as usize
        } else {
            (10_000 + (us - 1_000_000) / 10_000).min(69_999) as usize
        }
    }

    /// The upper bound of bucket `b`, in µs.
    fn upper(b: usize) -> u64 {
        if b < 10_000 {
            (b as u64 + 1) * 100
        } else {
            1_000_000 + (b as u64 - 9_999) * 10_000
        }
    }

    pub fn add(&mut self, us: u64) {
        self.buckets[Self::bucket(us)] += 1;
        self.max_us = self.max_us.max(us);
        self.count += 1;
    }

    pub fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.max_us = self.max_us.max(o.max_us);
        self.count += o.count;
    }

    /// The lag at quantile `q` (bucket upper bound), in µs.
    pub fn quantile(&self, q: f64) -> u64 {
        let want = ((self.count as f64 * q).ceil() as u64).max(1);
        let mut acc = 0;
        for (b, n) in self.buckets.iter().enumerate() {
            acc += n;
            if acc >= want {
                return Self::upper(b).min(self.max_us);
            }
        }
        self.max_us
    }

    /// One line: `count max b:n b:n ...` (non-empty buckets).
    pub fn to_line(&self) -> String {
        let mut s = format!("{} {}", self.count, self.max_us);
        for (b, n) in self.buckets.iter().enumerate() {
            if *n > 0 {
                s.push_str(&format!(" {b}:{n}"));
            }
        }
        s
    }

    pub fn from_line(line: &str) -> Option<Histogram> {
        let mut it = line.split_whitespace();
        let mut h = Histogram {
            count: it.next()?.parse().ok()?,
            max_us: it.next()?.parse().ok()?,
            ..Histogram::default()
        };
        for x in it {
            let (b, n) = x.split_once(':')?;
            *h.buckets.get_mut(b.parse::<usize>().ok()?)? = n.parse().ok()?;
        }
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{self, FeederAttrs, Table};

    #[test]
    fn wire_walk_finds_every_prefix_of_the_feed_and_the_churn() {
        let t = Table::generate(0.002);
        let f = FeederAttrs {
            neighbor_as: 64_601,
            local_pref: 100,
            next_hop: Ipv4Addr::new(10, 255, 0, 1),
            next_hop6: "fd00:ff::1".parse().unwrap(),
        };
        let mut want: Vec<u64> = t.prefixes.iter().map(table::key).collect();
        want.sort_unstable();
        let mut got = Vec::new();
        for m in table::feed(&t, &f) {
            update_prefixes(&m[19..], |ann, v6, l, a| {
                assert!(ann);
                got.push(wire_key(v6, l, a));
            });
        }
        got.sort_unstable();
        assert_eq!(got, want);
        let churn = table::Churn::new(t.len(), 2, 0.01);
        let mut withdrawn = Vec::new();
        for m in churn.second(&t, &f, 0) {
            update_prefixes(&m[19..], |ann, v6, l, a| {
                if !ann {
                    withdrawn.push(wire_key(v6, l, a));
                }
            });
        }
        let mut expect: Vec<u64> = churn.withdrawn[0]
            .iter()
            .map(|&i| table::key(&t.prefixes[i as usize]))
            .collect();
        expect.sort_unstable();
        withdrawn.sort_unstable();
        assert_eq!(withdrawn, expect);
    }

    #[test]
    fn histogram_quantiles_and_line_round_trip() {
        let mut h = Histogram::default();
        for us in 1..=1000 {
            h.add(us * 1000);
        }
        // Within a bucket (100 µs) above the true value.
        assert!((500_000..=500_100).contains(&h.quantile(0.5)));
        assert!((990_000..=990_100).contains(&h.quantile(0.99)));
        assert_eq!(h.quantile(1.0), 1_000_000);
        let back = Histogram::from_line(&h.to_line()).unwrap();
        assert_eq!(back.quantile(0.9), h.quantile(0.9));
        assert_eq!(back.count, 1000);
    }
}
