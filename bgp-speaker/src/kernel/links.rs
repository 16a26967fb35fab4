//! Address and link notifications (rtnetlink multicast groups), so that the FIB's view of
//! the connected subnets and the tunnel device follows the node: an address added or
//! removed, a `tunl0` that appears or goes.

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use netlink_packet_core::NetlinkMessage;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{AsyncSocket, SocketAddr};
use rtnetlink::constants::{RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK};

use super::fib::FibError;

type Messages = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>;

/// A subscription to the kernel's address and link changes.
#[derive(Debug)]
pub(crate) struct LinkWatch {
    messages: Messages,
}

impl LinkWatch {
    /// Joins the link, IPv4 address and IPv6 address groups in the calling process's
    /// namespace.
    pub(crate) fn open() -> Result<LinkWatch, FibError> {
        let (mut conn, _handle, messages) = rtnetlink::new_connection()?;
        let groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
        conn.socket_mut()
            .socket_mut()
            .bind(&SocketAddr::new(0, groups))?;
        tokio::spawn(conn);
        Ok(LinkWatch { messages })
    }

    /// Waits for a change, then for the burst it starts (an interface brought up comes
    /// with several messages) to pass. `false`: the subscription ended.
    pub(crate) async fn changed(&mut self) -> bool {
        if self.messages.next().await.is_none() {
            return false;
        }
        let quiet = std::time::Duration::from_millis(50);
        while let Ok(m) = tokio::time::timeout(quiet, self.messages.next()).await {
            if m.is_none() {
                return false;
            }
        }
        true
    }
}
