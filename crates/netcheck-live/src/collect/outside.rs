//! The hermetic "outside world" for the masquerade test: an unnamed network namespace
//! joined to the host by a veth pair on 198.18.0.0/15 (the benchmarking range, never
//! routed on the internet), with a listener inside that reports the source it saw.
//!
//! The namespace has no name and no mount: it lives as long as netcheck holds a file
//! descriptor or socket in it. If netcheck is killed, the kernel destroys it and the veth
//! pair with it, so nothing can leak.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::net::listener::{self, Listener};
use crate::net::netlink;

#[derive(Debug, thiserror::Error)]
pub enum OutsideError {
    #[error("creating a network namespace: {0}")]
    Unshare(std::io::Error),
    #[error("netlink: {0}")]
    Netlink(String),
    #[error("listener in the namespace: {0}")]
    Listen(std::io::Error),
}

pub struct Outside {
    pub host_addr: Ipv4Addr,
    pub peer_addr: Ipv4Addr,
    pub host_link: String,
    pub listener: Listener,
    /// The IPv6 side of the same link; None where the host has no IPv6 (and why).
    pub v6: Result<PeerV6, String>,
    host_index: u32,
    _ns: File,
}

/// The outside peer's IPv6 address and listener, with the host's address on the link.
pub struct PeerV6 {
    pub host_addr: Ipv6Addr,
    pub peer_addr: Ipv6Addr,
    pub listener: Listener,
}

fn nl(e: impl std::fmt::Display) -> OutsideError {
    OutsideError::Netlink(e.to_string())
}

/// Runs `f` in a short-lived thread that has entered `ns`; whatever sockets `f` opens
/// stay in that namespace.
fn in_netns<T: Send>(ns: &File, f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)?;
            Ok(f())
        })
        .join()
        .expect("netns thread does not panic")
    })
}

/// Creates the namespace, the veth pair and the listener. `run_id` (5 hex digits) keeps
/// concurrent runs apart: it names the links and picks the /30 they use.
/// `v6`: give the link an IPv6 side too (some checked network has IPv6).
pub async fn create(host: &Handle, run_id: &str, v6: bool) -> Result<Outside, OutsideError> {
    // 198.18.0.0/15 holds 2^15 blocks of /30; the 20-bit run id picks one.
    let block = u32::from_str_radix(run_id, 16).unwrap_or(0) % (1 << 15);
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + block * 4;
    let host_addr = Ipv4Addr::from(base + 1);
    let peer_addr = Ipv4Addr::from(base + 2);
    let host_link = format!("netcheck{run_id}h");
    let peer_link = format!("netcheck{run_id}p");

    let ns = std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
            File::open("/proc/thread-self/ns/net")
        })
        .join()
        .expect("netns thread does not panic")
    })
    .map_err(OutsideError::Unshare)?;

    // The peer is born inside the namespace, in the same request as the host end: no
    // moment exists where both ends sit in the host's namespace, so however netcheck
    // ends, the pair goes with the namespace.
    let peer = LinkUnspec::new_with_name(&peer_link)
        .setns_by_fd(ns.as_raw_fd())
        .build();
    let pair = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(host_link.clone())
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .build();
    host.link().add(pair).execute().await.map_err(nl)?;
    let index_of = |name: String| async move {
        host.link()
            .get()
            .match_name(name)
            .execute()
            .try_next()
            .await
            .map_err(nl)?
            .map(|m| m.header.index)
            .ok_or_else(|| nl("veth vanished"))
    };
    let host_index = index_of(host_link.clone()).await?;
    // From here on the pair exists: an error below deletes it explicitly.
    let setup = async {
        host.address()
            .add(host_index, IpAddr::V4(host_addr), 30)
            .execute()
            .await
            .map_err(nl)?;
        host.link()
            .set(LinkUnspec::new_with_index(host_index).up().build())
            .execute()
            .await
            .map_err(nl)?;

        let inner =
            netlink::connect_in_fd(ns.try_clone().map_err(OutsideError::Unshare)?).map_err(nl)?;
        let peer_index = inner
            .link()
            .get()
            .match_name(peer_link.clone())
            .execute()
            .try_next()
            .await
            .map_err(nl)?
            .map(|m| m.header.index)
            .ok_or_else(|| nl("peer veth missing in namespace"))?;
        inner
            .address()
            .add(peer_index, IpAddr::V4(peer_addr), 30)
            .execute()
            .await
            .map_err(nl)?;
        for index in [1, peer_index] {
            inner
                .link()
                .set(LinkUnspec::new_with_index(index).up().build())
                .execute()
                .await
                .map_err(nl)?;
        }
        inner
            .route()
            .add(
                RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(host_addr)
                    .build(),
            )
            .execute()
            .await
            .map_err(nl)?;
        let std_listener = in_netns(&ns, || std::net::TcpListener::bind((peer_addr, 0)))
            .and_then(|r| r)
            .map_err(OutsideError::Listen)?;
        let listener = listener::serve(std_listener).map_err(OutsideError::Listen)?;
        // Only where a checked network has IPv6: a healthy IPv4-only run pays nothing.
        let v6 = if v6 {
            ipv6(host, &inner, &ns, &host_link, host_index, peer_index, block).await
        } else {
            Err("no checked network has IPv6".into())
        };
        Ok((listener, v6))
    };
    match setup.await {
        Ok((listener, v6)) => Ok(Outside {
            host_addr,
            peer_addr,
            host_link,
            listener,
            v6,
            host_index,
            _ns: ns,
        }),
        Err(e) => {
            let _ = host.link().del(host_index).execute().await;
            Err(e)
        }
    }
}

