//! Bytes to messages and back (RFC 4271 section 4 and its extensions).
//!
//! Entry points:
//! - [`FrameSplitter`] cuts a TCP byte stream into whole messages, checking the header.
//! - [`Message::decode`] turns one whole message into a value, given the session's
//!   [`Context`]; [`Message::encode`] writes one.
//!
//! Nothing here keeps session state: the context is passed in on every call.

pub mod attributes;
pub mod buf;
pub mod context;
pub mod error;
pub mod nlri;
pub mod open;
pub mod update;

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub use attributes::PathAttributes;
pub use context::{Context, PeerKind};
pub use error::{
    AttributeError, AttributeErrorKind, DecodeError, EncodeError, ErrorAction, NotificationSpec,
};
pub use nlri::{NlriEntry, Prefixes};
pub use open::{AddPathMode, Capability, Open};
pub use update::Update;

use crate::types::{Afi, Family, Safi};
use open::truncate_str;

/// Octets in a message header.
pub const HEADER_LEN: usize = 19;
/// Largest message without the extended message capability.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message with the extended message capability (RFC 8654).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

/// Message type codes.
pub mod msg_type {
    pub const OPEN: u8 = 1;
    pub const UPDATE: u8 = 2;
    pub const NOTIFICATION: u8 = 3;
    pub const KEEPALIVE: u8 = 4;
    pub const ROUTE_REFRESH: u8 = 5;
}

/// A BGP message.
///
/// The UPDATE is boxed: it is large (600 octets), and decoding it into its box costs less
/// than moving it out of the decoder and through the caller's matches.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "type", rename_all = "kebab-case"))]
pub enum Message {
    Open(Open),
    Update(Box<Update>),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The type code.
    pub fn type_code(&self) -> u8 {
        match self {
            Message::Open(_) => msg_type::OPEN,
            Message::Update(_) => msg_type::UPDATE,
            Message::Notification(_) => msg_type::NOTIFICATION,
            Message::Keepalive => msg_type::KEEPALIVE,
            Message::RouteRefresh(_) => msg_type::ROUTE_REFRESH,
        }
    }

    /// Decodes one whole message, header included (as [`FrameSplitter`] yields it).
    pub fn decode(frame: &Bytes, ctx: &Context) -> Result<Message, DecodeError> {
        let (ty, len) = check_header(frame, ctx.max_message_len())?;
        if len != frame.len() {
            return Err(DecodeError::BadMessageLength { length: len as u16 });
        }
        Ok(match ty {
            msg_type::OPEN => Message::Open(Open::decode(&frame[HEADER_LEN..])?),
            msg_type::UPDATE => {
                // Built in its box: an UPDATE value is large.
                let mut u = Box::new(Update::empty());
                u.decode_into(frame, HEADER_LEN, ctx)?;
                Message::Update(u)
            }
            msg_type::NOTIFICATION => {
                Message::Notification(Notification::decode(&frame.slice(HEADER_LEN..)))
            }
            msg_type::KEEPALIVE => Message::Keepalive,
            msg_type::ROUTE_REFRESH => {
                let body = frame.slice(HEADER_LEN..);
                Message::RouteRefresh(RouteRefresh::decode(&body).ok_or_else(|| {
                    DecodeError::RouteRefreshLength {
                        message: frame.clone(),
                    }
                })?)
            }
            // check_header admits only the types above.
            t => return Err(DecodeError::BadMessageType(t)),
        })
    }

    /// Appends the encoded message to `out`.
    pub fn encode(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        out.put_bytes(0xff, 16);
        out.put_u16(0);
        out.put_u8(self.type_code());
        let res = match self {
            Message::Open(o) => o.write_body(out),
            Message::Update(u) => u.write_body(ctx, out),
            Message::Notification(n) => {
                n.write_body(out);
                Ok(())
            }
            Message::Keepalive => Ok(()),
            Message::RouteRefresh(r) => {
                r.write_body(out);
                Ok(())
            }
        };
        let len = out.len() - start;
        let max = ctx.max_message_len();
        let res = match res {
            Ok(()) if len > max => Err(EncodeError::TooLong { len, max }),
            other => other,
        };
        if let Err(e) = res {
            out.truncate(start);
            return Err(e);
        }
        out[start + 16..start + 18].copy_from_slice(&(len as u16).to_be_bytes());
        Ok(())
    }

    /// The message encoded on its own.
    pub fn to_bytes(&self, ctx: &Context) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::new();
        self.encode(ctx, &mut out)?;
        Ok(out.freeze())
    }
}

impl From<Update> for Message {
    fn from(u: Update) -> Message {
        Message::Update(Box::new(u))
    }
}

impl From<Box<Update>> for Message {
    fn from(u: Box<Update>) -> Message {
        Message::Update(u)
    }
}

