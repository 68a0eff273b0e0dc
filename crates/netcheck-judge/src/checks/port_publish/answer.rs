//! port.publish's answer: whether the probe's listener answers a request to a published
//! port (from the host, and by hairpin), and where it does not, why: a packet trace, or
//! a rule on the host's OUTPUT path.

use super::{Code, RESTART};
use crate::checks::{Context, Findings, Subject, nft_path, request_lost, rules, sh};
use netcheck_model::protocol::Purpose;
use netcheck_model::snapshot::{ProbeObs, Published, Request};

/// Whether port `p` (published on `at`) answers: the host's own request where it is
/// published on a loopback address, the probe's hairpin request otherwise.
pub(super) fn judge(
    f: &mut Findings,
    ctx: &Context,
    probe: &ProbeObs,
    p: &Published,
    at: &str,
    probe_ip: Option<std::net::IpAddr>,
    proxied: bool,
) {
    let request = if p.host_ip.is_loopback() {
        probe
            .host_requests
            .iter()
            .find(|r| r.purpose == Purpose::Publish { host_ip: p.host_ip })
    } else {
        probe
            .report
            .requests
            .iter()
            .find(|r| r.purpose == Purpose::Hairpin)
    };
    let from = if p.host_ip.is_loopback() {
        "from the host"
    } else {
        "from the probe itself (hairpin)"
    };
    match request {
        None => f.error(format!("no request was made to {at} {from}")),
        // netavark leaves hairpin mode off on its bridge ports: a container does not
        // reach its own published port through the gateway, by that engine's design
        // (the host and other containers do). Only a cause found elsewhere fails it.
        Some(r)
            if ctx.engine.podman
                && !r.ok
                && !p.host_ip.is_loopback()
                && cause(ctx, probe, r, probe_ip, proxied).is_none() =>
        {
            f.note(format!(
                "GET http://{at}/ {from}: {}; netavark leaves hairpin mode off on its bridge ports, so a \
                 container does not reach its own published port through the gateway, by design",
                r.error.as_deref().unwrap_or("no answer")
            ))
        }
        Some(r) => answered(
            f,
            r,
            at,
            from,
            probe_ip,
            p,
            &cause(ctx, probe, r, probe_ip, proxied),
        ),
    }
}

/// The finding for request `r`: answered, or not, with its `cause` where one is known.
fn answered(
    f: &mut Findings,
    r: &Request,
    at: &str,
    from: &str,
    probe_ip: Option<std::net::IpAddr>,
    p: &Published,
    cause: &Option<(String, String)>,
) {
    if r.ok {
        f.pass(format!(
            "GET http://{at}/ {from}: answered by the probe's listener in {} ms (it saw {})",
            r.elapsed_ms,
            r.seen_source.map(|s| s.to_string()).unwrap_or_default()
        ));
        return;
    }
    let error = r.error.as_deref().unwrap_or("no answer");
    if let Some((cause, hint)) = cause {
        f.fail_at(
            Code::NotAnswering,
            Subject::Host,
            format!("the published port {at} does not reach the container {from}: {cause}"),
            hint.clone(),
        );
        return;
    }
    let hint = if p.host_ip.is_loopback() {
        format!(
            "{RESTART}; check what a host firewall does to port {}: iptables -S INPUT; iptables -t nat -S",
            p.host_port
        )
    } else {
        format!(
            "a host firewall may drop it on the way in (with docker-proxy the hairpin ends at the host: \
             iptables -S INPUT, ufw status); with userland-proxy off, hairpin needs hairpin mode on the \
             bridge ports and br_netfilter (see kernel.br-netfilter); else {RESTART}"
        )
    };
    f.fail_at(
        Code::NotAnswering,
        Subject::Host,
        format!(
            "the published port {at} does not reach the container{} {from}: {error}",
            probe_ip
                .map(|ip| format!(" {ip}:{}", p.container_port))
                .unwrap_or_default()
        ),
        hint,
    );
}

