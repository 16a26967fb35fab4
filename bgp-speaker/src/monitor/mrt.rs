//! MRT records (RFC 6396): periodic TABLE_DUMP_V2 snapshots of the RIB and a BGP4MP_ET log
//! of the UPDATEs received, with state changes, in files that rotate by size or time.
//!
//! The driver takes the snapshot (the router is its own) and hands the records, and each
//! UPDATE as the router reports it for monitoring, to a thread of this module that
//! encodes and writes them: the driver never waits on a disk. The hand-over is bounded;
//! what does not fit is dropped and counted.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::{Duration, Instant, SystemTime};

use bgp_core::bmp::{BmpMessage, PeerHeader, peer_flags, peer_type};
use bgp_core::mrt::{
    Bgp4mpMessage, Bgp4mpPeer, Bgp4mpStateChange, Record, RecordBody, record_type,
};
use bgp_core::wire::{Context, Message};
use bytes::{Bytes, BytesMut};
use tracing::{info, warn};

use crate::metrics::Metrics;

/// Where and how often records are written. File names are patterns: `%Y`, `%m`, `%d`,
/// `%H`, `%M`, `%S` (UTC) and `%s` (seconds since the epoch) are replaced by the time the
/// file is started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MrtConfig {
    /// A TABLE_DUMP_V2 snapshot of the RIB, each in a file of its own, this often.
    pub table_dump: Option<(PathBuf, Duration)>,
    /// The BGP4MP_ET log of received UPDATEs and session state changes.
    pub updates: Option<PathBuf>,
    /// A new log file after this long (at multiples of it since the epoch)...
    pub rotate_interval: Option<Duration>,
    /// ... or once the file holds this many octets.
    pub rotate_size: Option<u64>,
}

/// Records handed over at most before what comes is dropped.
const QUEUE: usize = 65_536;

enum Job {
    Message(Arc<BmpMessage>),
    Dump(Vec<Record>),
}