/// The link's IPv6 side: `2001:2:0:<block>::1` on the host, `::2` on the peer (the
/// benchmarking range, RFC 5180), a default route back, and a listener. Duplicate
/// address detection is off for both addresses: they are the run's own, and DAD would
/// hold them back for a second or more.
async fn ipv6(
    host: &Handle,
    inner: &Handle,
    ns: &File,
    host_link: &str,
    host_index: u32,
    peer_index: u32,
    block: u32,
) -> Result<PeerV6, String> {
    let net = Ipv6Addr::new(0x2001, 2, 0, block as u16, 0, 0, 0, 0);
    let host_addr = Ipv6Addr::from(u128::from(net) | 1);
    let peer_addr = Ipv6Addr::from(u128::from(net) | 2);
    // IPv6 switched off on the host: nothing to set up, and the reason is that.
    if !std::path::Path::new(&format!("/proc/sys/net/ipv6/conf/{host_link}")).exists() {
        return Err("the host has IPv6 switched off".into());
    }
    let err = |e: rtnetlink::Error| format!("IPv6 address: {e}");
    for (handle, index, addr) in [
        (host, host_index, host_addr),
        (inner, peer_index, peer_addr),
    ] {
        let mut add = handle.address().add(index, IpAddr::V6(addr), 64);
        // No duplicate address detection: the address is usable at once.
        add.message_mut()
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
        add.execute().await.map_err(err)?;
    }
    inner
        .route()
        .add(
            RouteMessageBuilder::<Ipv6Addr>::new()
                .gateway(host_addr)
                .build(),
        )
        .execute()
        .await
        .map_err(|e| format!("IPv6 route: {e}"))?;
    let std_listener = in_netns(ns, || std::net::TcpListener::bind((peer_addr, 0)))
        .and_then(|r| r)
        .map_err(|e| format!("IPv6 listener: {e}"))?;
    let listener = listener::serve(std_listener).map_err(|e| format!("IPv6 listener: {e}"))?;
    Ok(PeerV6 {
        host_addr,
        peer_addr,
        listener,
    })
}

impl Outside {
    /// Deletes the veth pair now; dropping the value then frees the namespace.
    pub async fn remove(self, host: &Handle) {
        let _ = host.link().del(self.host_index).execute().await;
    }
}
