//! `route-reflector decode`: BGP messages and MRT captures to JSON, one object per line.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::path::Path;

use bgp_core::mrt::{MrtReader, RecordBody, SessionTracker, rib_context};
use bgp_core::types::FamilySet;
use bgp_core::wire::{
    Context, DecodeError, FrameSplitter, MAX_EXTENDED_MESSAGE_LEN, Message, PathAttributes,
    PeerKind, describe_error,
};
use bgp_core::{Afi, Family, Safi};
use bytes::Bytes;
use serde_json::{Value, json};

/// Options of the decode command.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Hex strings of messages, or a file (raw BGP, hex text or MRT, optionally gzipped).
    /// Reads standard input when absent or "-".
    pub input: Vec<String>,
    /// The peer uses two-octet AS numbers (no four-octet AS capability).
    #[arg(long)]
    pub as2: bool,
    /// NLRI carry ADD-PATH path identifiers; a comma-separated list of families
    /// (ipv4, ipv6, ipv4-multicast, ipv6-multicast), all of them when given alone.
    #[arg(long, num_args = 0..=1, default_missing_value = "all", value_name = "FAMILIES")]
    pub add_path: Option<String>,
    /// The peer is external (affects RFC 7606 handling of LOCAL_PREF and reflection
    /// attributes).
    #[arg(long)]
    pub ebgp: bool,
    /// Treat input files as MRT even when they do not look like it.
    #[arg(long)]
    pub mrt: bool,
    /// Pretty-print each JSON object.
    #[arg(long)]
    pub pretty: bool,
}

/// Why decoding could not even start.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("reading {0}: {1}")]
    Io(String, io::Error),
    #[error("input is not hex: {0}")]
    Hex(#[from] hex::FromHexError),
    #[error("unknown family {0:?} for --add-path (ipv4, ipv6, ipv4-multicast, ipv6-multicast)")]
    Family(String),
}

fn add_path_families(spec: &str) -> Result<FamilySet, InputError> {
    let mut set = FamilySet::EMPTY;
    for name in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let fams: &[Family] = match name {
            "all" => &[
                Family::IPV4_UNICAST,
                Family::IPV6_UNICAST,
                Family::IPV4_MULTICAST,
                Family::IPV6_MULTICAST,
            ],
            "ipv4" | "ipv4-unicast" => &[Family::IPV4_UNICAST],
            "ipv6" | "ipv6-unicast" => &[Family::IPV6_UNICAST],
            "ipv4-multicast" => &[Family::IPV4_MULTICAST],
            "ipv6-multicast" => &[Family::IPV6_MULTICAST],
            "ipv4-vpn" => &[Family::new(Afi::IPV4, Safi::MPLS_VPN)],
            "ipv6-vpn" => &[Family::new(Afi::IPV6, Safi::MPLS_VPN)],
            other => return Err(InputError::Family(other.to_string())),
        };
        for f in fams {
            set.insert(*f);
        }
    }
    Ok(set)
}

/// Runs the command, writing JSON lines to `out`. Returns whether every message decoded.
pub fn run(args: &DecodeArgs, out: &mut dyn Write) -> Result<bool, InputError> {
    let ctx = Context {
        four_octet_as: !args.as2,
        add_path: match &args.add_path {
            Some(spec) => add_path_families(spec)?,
            None => FamilySet::EMPTY,
        },
        extended_message: true,
        peer: if args.ebgp {
            PeerKind::External
        } else {
            PeerKind::Internal
        },
        mrt_rib_entry: false,
    };
    let mut printer = Printer {
        out,
        pretty: args.pretty,
        all_ok: true,
    };
    // Consecutive words that are not files are one hex text ("ffff ffff 0013 04").
    let mut inputs: Vec<String> = Vec::new();
    let mut joining = false;
    for word in &args.input {
        let is_file = word == "-" || Path::new(word).is_file();
        match inputs.last_mut() {
            Some(last) if joining && !is_file => last.push_str(word),
            _ => inputs.push(word.clone()),
        }
        joining = !is_file;
    }
    if inputs.is_empty() {
        inputs.push("-".to_string());
    }
    for input in &inputs {
        let (data, from_file) = read_input(input)?;
        if args.mrt || (from_file && looks_like_mrt(&data)) {
            decode_mrt(data, &mut printer);
        } else {
            decode_stream(&data, &ctx, &mut printer);
        }
    }
    Ok(printer.all_ok)
}