/// Checks a message header: marker, length bounds for the type, known type. Returns type and
/// length. `buf` must hold at least the header.
fn check_header(buf: &[u8], max_len: usize) -> Result<(u8, usize), DecodeError> {
    if buf.len() < HEADER_LEN {
        return Err(DecodeError::ShortHeader { len: buf.len() });
    }
    if buf[..16].iter().any(|b| *b != 0xff) {
        return Err(DecodeError::ConnectionNotSynchronized);
    }
    let length = u16::from_be_bytes([buf[16], buf[17]]);
    let len = usize::from(length);
    let ty = buf[18];
    let min = match ty {
        msg_type::OPEN => 29,
        msg_type::UPDATE => 23,
        msg_type::NOTIFICATION => 21,
        msg_type::KEEPALIVE => 19,
        // RFC 7313 5: a ROUTE-REFRESH of the wrong length has its own NOTIFICATION, sent
        // when the whole message is decoded.
        msg_type::ROUTE_REFRESH => 19,
        _ => return Err(DecodeError::BadMessageType(ty)),
    };
    if len < min || len > max_len || (ty == msg_type::KEEPALIVE && len != 19) {
        return Err(DecodeError::BadMessageLength { length });
    }
    // Before any capability is negotiated, an OPEN or KEEPALIVE is limited to 4096 octets
    // (RFC 8654 4).
    if matches!(ty, msg_type::OPEN | msg_type::KEEPALIVE) && len > MAX_MESSAGE_LEN {
        return Err(DecodeError::BadMessageLength { length });
    }
    Ok((ty, len))
}

/// Cuts a byte stream into whole messages. Feed it what the transport reads, in any
/// chunking; take messages with [`FrameSplitter::next_frame`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct FrameSplitter {
    buf: BytesMut,
    max_len: usize,
}

impl Default for FrameSplitter {
    fn default() -> Self {
        FrameSplitter::new(MAX_MESSAGE_LEN)
    }
}

impl FrameSplitter {
    /// A splitter that accepts messages up to `max_len` octets (4096, or 65535 once the
    /// extended message capability is negotiated).
    pub fn new(max_len: usize) -> FrameSplitter {
        // No buffer until bytes come: a reflector holds a splitter per connection, and
        // sessions set aside in a collision hold an idle one.
        FrameSplitter {
            buf: BytesMut::new(),
            max_len,
        }
    }

    pub fn set_max_len(&mut self, max_len: usize) {
        self.max_len = max_len;
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The buffer to read into directly, for drivers that avoid a copy.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Octets received but not yet returned as messages.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, `Ok(None)` when more bytes are needed, or the header error
    /// that ends the session. A header is checked as soon as its 19 octets are in, before
    /// the body arrives.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, DecodeError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let (_, len) = check_header(&self.buf[..HEADER_LEN], self.max_len)?;
        if self.buf.len() < len {
            self.buf.reserve(len - self.buf.len());
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(len).freeze()))
    }
}

/// A NOTIFICATION message (RFC 4271 4.5).
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    #[cfg_attr(feature = "serde", serde(serialize_with = "hex"))]
    pub data: Bytes,
}

impl Notification {
    pub fn new(code: u8, subcode: u8, data: Bytes) -> Notification {
        Notification {
            code,
            subcode,
            data,
        }
    }

    /// A Cease with an RFC 8203 / RFC 9003 shutdown communication, cut to 255 octets on a
    /// character boundary.
    pub fn cease_with_message(subcode: u8, message: &str) -> Notification {
        let msg = truncate_str(message, 255);
        let mut data = BytesMut::with_capacity(1 + msg.len());
        data.put_u8(msg.len() as u8);
        data.extend_from_slice(msg);
        Notification::new(error::code::CEASE, subcode, data.freeze())
    }

    /// The shutdown communication of an administrative shutdown or reset Cease, when the
    /// data holds a well-formed one (RFC 9003 2).
    pub fn shutdown_message(&self) -> Option<&str> {
        if self.code != error::code::CEASE
            || !matches!(
                self.subcode,
                error::subcode::ADMIN_SHUTDOWN | error::subcode::ADMIN_RESET
            )
        {
            return None;
        }
        let (len, rest) = self.data.split_first()?;
        std::str::from_utf8(rest.get(..usize::from(*len))?).ok()
    }

    /// The name of the error code and subcode.
    pub fn describe(&self) -> String {
        describe_error(self.code, self.subcode)
    }

    fn decode(body: &Bytes) -> Notification {
        // The header check guarantees two octets.
        Notification {
            code: body[0],
            subcode: body[1],
            data: body.slice(2..),
        }
    }

    fn write_body(&self, out: &mut BytesMut) {
        out.put_u8(self.code);
        out.put_u8(self.subcode);
        out.extend_from_slice(&self.data);
    }
}

