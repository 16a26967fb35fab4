//! Settings of the endpoint and of its sessions.

use std::time::Duration;

use super::auth::AuthSettings;

/// The endpoint's settings.
#[derive(Clone, Debug, Default)]
pub struct BfdConfig {
    /// Seeds everything the endpoint draws at random: discriminators, source ports, the
    /// first authentication sequence numbers and transmit jitter. The same seed and the
    /// same calls give the same outputs. A driver seeds it from the OS.
    pub seed: u64,
}

/// The smallest interval a session accepts, which also bounds how many packets a
/// misconfigured session can send: 1 ms.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// The Desired Min TX a session advertises at least while not Up (RFC 5880 6.8.3). The
/// jitter of 6.8.7 applies to these packets too: they leave 0.75 to 1 s apart.
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// One session's settings (RFC 5880 6.8.1's bfd.DesiredMinTxInterval,
/// bfd.RequiredMinRxInterval and bfd.DetectMult, the role and the authentication).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSettings {
    /// How often we would like to send while Up (never faster than the peer's Required Min
    /// RX; while not Up, at least [`SLOW_TX`] apart).
    pub desired_min_tx: Duration,
    /// How often we can take the peer's packets. Zero asks the peer to send none; then
    /// nothing detects its failure.
    pub required_min_rx: Duration,
    /// How many of the peer's intervals make our Detection Time, at its end (RFC 5880 6.8.4:
    /// the peer's own multiplier counts for our detection).
    pub detect_mult: u8,
    /// The Passive role (6.1): send nothing until the peer has been heard. Only for
    /// multihop sessions: both ends of a single hop are active (RFC 5881 3).
    pub passive: bool,
    pub auth: Option<AuthSettings>,
    /// For a multihop session: drop packets that arrive with a TTL or hop limit below this
    /// (RFC 5883 asks for no TTL check; none by default). Single-hop packets must always
    /// arrive with 255 (RFC 5881 5).
    pub min_ttl: Option<u8>,
}

impl Default for SessionSettings {
    /// 300 ms both ways, detect multiplier 3: a failure is seen within 900 ms.
    fn default() -> SessionSettings {
        SessionSettings {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            passive: false,
            auth: None,
            min_ttl: None,
        }
    }
}

/// Whole microseconds, as the wire has them.
fn to_micros(d: Duration) -> Duration {
    Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl SessionSettings {
    /// The settings with intervals cut to whole microseconds, or why they cannot be used.
    pub(super) fn checked(mut self) -> Result<SessionSettings, &'static str> {
        let max = Duration::from_micros(u64::from(u32::MAX));
        if self.detect_mult == 0 {
            return Err("the detect multiplier is 0");
        }
        if self.desired_min_tx < MIN_INTERVAL || self.desired_min_tx > max {
            return Err("the desired transmit interval is outside 1 ms to 4294 s");
        }
        if self.required_min_rx > max
            || (!self.required_min_rx.is_zero() && self.required_min_rx < MIN_INTERVAL)
        {
            return Err("the required receive interval is neither 0 nor within 1 ms to 4294 s");
        }
        self.desired_min_tx = to_micros(self.desired_min_tx);
        self.required_min_rx = to_micros(self.required_min_rx);
        Ok(self)
    }
}