/// The driver's side.
pub(crate) struct Mrt {
    cfg: MrtConfig,
    tx: Option<SyncSender<Job>>,
    next_dump: Option<Instant>,
    metrics: Arc<Metrics>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Mrt {
    pub(crate) fn start(cfg: Option<MrtConfig>, local_as: u32, metrics: Arc<Metrics>) -> Mrt {
        let cfg = cfg.unwrap_or_default();
        let on = cfg.table_dump.is_some() || cfg.updates.is_some();
        let (tx, thread) = if on {
            for f in ["updates", "table"] {
                metrics.mrt_records.with_label_values(&[f]);
                metrics.mrt_dropped.with_label_values(&[f]);
                metrics.mrt_errors.with_label_values(&[f]);
            }
            let (tx, rx) = sync_channel(QUEUE);
            let w = Writer {
                cfg: cfg.clone(),
                local_as,
                metrics: metrics.clone(),
                file: None,
                sessions: HashMap::new(),
            };
            let t = std::thread::Builder::new()
                .name("mrt".into())
                .spawn(move || w.run(rx))
                .ok();
            (Some(tx), t)
        } else {
            (None, None)
        };
        Mrt {
            next_dump: cfg.table_dump.as_ref().map(|(_, d)| Instant::now() + *d),
            cfg,
            tx,
            metrics,
            thread,
        }
    }

    /// Whether the UPDATEs as received are wanted from the router.
    pub(crate) fn wants_updates(&self) -> bool {
        self.cfg.updates.is_some()
    }

    /// A monitoring output: logged when it is an UPDATE as received or a session change.
    pub(crate) fn message(&self, m: &Arc<BmpMessage>) {
        if !self.wants_updates() {
            return;
        }
        let wanted = match &**m {
            BmpMessage::RouteMonitoring { peer, .. } => {
                peer.peer_type != peer_type::LOC_RIB
                    && peer.flags & (peer_flags::L | peer_flags::O) == 0
            }
            BmpMessage::PeerUp(u) => u.peer.peer_type != peer_type::LOC_RIB,
            BmpMessage::PeerDown { .. } => true,
            _ => false,
        };
        if wanted {
            self.send(Job::Message(m.clone()), "updates");
        }
    }

    /// Takes a table dump when one is due.
    pub(crate) fn tick(&mut self, router: &bgp_core::router::Router) {
        let Some(at) = self.next_dump else { return };
        let now = Instant::now();
        if at > now {
            return;
        }
        let every = self
            .cfg
            .table_dump
            .as_ref()
            .map_or(Duration::MAX, |(_, d)| *d);
        self.next_dump = now.checked_add(every);
        let ts = unix_now().as_secs() as u32;
        let records = router.table_dump(now, ts);
        self.send(Job::Dump(records), "table");
    }

    fn send(&self, job: Job, file: &str) {
        let Some(tx) = &self.tx else { return };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(job) {
            self.metrics.mrt_dropped.with_label_values(&[file]).inc();
        }
    }

    /// The writer finishes what it was given.
    pub(crate) fn close(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// What the log knows of a session, from its Peer Up.
struct Session {
    local_ip: IpAddr,
    add_path: bool,
}

struct OpenFile {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    size: u64,
    /// The rotation period it belongs to.
    period: u64,
}

struct Writer {
    cfg: MrtConfig,
    local_as: u32,
    metrics: Arc<Metrics>,
    file: Option<OpenFile>,
    sessions: HashMap<IpAddr, Session>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Job>) {
        loop {
            let job = match rx.try_recv() {
                Ok(j) => j,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    // Flushed when nothing waits: a reader sees whole records soon.
                    if let Some(f) = &mut self.file {
                        let _ = f.file.flush();
                    }
                    match rx.recv() {
                        Ok(j) => j,
                        Err(_) => break,
                    }
                }
            };
            match job {
                Job::Message(m) => self.log(&m),
                Job::Dump(records) => self.dump(&records),
            }
        }
        if let Some(f) = &mut self.file {
            let _ = f.file.flush();
        }
    }

    fn dump(&mut self, records: &[Record]) {
        let Some((pattern, _)) = &self.cfg.table_dump else {
            return;
        };
        let path = file_name(pattern, unix_now().as_secs());
        let mut buf = BytesMut::new();
        for r in records {
            r.encode(&mut buf);
        }
        // Written aside and renamed: a reader never sees half a dump.
        let tmp = path.with_extension("partial");
        let r = std::fs::write(&tmp, &buf).and_then(|()| std::fs::rename(&tmp, &path));
        match r {
            Ok(()) => {
                self.metrics
                    .mrt_records
                    .with_label_values(&["table"])
                    .inc_by(records.len() as u64);
                info!(path = %path.display(), records = records.len(), "MRT table dump written");
            }
            Err(e) => {
                self.metrics.mrt_errors.with_label_values(&["table"]).inc();
                warn!(path = %path.display(), error = %e, "MRT table dump not written");
            }
        }
    }

    fn log(&mut self, m: &BmpMessage) {
        // An UPDATE, or a state change: OpenConfirm to Established, Established to Idle.
        let (peer, update, (old_state, new_state)) = match m {
            BmpMessage::PeerUp(u) => {
                let add_path = add_path_received(&u.sent_open, &u.received_open);
                self.sessions.insert(
                    u.peer.address,
                    Session {
                        local_ip: u.local_address,
                        add_path,
                    },
                );
                (&u.peer, None, (5, 6))
            }
            BmpMessage::PeerDown { peer, .. } => (peer, None, (6, 1)),
            BmpMessage::RouteMonitoring { peer, update } => (peer, Some(update.clone()), (0, 0)),
            _ => return,
        };
        let Some(s) = self.sessions.get(&peer.address) else {
            return;
        };
        let p = Bgp4mpPeer {
            peer_as: peer.asn,
            local_as: self.local_as,
            interface_index: 0,
            peer_ip: peer.address,
            local_ip: s.local_ip,
        };
        let body = match update {
            Some(update) => RecordBody::Bgp4mpMessage(Bgp4mpMessage {
                peer: p,
                four_octet_as: true,
                add_path: s.add_path,
                local: false,
                message: update,
            }),
            None => RecordBody::Bgp4mpStateChange(Bgp4mpStateChange {
                peer: p,
                old_state,
                new_state,
            }),
        };
        if matches!(m, BmpMessage::PeerDown { .. }) {
            self.sessions.remove(&peer.address);
        }
        let r = Record {
            timestamp: peer.seconds,
            microseconds: Some(peer.micros),
            kind: record_type::BGP4MP_ET,
            subtype: 0,
            body,
        };
        let mut buf = BytesMut::new();
        r.encode(&mut buf);
        self.append(&buf, header_time(peer));
    }

    /// Appends to the log, starting a new file when the period or the size says so.
    fn append(&mut self, b: &[u8], secs: u64) {
        let Some(pattern) = self.cfg.updates.clone() else {
            return;
        };
        let period = self
            .cfg
            .rotate_interval
            .map_or(0, |d| secs / d.as_secs().max(1));
        let full = |f: &OpenFile| self.cfg.rotate_size.is_some_and(|max| f.size >= max);
        let stale = self
            .file
            .as_ref()
            .is_some_and(|f| f.period != period || full(f));
        if stale && let Some(mut f) = self.file.take() {
            let _ = f.file.flush();
            info!(path = %f.path.display(), octets = f.size, "MRT update log rotated");
        }
        if self.file.is_none() {
            self.file = open_log(&file_name(&pattern, secs), period, &self.metrics);
        }
        let Some(f) = &mut self.file else { return };
        match f.file.write_all(b) {
            Ok(()) => {
                f.size += b.len() as u64;
                self.metrics
                    .mrt_records
                    .with_label_values(&["updates"])
                    .inc();
            }
            Err(e) => {
                self.metrics
                    .mrt_errors
                    .with_label_values(&["updates"])
                    .inc();
                warn!(path = %f.path.display(), error = %e, "MRT update log write failed");
                self.file = None;
            }
        }
    }
}

/// A log file, appended to when it exists (the same period after a restart).
fn open_log(path: &Path, period: u64, metrics: &Metrics) -> Option<OpenFile> {
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        Ok(f) => {
            let size = f.metadata().map_or(0, |m| m.len());
            Some(OpenFile {
                path: path.to_path_buf(),
                file: std::io::BufWriter::new(f),
                size,
                period,
            })
        }
        Err(e) => {
            metrics.mrt_errors.with_label_values(&["updates"]).inc();
            warn!(path = %path.display(), error = %e, "MRT update log not opened");
            None
        }
    }
}