impl From<NotificationSpec> for Notification {
    fn from(n: NotificationSpec) -> Self {
        Notification::new(n.code, n.subcode, n.data)
    }
}

impl From<&DecodeError> for Notification {
    fn from(e: &DecodeError) -> Self {
        e.notification().into()
    }
}

impl fmt::Debug for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Notification({}", self.describe())?;
        if let Some(m) = self.shutdown_message() {
            write!(f, ", {m:?}")?;
        } else if !self.data.is_empty() {
            write!(f, ", data {:02x?}", &self.data[..])?;
        }
        f.write_str(")")
    }
}

/// `Code name / subcode name` for a NOTIFICATION.
pub fn describe_error(code: u8, subcode: u8) -> String {
    let (c, names): (&str, &[&str]) = match code {
        1 => (
            "Message Header Error",
            &[
                "",
                "Connection Not Synchronized",
                "Bad Message Length",
                "Bad Message Type",
            ],
        ),
        2 => (
            "OPEN Message Error",
            &[
                "",
                "Unsupported Version Number",
                "Bad Peer AS",
                "Bad BGP Identifier",
                "Unsupported Optional Parameter",
                "",
                "Unacceptable Hold Time",
                "Unsupported Capability",
                "",
                "",
                "",
                "Role Mismatch",
            ],
        ),
        3 => (
            "UPDATE Message Error",
            &[
                "",
                "Malformed Attribute List",
                "Unrecognized Well-known Attribute",
                "Missing Well-known Attribute",
                "Attribute Flags Error",
                "Attribute Length Error",
                "Invalid ORIGIN Attribute",
                "",
                "Invalid NEXT_HOP Attribute",
                "Optional Attribute Error",
                "Invalid Network Field",
                "Malformed AS_PATH",
            ],
        ),
        4 => ("Hold Timer Expired", &[]),
        5 => (
            "Finite State Machine Error",
            &[
                "",
                "Unexpected Message in OpenSent",
                "Unexpected Message in OpenConfirm",
                "Unexpected Message in Established",
            ],
        ),
        6 => (
            "Cease",
            &[
                "",
                "Maximum Number of Prefixes Reached",
                "Administrative Shutdown",
                "Peer De-configured",
                "Administrative Reset",
                "Connection Rejected",
                "Other Configuration Change",
                "Connection Collision Resolution",
                "Out of Resources",
                "Hard Reset",
                "BFD Down",
            ],
        ),
        7 => (
            "ROUTE-REFRESH Message Error",
            &["", "Invalid Message Length"],
        ),
        _ => ("Unknown Error", &[]),
    };
    match names.get(usize::from(subcode)) {
        Some(s) if !s.is_empty() => format!("{c} / {s}"),
        _ if subcode == 0 => c.to_string(),
        _ => format!("{c} / subcode {subcode}"),
    }
}

/// ROUTE-REFRESH subtypes (RFC 7313 3).
pub mod refresh_subtype {
    pub const NORMAL: u8 = 0;
    pub const BEGIN: u8 = 1;
    pub const END: u8 = 2;
}

/// A ROUTE-REFRESH message (RFC 2918, RFC 7313).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RouteRefresh {
    pub family: Family,
    /// 0: a request; 1: Beginning of Route Refresh; 2: End of Route Refresh. Other values
    /// are to be ignored by the receiver (RFC 7313 5).
    pub subtype: u8,
    /// Outbound route filter entries (RFC 5291), kept as received.
    #[cfg_attr(feature = "serde", serde(serialize_with = "hex"))]
    pub orf: Bytes,
}

impl RouteRefresh {
    pub fn request(family: Family) -> RouteRefresh {
        RouteRefresh {
            family,
            subtype: refresh_subtype::NORMAL,
            orf: Bytes::new(),
        }
    }

    fn decode(body: &Bytes) -> Option<RouteRefresh> {
        if body.len() < 4 {
            return None;
        }
        let mut b = body.clone();
        let afi = b.get_u16();
        let subtype = b.get_u8();
        let safi = b.get_u8();
        // BoRR and EoRR carry nothing else (RFC 7313 5).
        if subtype != refresh_subtype::NORMAL && !b.is_empty() {
            return None;
        }
        Some(RouteRefresh {
            family: Family::new(Afi(afi), Safi(safi)),
            subtype,
            orf: b,
        })
    }

    fn write_body(&self, out: &mut BytesMut) {
        out.put_u16(self.family.afi.0);
        out.put_u8(self.subtype);
        out.put_u8(self.family.safi.0);
        out.extend_from_slice(&self.orf);
    }
}

#[cfg(feature = "serde")]
pub(crate) fn hex<S: serde::Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    struct Hex<'a>(&'a [u8]);
    impl fmt::Display for Hex<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            for x in self.0 {
                write!(f, "{x:02x}")?;
            }
            Ok(())
        }
    }
    s.collect_str(&Hex(b))
}
