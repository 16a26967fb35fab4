//! Authentication of control packets (RFC 5880 6.7): simple password, keyed MD5 and keyed
//! SHA1, each of the keyed ones plain or meticulous.
//!
//! A session has one key (one Auth Key ID); rotating keys means updating the session's
//! settings on both ends. The keyed digests are computed over the whole packet as received
//! (Length octets), with the key, zero-padded, in place of the digest (6.7.3, 6.7.4).
//!
//! Sequence numbers: what we send starts at a random value (6.8.1); the meticulous types
//! add one to every packet, the plain ones whenever the packet's contents change (6.7.3
//! allows either). What we accept must lie in the window the RFC gives, of three Detect
//! Mults past the last accepted number (not the last itself, for the meticulous types),
//! in circular 32-bit arithmetic. The last accepted number is forgotten when the peer has
//! been silent for twice the Detection Time (the session's business: see
//! [`AuthState::forget_sequence`]).

use std::fmt;

use bytes::{Bytes, BytesMut};
use md5::{Digest, Md5};
use sha1::Sha1;

use super::packet::{AuthSection, AuthType, ControlPacket, Password, field};
use super::status::DropReason;

/// A session's authentication: its type, its key ID and its key.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthSettings {
    pub auth_type: AuthType,
    pub key_id: u8,
    /// The password (1 to 16 octets), MD5 key (1 to 16) or SHA1 key (1 to 20).
    pub key: Vec<u8>,
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("auth_type", &self.auth_type)
            .field("key_id", &self.key_id)
            .field("key", &"***")
            .finish()
    }
}

impl AuthSettings {
    pub fn new(auth_type: AuthType, key_id: u8, key: impl Into<Vec<u8>>) -> AuthSettings {
        AuthSettings {
            auth_type,
            key_id,
            key: key.into(),
        }
    }

    /// Why the key does not fit its type.
    fn check(&self) -> Result<(), &'static str> {
        let max = match self.auth_type {
            AuthType::SimplePassword => 16,
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => 16,
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => 20,
        };
        if self.key.is_empty() || self.key.len() > max {
            return Err("the authentication key is empty or too long for its type");
        }
        Ok(())
    }
}

/// One session's authentication state: bfd.XmitAuthSeq, bfd.RcvAuthSeq and
/// bfd.AuthSeqKnown of RFC 5880 6.8.1.
#[derive(Clone, Debug)]
pub(super) struct AuthState {
    settings: AuthSettings,
    /// The key as a simple password, for that type.
    password: Option<Password>,
    xmit_seq: u32,
    rcv_seq: u32,
    seq_known: bool,
    /// The last packet sent, without its authentication section.
    last_sent: Option<ControlPacket>,
}

/// The key, zero-padded to the digest's size.
fn padded<const N: usize>(key: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    let n = key.len().min(N);
    out[..n].copy_from_slice(&key[..n]);
    out
}

/// Equality that takes as long whatever the first differing octet.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hash_into(auth_type: AuthType, data: &[u8], out: &mut [u8]) {
    if matches!(auth_type, AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5) {
        out.copy_from_slice(Md5::digest(data).as_slice());
    } else {
        out.copy_from_slice(Sha1::digest(data).as_slice());
    }
}

fn digest_len(auth_type: AuthType) -> usize {
    if matches!(auth_type, AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5) {
        16
    } else {
        20
    }
}

