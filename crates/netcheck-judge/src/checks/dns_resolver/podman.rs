//! dns.resolver on Podman: aardvark-dns, not Docker's 127.0.0.11.

use std::net::IpAddr;

use super::{Code, list, nameservers};
use crate::checks::{Findings, Subject};

/// Podman: aardvark-dns answers at the gateway of each network created with DNS (every
/// user network, unless `--disable-dns`), and the probe's resolv.conf names it there.
/// The probe (never a stand-in on Podman) asked each of them.
pub(super) fn dns(
    f: &mut Findings,
    n: &netcheck_model::snapshot::NetworkObs,
    probe: &netcheck_model::snapshot::ProbeObs,
    own: &[IpAddr],
) {
    let gateways: Vec<IpAddr> = n.ipam.iter().filter_map(|c| c.gateway).collect();
    let named = nameservers(&probe.report.resolv_conf);
    let Some(gateway) = gateways.iter().find(|g| named.contains(g)) else {
        f.note(format!(
            "network {}: Podman gives it no DNS server of its own (its gateway {} is not in the probe's resolv.conf: \
             created with --disable-dns, or the default network): containers use the host's resolvers",
            n.name,
            list(&gateways)
        ));
        return;
    };
    // The probe asked each of Podman's servers its resolv.conf names, each lookup
    // named after its server.
    let source = format!(
        "{}@{gateway}",
        netcheck_model::protocol::EMBEDDED_DNS_SOURCE
    );
    let lookup =
        (probe.report.lookups.iter()).find(|l| l.source.as_deref() == Some(source.as_str()));
    match lookup {
        None => f.note(format!(
            "network {}: the probe did not ask aardvark-dns at {gateway} (an older netcheck)",
            n.name
        )),
        Some(l) if l.addrs.iter().any(|a| own.contains(a)) => f.pass(format!(
            "Podman's DNS (aardvark-dns at {gateway}) answers {} with {}, its own",
            l.name,
            list(&l.addrs)
        )),
        Some(l) => f.fail_at(
            Code::EmbeddedDnsSilent,
            Subject::network(&n.name),
            match &l.error {
                Some(e) => format!("Podman's DNS server aardvark-dns at {gateway} did not answer for {}: {e}", l.name),
                None => format!(
                    "Podman's DNS server aardvark-dns at {gateway} answers {} with {}, none of the probe's addresses",
                    l.name,
                    list(&l.addrs)
                ),
            },
            "restart aardvark-dns: stop every container on the network and start them again (Podman starts it \
             with the first and stops it with the last); check that nothing on the host holds port 53 on the \
             gateway's address and that INPUT accepts DNS from the bridge",
        ),
    }
}