/// Reads an argument: "-" for stdin, an existing path, or else hex text. Binary content
/// (a BGP marker, gzip, MRT) is kept; text content is taken as hex.
fn read_input(input: &str) -> Result<(Bytes, bool), InputError> {
    let (raw, from_file) = if input == "-" {
        let mut v = Vec::new();
        io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| InputError::Io("standard input".into(), e))?;
        (v, true)
    } else if Path::new(input).is_file() {
        let v = std::fs::read(input).map_err(|e| InputError::Io(input.to_string(), e))?;
        (v, true)
    } else {
        (input.as_bytes().to_vec(), false)
    };
    let raw = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut v = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut v)
            .map_err(|e| InputError::Io(input.to_string(), e))?;
        v
    } else {
        raw
    };
    let is_text = raw
        .iter()
        .all(|b| b.is_ascii_hexdigit() || b.is_ascii_whitespace() || matches!(b, b':' | b','));
    if is_text && !raw.is_empty() {
        let clean: Vec<u8> = raw.into_iter().filter(u8::is_ascii_hexdigit).collect();
        return Ok((Bytes::from(hex::decode(clean)?), false));
    }
    Ok((Bytes::from(raw), from_file))
}

/// An MRT file starts with a record header whose type is one we know and whose length fits.
fn looks_like_mrt(data: &[u8]) -> bool {
    if data.len() < 12 || data.starts_with(&[0xff; 16]) {
        return false;
    }
    let kind = u16::from_be_bytes([data[4], data[5]]);
    let len = u32::from_be_bytes([data[8], data[9], data[10], data[11]]) as usize;
    matches!(kind, 11..=17 | 32..=49) && len <= data.len() - 12
}

struct Printer<'a> {
    out: &'a mut dyn Write,
    pretty: bool,
    all_ok: bool,
}

impl Printer<'_> {
    fn emit(&mut self, v: &Value) {
        let text = if self.pretty {
            serde_json::to_string_pretty(v)
        } else {
            serde_json::to_string(v)
        }
        .unwrap_or_default();
        // A closed pipe (e.g. `| head`) is not an error worth reporting.
        let _ = writeln!(self.out, "{text}");
    }
}

fn hex_str(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// The JSON of a decode error: what it is and the NOTIFICATION it calls for.
pub fn error_json(e: &DecodeError) -> Value {
    let n = e.notification();
    json!({
        "error": e.to_string(),
        "notification": {
            "code": n.code,
            "subcode": n.subcode,
            "name": describe_error(n.code, n.subcode),
            "data": hex_str(&n.data),
        }
    })
}

/// The JSON of a decoded message.
pub fn message_json(m: &Message, len: usize) -> Value {
    let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("length".into(), len.into());
        match m {
            Message::Update(u) => {
                if let Some(f) = u.as_end_of_rib() {
                    map.insert("end_of_rib".into(), f.to_string().into());
                }
                if let Some(a) = u.error_action() {
                    map.insert(
                        "rfc7606".into(),
                        serde_json::to_value(a).unwrap_or_default(),
                    );
                }
            }
            Message::Notification(n) => {
                map.insert("name".into(), n.describe().into());
                if let Some(s) = n.shutdown_message() {
                    map.insert("shutdown_message".into(), s.into());
                }
            }
            _ => {}
        }
    }
    v
}

fn decode_stream(data: &[u8], ctx: &Context, p: &mut Printer<'_>) {
    let mut splitter = FrameSplitter::new(MAX_EXTENDED_MESSAGE_LEN);
    splitter.push(data);
    loop {
        match splitter.next_frame() {
            Ok(Some(frame)) => match Message::decode(&frame, ctx) {
                Ok(m) => p.emit(&message_json(&m, frame.len())),
                Err(e) => {
                    p.all_ok = false;
                    p.emit(&error_json(&e));
                }
            },
            Ok(None) => {
                if splitter.pending() > 0 {
                    p.all_ok = false;
                    p.emit(&json!({
                        "error": format!("{} trailing octets do not make a whole message",
                            splitter.pending()),
                    }));
                }
                return;
            }
            Err(e) => {
                // The stream cannot be framed past a bad header.
                p.all_ok = false;
                p.emit(&error_json(&e));
                return;
            }
        }
    }
}

