//! `[bfd]` and a peer's `bfd`: BFD on the peers' paths.
//!
//! `[bfd]` gives the defaults (and with `enabled = true` turns BFD on for every peer that
//! does not say `bfd = false`); a peer's `bfd = true` takes them, and `bfd = { ... }` any
//! of them in its own values.

use std::time::Duration;

use bgp_speaker::BfdSettings;
use serde::Deserialize;
use toml::Spanned;

use super::raw::PeerRaw;
use super::{Builder, Res};

/// `[bfd]`, or a peer's `bfd = { ... }`, as written; intervals in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BfdTableRaw {
    /// In `[bfd]` only: BFD for every peer that does not turn it off.
    pub(super) enabled: Option<bool>,
    pub(super) min_rx: Option<u64>,
    pub(super) min_tx: Option<u64>,
    pub(super) multiplier: Option<u64>,
    pub(super) multihop: Option<bool>,
    pub(super) wait_for_up: Option<bool>,
    pub(super) graceful: Option<bool>,
}

/// A peer's `bfd`: on or off with the defaults, or its own values.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(super) enum BfdRaw {
    On(bool),
    Table(BfdTableRaw),
}

/// The longest interval taken: a minute (slower than BFD is meant for, faster than BGP's
/// hold timer).
const MAX_MS: u64 = 60_000;

impl Builder<'_> {
    /// `[bfd]` checked where it is written.
    pub(super) fn bfd_defaults(&self, d: &Option<Spanned<BfdTableRaw>>) -> BfdTableRaw {
        let Some(d) = d else {
            return BfdTableRaw::default();
        };
        let _ = self.keep(self.bfd_values(d.get_ref(), BfdSettings::default(), d.span()));
        d.get_ref().clone()
    }

    /// A peer's BFD settings: its own `bfd` over `[bfd]`, and none when off.
    pub(super) fn bfd(
        &self,
        sp: &Spanned<PeerRaw>,
        defaults: &BfdTableRaw,
        range: bool,
    ) -> Res<Option<BfdSettings>> {
        let r = sp.get_ref();
        // A broken `[bfd]` was reported where it is written.
        let base = self
            .bfd_values(defaults, BfdSettings::default(), sp.span())
            .unwrap_or_default();
        let (on, settings, span) = match &r.bfd {
            None => (defaults.enabled.unwrap_or(false), base, sp.span()),
            Some(b) => match b.get_ref() {
                BfdRaw::On(on) => (*on, base, b.span()),
                BfdRaw::Table(t) => {
                    if t.enabled.is_some() {
                        return Err(self.err(
                            b.span(),
                            "`enabled` belongs in [bfd]; a peer says `bfd = true` or `false`",
                        ));
                    }
                    (true, self.bfd_values(t, base, b.span())?, b.span())
                }
            },
        };
        if !on {
            return Ok(None);
        }
        if settings.wait_for_up && range {
            return Err(self.err(
                span,
                "bfd wait_for_up needs a listed peer with local_address, not a range",
            ));
        }
        if settings.wait_for_up && r.local_address.is_none() {
            return Err(self.err(span, "bfd wait_for_up needs `local_address` on the peer"));
        }
        Ok(Some(settings))
    }

    /// `t`'s values over `base`, checked.
    fn bfd_values(
        &self,
        t: &BfdTableRaw,
        base: BfdSettings,
        span: std::ops::Range<usize>,
    ) -> Res<BfdSettings> {
        let ms = |name: &str, v: Option<u64>, d: Duration| match v {
            None => Ok(d),
            Some(v) if (1..=MAX_MS).contains(&v) => Ok(Duration::from_millis(v)),
            Some(v) => Err(self.err(
                span.clone(),
                format!("bfd {name} {v} ms: from 1 to {MAX_MS} ms"),
            )),
        };
        let multiplier = match t.multiplier {
            None => base.multiplier,
            Some(m) => u8::try_from(m).ok().filter(|m| *m > 0).ok_or_else(|| {
                self.err(span.clone(), format!("bfd multiplier {m}: from 1 to 255"))
            })?,
        };
        Ok(BfdSettings {
            min_rx: ms("min_rx", t.min_rx, base.min_rx)?,
            min_tx: ms("min_tx", t.min_tx, base.min_tx)?,
            multiplier,
            multihop: t.multihop.or(base.multihop),
            wait_for_up: t.wait_for_up.unwrap_or(base.wait_for_up),
            graceful: t.graceful.unwrap_or(base.graceful),
        })
    }
}