impl AuthState {
    /// `initial_seq` is bfd.XmitAuthSeq's random start. Fails when the key does not fit
    /// the type.
    pub(super) fn new(settings: AuthSettings, initial_seq: u32) -> Result<AuthState, &'static str> {
        settings.check()?;
        let password = match settings.auth_type {
            AuthType::SimplePassword => Password::new(&settings.key),
            _ => None,
        };
        Ok(AuthState {
            settings,
            password,
            xmit_seq: initial_seq,
            rcv_seq: 0,
            seq_known: false,
            last_sent: None,
        })
    }

    /// bfd.AuthSeqKnown to 0: the next valid sequence number is taken as it comes.
    pub(super) fn forget_sequence(&mut self) {
        self.seq_known = false;
    }

    fn next_sequence(&mut self, pkt: &ControlPacket) -> u32 {
        let changed = self.last_sent.as_ref() != Some(pkt);
        if self.last_sent.is_some() && (self.settings.auth_type.is_meticulous() || changed) {
            self.xmit_seq = self.xmit_seq.wrapping_add(1);
        }
        self.last_sent = Some(*pkt);
        self.xmit_seq
    }

    /// `pkt` (whose `auth` is ignored) encoded with this session's authentication.
    pub(super) fn seal(&mut self, mut pkt: ControlPacket) -> Bytes {
        pkt.auth = None;
        let s = &self.settings;
        let (auth_type, key_id) = (s.auth_type, s.key_id);
        if let Some(password) = self.password {
            pkt.auth = Some(AuthSection::SimplePassword { key_id, password });
            return pkt.to_bytes();
        }
        let sequence = self.next_sequence(&pkt);
        let key = &self.settings.key;
        let meticulous = auth_type.is_meticulous();
        pkt.auth = Some(match auth_type {
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => AuthSection::KeyedMd5 {
                meticulous,
                key_id,
                sequence,
                digest: padded(key),
            },
            _ => AuthSection::KeyedSha1 {
                meticulous,
                key_id,
                sequence,
                hash: padded(key),
            },
        });
        let mut buf = BytesMut::with_capacity(pkt.encoded_len());
        pkt.encode(&mut buf);
        let n = digest_len(auth_type);
        let mut digest = [0u8; 20];
        hash_into(auth_type, &buf, &mut digest[..n]);
        buf[field::AUTH_DIGEST..field::AUTH_DIGEST + n].copy_from_slice(&digest[..n]);
        buf.freeze()
    }

    /// Checks the authentication of a received packet whose A bit is set; `raw` is the
    /// packet as received, its Length octets. On success the sequence number is taken as
    /// the last accepted one: authentication is the last check before a packet is accepted.
    pub(super) fn check(&mut self, pkt: &ControlPacket, raw: &[u8]) -> Result<(), DropReason> {
        let Some(section) = &pkt.auth else {
            return Err(DropReason::AuthMissing);
        };
        let s = &self.settings;
        if section.auth_type() != s.auth_type {
            return Err(DropReason::AuthTypeMismatch);
        }
        if section.key_id() != s.key_id {
            return Err(DropReason::AuthKeyId);
        }
        let (sequence, received) = match section {
            AuthSection::SimplePassword { password, .. } => {
                return if same(password.as_bytes(), &s.key) {
                    Ok(())
                } else {
                    Err(DropReason::AuthFailed)
                };
            }
            AuthSection::KeyedMd5 {
                sequence, digest, ..
            } => (*sequence, &digest[..]),
            AuthSection::KeyedSha1 { sequence, hash, .. } => (*sequence, &hash[..]),
        };
        if self.seq_known {
            let ahead = sequence.wrapping_sub(self.rcv_seq);
            let floor = u32::from(s.auth_type.is_meticulous());
            if ahead < floor || ahead > 3 * u32::from(pkt.detect_mult) {
                return Err(DropReason::AuthSequence);
            }
        }
        // The packet with the key in place of the digest. Length is one octet, so the
        // packet fits on the stack.
        let mut copy = [0u8; 255];
        let len = raw.len().min(copy.len());
        copy[..len].copy_from_slice(&raw[..len]);
        let n = received.len();
        let end = field::AUTH_DIGEST + n;
        if len < end {
            return Err(DropReason::AuthLength);
        }
        copy[field::AUTH_DIGEST..end].copy_from_slice(&padded::<20>(&s.key)[..n]);
        let mut expect = [0u8; 20];
        hash_into(s.auth_type, &copy[..len], &mut expect[..n]);
        if !same(&expect[..n], received) {
            return Err(DropReason::AuthFailed);
        }
        self.seq_known = true;
        self.rcv_seq = sequence;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bfd::packet::{Diag, State};
    use std::time::Duration;

    fn pkt() -> ControlPacket {
        ControlPacket {
            diag: Diag::NoDiagnostic,
            state: State::Up,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 1,
            your_discriminator: 2,
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            required_min_echo_rx: Duration::ZERO,
            auth: None,
        }
    }

    #[test]
    fn plain_keyed_sequence_moves_only_when_contents_change() {
        let mut a = AuthState::new(AuthSettings::new(AuthType::KeyedSha1, 1, *b"k"), 10).unwrap();
        let seq = |b: &Bytes| ControlPacket::decode(b).unwrap().auth.unwrap().sequence();
        assert_eq!(seq(&a.seal(pkt())), Some(10));
        assert_eq!(seq(&a.seal(pkt())), Some(10));
        let mut p = pkt();
        p.poll = true;
        assert_eq!(seq(&a.seal(p)), Some(11));
    }

    #[test]
    fn meticulous_sequence_moves_with_every_packet() {
        let settings = AuthSettings::new(AuthType::MeticulousKeyedMd5, 1, *b"k");
        let mut a = AuthState::new(settings, u32::MAX).unwrap();
        let seq = |b: &Bytes| ControlPacket::decode(b).unwrap().auth.unwrap().sequence();
        assert_eq!(seq(&a.seal(pkt())), Some(u32::MAX));
        assert_eq!(seq(&a.seal(pkt())), Some(0));
    }
}