fn attributes_json(block: &Bytes, ctx: &Context) -> Value {
    match PathAttributes::decode_block(block, ctx) {
        Ok((attrs, errors)) => {
            let mut v = serde_json::to_value(&attrs).unwrap_or(Value::Null);
            if !errors.is_empty()
                && let Value::Object(m) = &mut v
            {
                m.insert(
                    "errors".into(),
                    serde_json::to_value(&errors).unwrap_or_default(),
                );
            }
            v
        }
        Err(e) => error_json(&e),
    }
}

fn decode_mrt(data: Bytes, p: &mut Printer<'_>) {
    let mut sessions = SessionTracker::new();
    for rec in MrtReader::new(data) {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                p.all_ok = false;
                p.emit(&json!({ "error": e.to_string() }));
                continue;
            }
        };
        let mut head = json!({
            "timestamp": rec.timestamp,
            "mrt_type": rec.kind,
            "mrt_subtype": rec.subtype,
        });
        if let Some(us) = rec.microseconds {
            head["microseconds"] = us.into();
        }
        let body = match &rec.body {
            RecordBody::Bgp4mpMessage(m) => {
                let (msg, _) = sessions.decode(m);
                let message = match msg {
                    Ok(msg) => message_json(&msg, m.message.len()),
                    Err(e) => {
                        p.all_ok = false;
                        error_json(&e)
                    }
                };
                json!({
                    "peer_as": m.peer.peer_as, "local_as": m.peer.local_as,
                    "peer_ip": m.peer.peer_ip, "local_ip": m.peer.local_ip,
                    "sent": m.local, "message": message,
                })
            }
            RecordBody::Bgp4mpStateChange(s) => json!({
                "peer_as": s.peer.peer_as, "local_as": s.peer.local_as,
                "peer_ip": s.peer.peer_ip, "local_ip": s.peer.local_ip,
                "state_change": { "old": fsm_state(s.old_state), "new": fsm_state(s.new_state) },
            }),
            RecordBody::PeerIndexTable(t) => json!({
                "collector_id": t.collector_id,
                "view_name": t.view_name,
                "peers": t.peers.iter().map(|e| json!({
                    "bgp_id": e.bgp_id, "ip": e.ip, "asn": e.asn
                })).collect::<Vec<_>>(),
            }),
            RecordBody::Rib(r) => json!({
                "sequence": r.sequence,
                "family": r.family.to_string(),
                "prefix": r.prefix.map(|p| p.to_string()),
                "entries": r.entries.iter().map(|e| json!({
                    "peer_index": e.peer_index,
                    "originated": e.originated,
                    "path_id": e.path_id,
                    "attributes": attributes_json(&e.attributes, &rib_context()),
                })).collect::<Vec<_>>(),
            }),
            RecordBody::TableDump(e) => json!({
                "view": e.view,
                "sequence": e.sequence,
                "prefix": e.prefix.to_string(),
                "originated": e.originated,
                "peer_ip": e.peer_ip,
                "peer_as": e.peer_as,
                "attributes": attributes_json(&e.attributes, &Context::two_octet()),
            }),
            RecordBody::Unsupported(b) => json!({ "unsupported": hex_str(b) }),
        };
        if let (Value::Object(h), Value::Object(b)) = (&mut head, body) {
            h.extend(b);
        }
        p.emit(&head);
    }
}

/// RFC 4271 8.2.2 state names, as MRT numbers them.
fn fsm_state(n: u16) -> Value {
    match n {
        1 => "Idle".into(),
        2 => "Connect".into(),
        3 => "Active".into(),
        4 => "OpenSent".into(),
        5 => "OpenConfirm".into(),
        6 => "Established".into(),
        n => n.into(),
    }
}
