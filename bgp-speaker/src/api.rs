//! [`Speaker`], the handle a node agent or a daemon holds.

use std::net::IpAddr;
use std::sync::Arc;

use bgp_core::router::{
    Announcement, DynamicPeers, PeerSettings, PeerStatus, PeerUpdate, RouteChange, Summary,
};
use ipnet::IpNet;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::config::SpeakerConfig;
use crate::driver::Command;
use crate::error::SpeakerError;
use crate::kernel::writer::FibCounters;
use crate::query::{RouteDetail, RouteQuery};

type Reply<T> = oneshot::Sender<T>;

/// The handle of a running speaker. Cheap to clone; every method is async and
/// cancellation-safe (a dropped call leaves the speaker consistent).
#[derive(Clone, Debug)]
pub struct Speaker {
    cmd: mpsc::Sender<Command>,
    routes: broadcast::Sender<RouteChange>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Speaker {
    /// Binds the listeners, starts the peers of `config`, and returns the handle.
    pub async fn start(config: SpeakerConfig) -> Result<Speaker, SpeakerError> {
        let (cmd, routes, metrics) = crate::driver::start(config).await?;
        Ok(Speaker {
            cmd,
            routes,
            metrics,
        })
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, SpeakerError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(make(tx))
            .await
            .map_err(|_| SpeakerError::Stopped)?;
        rx.await.map_err(|_| SpeakerError::Stopped)
    }

    /// Announces a prefix of this node to every peer.
    pub async fn announce(&self, prefix: IpNet, a: Announcement) -> Result<(), SpeakerError> {
        self.ask(|tx| Command::Announce(prefix, a, tx)).await?
    }

    /// Withdraws a prefix announced before.
    pub async fn withdraw(&self, prefix: IpNet) -> Result<(), SpeakerError> {
        self.ask(|tx| Command::Withdraw(prefix, tx)).await
    }

    pub async fn add_peer(&self, p: PeerSettings) -> Result<(), SpeakerError> {
        self.ask(|tx| Command::AddPeer(p, tx)).await?
    }

    /// Changes a peer's settings. The same settings change nothing. When only the import
    /// or export policy differs, it is applied in place and the session stays up (a new
    /// import policy is re-applied from the routes kept before policy with
    /// `soft_reconfig_inbound`, else the peer is asked for a route refresh). Any other
    /// change ends the session with Cease / Other Configuration Change and starts it again
    /// with the new settings (its routes go meanwhile).
    pub async fn update_peer(&self, p: PeerSettings) -> Result<PeerUpdate, SpeakerError> {
        self.ask(|tx| Command::UpdatePeer(p, tx)).await?
    }

    /// Ends a peer's session with an administrative reset (RFC 8203 `message`) and starts
    /// it again; also brings back a peer that was shut down.
    pub async fn reset_peer(&self, address: IpAddr, message: &str) -> Result<(), SpeakerError> {
        let m = message.to_string();
        self.ask(|tx| Command::PeerDown(address, false, m, tx))
            .await?
    }

    /// Ends a peer's session with an administrative shutdown (RFC 8203 `message`); the
    /// peer stays configured and down until [`Speaker::reset_peer`].
    pub async fn shutdown_peer(&self, address: IpAddr, message: &str) -> Result<(), SpeakerError> {
        let m = message.to_string();
        self.ask(|tx| Command::PeerDown(address, true, m, tx))
            .await?
    }

    /// Replaces the ranges dynamic peers are accepted from. Dynamic peers outside every new
    /// range are removed; the others take their range's new template (see
    /// [`Speaker::update_peer`]). Returns what happened to each dynamic peer still there.
    pub async fn set_dynamic_peers(
        &self,
        ranges: Vec<DynamicPeers>,
    ) -> Result<Vec<(IpAddr, PeerUpdate)>, SpeakerError> {
        self.ask(|tx| Command::SetDynamic(ranges, tx)).await?
    }

    /// Routes with all their paths and attributes, sorted by prefix.
    pub async fn routes(&self, query: RouteQuery) -> Result<Vec<RouteDetail>, SpeakerError> {
        self.ask(|tx| Command::Detail(query, tx)).await
    }

    /// One of a peer's tables: its Adj-RIB-In, Adj-RIB-Out or filtered routes.
    pub async fn peer_table(
        &self,
        peer: std::net::IpAddr,
        table: crate::PeerTable,
    ) -> Result<crate::PeerTableView, SpeakerError> {
        self.ask(|tx| Command::PeerTable(peer, table, tx)).await?
    }

    pub async fn summary(&self) -> Result<Summary, SpeakerError> {
        self.ask(Command::Summary).await
    }

    /// Removes a peer: Cease / Peer De-configured, and its routes go.
    pub async fn remove_peer(&self, address: IpAddr) -> Result<(), SpeakerError> {
        self.ask(|tx| Command::RemovePeer(address, tx)).await?
    }

    /// Removes a peer given by its interface alone (`address` `::` and `interface`), and
    /// the peer at the neighbour found there.
    pub async fn remove_interface_peer(&self, interface: &str) -> Result<(), SpeakerError> {
        let name = interface.to_owned();
        self.ask(|tx| Command::RemoveInterfacePeer(name, tx))
            .await?
    }

    /// Asks a peer to send its routes again (ROUTE-REFRESH, RFC 2918), for every family of
    /// the session: after an import policy change, say.
    pub async fn refresh(&self, address: IpAddr) -> Result<(), SpeakerError> {
        self.ask(|tx| Command::Refresh(address, tx)).await?
    }

    pub async fn peers(&self) -> Result<Vec<PeerStatus>, SpeakerError> {
        self.ask(Command::Peers).await
    }

    /// The current best routes.
    pub async fn best_routes(&self) -> Result<Vec<RouteChange>, SpeakerError> {
        self.ask(Command::Routes).await
    }

    /// Changes of best routes from now on (read [`Speaker::best_routes`] after subscribing
    /// for the routes already there). A subscriber that falls behind by more than 4,096
    /// changes gets `Lagged` and should read [`Speaker::best_routes`] again.
    pub fn subscribe(&self) -> broadcast::Receiver<RouteChange> {
        self.routes.subscribe()
    }

    /// The speaker's Prometheus metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// Kernel FIB counters, when the speaker programs the FIB.
    pub async fn fib_counters(&self) -> Result<Option<FibCounters>, SpeakerError> {
        self.ask(Command::FibCounters).await
    }

    /// Replaces the blackhole routes the FIB holds (see
    /// [`FibConfig::blackholes`](crate::fib::FibConfig::blackholes)); without a FIB,
    /// nothing.
    pub async fn set_blackholes(&self, prefixes: Vec<IpNet>) -> Result<(), SpeakerError> {
        self.ask(|tx| Command::SetBlackholes(prefixes, tx)).await
    }

    /// Stops every session. Peers with graceful restart keep our routes while we restart
    /// (RFC 4724): with RFC 8538 they get an administrative shutdown carrying `message`
    /// (RFC 8203), without it the connection is closed with no NOTIFICATION; the others get
    /// the administrative shutdown. Installed kernel routes stay (a restart keeps
    /// forwarding) unless the FIB is configured with `flush_on_shutdown`, in which case they
    /// are deleted before this returns.
    pub async fn shutdown(&self, message: &str) -> Result<(), SpeakerError> {
        let m = message.to_string();
        self.ask(|tx| Command::Shutdown(m, tx)).await
    }
}