fn header_time(p: &PeerHeader) -> u64 {
    if p.seconds == 0 {
        unix_now().as_secs()
    } else {
        u64::from(p.seconds)
    }
}

/// Whether the peer sends us NLRI with path identifiers for some family: it announced
/// sending and we announced receiving (RFC 7911 4).
fn add_path_received(sent: &Bytes, received: &Bytes) -> bool {
    use bgp_core::wire::Capability;
    let open = |b: &Bytes| match Message::decode(b, &Context::default()) {
        Ok(Message::Open(o)) => Some(o),
        _ => None,
    };
    let modes = |o: &bgp_core::wire::Open| {
        o.parameters
            .iter()
            .flatten()
            .filter_map(|c| match c {
                Capability::AddPath(v) => Some(v.clone()),
                _ => None,
            })
            .flatten()
            .collect::<Vec<_>>()
    };
    let (Some(ours), Some(theirs)) = (open(sent), open(received)) else {
        return false;
    };
    let ours = modes(&ours);
    modes(&theirs)
        .iter()
        .any(|(f, m)| m.can_send() && ours.iter().any(|(g, n)| g == f && n.can_receive()))
}

/// `pattern` with the time fields of `secs` (UTC) filled in.
pub(crate) fn file_name(pattern: &Path, secs: u64) -> PathBuf {
    let (y, mo, d) = civil(secs / 86_400);
    let (h, mi, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    let p = pattern.to_string_lossy();
    let mut out = String::with_capacity(p.len() + 8);
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&format!("{y:04}")),
            Some('m') => out.push_str(&format!("{mo:02}")),
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('H') => out.push_str(&format!("{h:02}")),
            Some('M') => out.push_str(&format!("{mi:02}")),
            Some('S') => out.push_str(&format!("{s:02}")),
            Some('s') => out.push_str(&secs.to_string()),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    PathBuf::from(out)
}

/// The date of a day number since 1970-01-01 (the proleptic Gregorian calendar).
fn civil(days: u64) -> (i64, u32, u32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_take_the_utc_time() {
        // 2024-02-29 13:05:09 UTC.
        let t = 1_709_211_909;
        assert_eq!(
            file_name(Path::new("/x/rib.%Y%m%d.%H%M%S.mrt"), t),
            PathBuf::from("/x/rib.20240229.130509.mrt")
        );
        assert_eq!(
            file_name(Path::new("u.%s.%%.%q"), 7),
            PathBuf::from("u.7.%.%q")
        );
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
    }
}