/// Why a request to a published port failed, where the snapshot shows it: its packet
/// trace, else a rule on the host's OUTPUT path (iptables or another nftables table)
/// that drops the host's connections to the probe. Both the host's request and the
/// hairpin end in a connection from the host to the container (docker-proxy's, or the
/// DNATed one).
fn cause(
    ctx: &Context,
    probe: &netcheck_model::snapshot::ProbeObs,
    r: &Request,
    probe_ip: Option<std::net::IpAddr>,
    proxied: bool,
) -> Option<(String, String)> {
    const FILTERED: &str = "the host's own traffic to its containers is filtered (an egress allow-list): \
        allow the containers' subnets in OUTPUT (iptables -I OUTPUT -d SUBNET -j ACCEPT, or in the nft \
        output chain named), or delete the rule";
    // The layers below netfilter first: the bridge, its route, neighbours, tc.
    if let Some(found) = ctx
        .snapshot
        .networks
        .first()
        .and_then(|n| request_lost(ctx, n, r))
    {
        return Some(found);
    }
    if let Some(v) = probe
        .traces
        .iter()
        .find(|t| t.purpose == r.purpose)
        .and_then(|t| t.verdict.as_ref())
    {
        return Some((format!("the packet trace shows it {v}"), FILTERED.into()));
    }
    let host = ctx.snapshot.host.ok()?;
    let bridge = ctx
        .snapshot
        .networks
        .first()
        .and_then(|n| ctx.snapshot.network(n))
        .map(|n| n.bridge.as_str());
    if r.purpose
        == (Purpose::Publish {
            host_ip: std::net::IpAddr::from([127, 0, 0, 1]),
        })
        && let Some(b) = bridge
        && let Some(why) = crate::checks::publish_paths::localnet_cause(host, b, proxied)
    {
        return Some((
            why,
            format!(
                "sysctl -w net.ipv4.conf.{}.route_localnet=1 (the engine sets it at start when userland-proxy \
                 is off; find what reset it: grep -rs route_localnet /etc/sysctl.conf /etc/sysctl.d), or \
                 publish on another address",
                sh(b)
            ),
        ));
    }
    let cause = output_cause(ctx, probe_ip?)?;
    Some((cause, FILTERED.into()))
}

/// A rule on the host's OUTPUT path (iptables, or another nftables table's output
/// chain) that drops the host's connections to the probe at `ip`.
fn output_cause(ctx: &Context, ip: std::net::IpAddr) -> Option<String> {
    let fw = ctx.snapshot.host.ok()?.firewall.ok()?;
    let dest = ipnet::IpNet::from(ip);
    let drops = rules::chain(fw, "filter", "OUTPUT")
        .into_iter()
        .find(|rule| {
            rule.drops()
                && rule.matches.iter().any(|(neg, flag, value)| {
                    !neg && *flag == "-d"
                        && value
                            .parse::<ipnet::IpNet>()
                            .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                            .is_ok_and(|net| net.contains(&ip))
                })
        });
    if let Some(rule) = drops {
        return Some(format!(
            "the host's OUTPUT rule `{}` ({}) drops the host's connections to the container {ip}",
            rule.line, fw.backend
        ));
    }
    let network = ctx.snapshot.networks.first()?;
    let bridge = &ctx.snapshot.network(network)?.bridge;
    let flow = nft_path::Flow {
        v6: ip.is_ipv6(),
        iif: nft_path::Iface::Unknown,
        oif: nft_path::Iface::Is(bridge),
        bridge: None,
        saddr: None,
        daddr: Some(dest),
        established: false,
    };
    let families: &[&str] = if ip.is_ipv6() {
        &["ip6", "inet"]
    } else {
        &["ip", "inet"]
    };
    nft_path::walk(fw.nftables.as_ref()?, fw, families, &["output"], &flow)
        .into_iter()
        .find_map(|v| {
            let by = v.drop?;
            Some(format!(
                "the host's connections to the container {ip} are dropped by table {}, chain {}, {by}",
                v.table, v.chain
            ))
        })
}
