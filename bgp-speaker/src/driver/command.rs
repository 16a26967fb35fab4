//! What the handle asks of the driver, each with the channel for its answer.

use std::net::IpAddr;

use bgp_core::router::{
    Announcement, DynamicPeers, PeerSettings, PeerStatus, PeerUpdate, RouteChange, Summary,
};
use ipnet::IpNet;
use tokio::sync::oneshot;

use crate::error::SpeakerError;
use crate::kernel::writer::FibCounters;
use crate::query::{PeerTable, PeerTableView, RouteDetail, RouteQuery};

type Reply<T> = oneshot::Sender<T>;

/// What the handle asks of the driver.
pub(crate) enum Command {
    Announce(IpNet, Announcement, Reply<Result<(), SpeakerError>>),
    Withdraw(IpNet, Reply<()>),
    AddPeer(PeerSettings, Reply<Result<(), SpeakerError>>),
    RemovePeer(IpAddr, Reply<Result<(), SpeakerError>>),
    /// A peer given by interface alone goes, with the peer at its neighbour.
    RemoveInterfacePeer(String, Reply<Result<(), SpeakerError>>),
    UpdatePeer(PeerSettings, Reply<Result<PeerUpdate, SpeakerError>>),
    /// Stop (`true`: and stay down) or reset a peer's session with a message.
    PeerDown(IpAddr, bool, String, Reply<Result<(), SpeakerError>>),
    SetDynamic(
        Vec<DynamicPeers>,
        Reply<Result<Vec<(IpAddr, PeerUpdate)>, SpeakerError>>,
    ),
    Detail(RouteQuery, Reply<Vec<RouteDetail>>),
    PeerTable(
        IpAddr,
        PeerTable,
        Reply<Result<PeerTableView, SpeakerError>>,
    ),
    Summary(Reply<Summary>),
    Peers(Reply<Vec<PeerStatus>>),
    Refresh(IpAddr, Reply<Result<(), SpeakerError>>),
    Routes(Reply<Vec<RouteChange>>),
    FibCounters(Reply<Option<FibCounters>>),
    /// The FIB's blackhole routes from now on.
    SetBlackholes(Vec<IpNet>, Reply<()>),
    Shutdown(String, Reply<()>),
}
