//! nat.masquerade's IPv6 half: the engine's NAT66 rule where it keeps one; the live
//! IPv6 flow (live.rs) follows from whether it keeps one.

use super::Code;
use super::masquerade_rule;
use crate::checks::engine_rules::{self, Backend};
use crate::checks::{Context, Findings};
use netcheck_model::snapshot::{FirewallObs, NetworkObs};

/// The IPv6 half, where the network has it. Docker NATs IPv6 with ip6tables on (the
/// default from Docker 27; in its own ip6 table with the nftables backend); without it,
/// or in routed mode, IPv6 traffic leaves routed with the container's own address, by
/// design: that is said, not failed. Then the live IPv6 flow to the outside peer.
pub(super) fn judge(
    f: &mut Findings,
    ctx: &Context,
    n: &NetworkObs,
    host: &netcheck_model::snapshot::HostObs,
) {
    if !n.enable_ipv6 {
        f.note(format!("IPv6: off on network {}", n.name));
        return;
    }
    let Some(subnet) = n.subnet_v6() else {
        f.note(format!(
            "network {}: IPv6 on, but no IPv6 subnet (see bridge.subnet)",
            n.name
        ));
        return;
    };
    let routed = engine_rules::GatewayMode::of(n, true) == engine_rules::GatewayMode::Routed;
    // Whether the engine masquerades this network's IPv6 traffic; None: not known.
    let nat = match host.firewall.ok() {
        _ if routed => {
            f.note(format!(
                "network {}: gateway_mode_ipv6=routed, no IPv6 NAT by design",
                n.name
            ));
            Some(false)
        }
        None => {
            f.note(format!(
                "network {}: IPv6 NAT rules not read (no firewall reading)",
                n.name
            ));
            None
        }
        Some(_) if ctx.engine.podman && !ctx.engine.netavark => {
            f.note(crate::checks::netavark::CNI);
            None
        }
        // Podman: netavark masquerades IPv6 as it does IPv4, in ip6tables.
        Some(fw) if ctx.engine.podman => {
            // The tables read before the probe are IPv4's alone.
            let v6 = FirewallObs {
                backend: format!("ip6tables ({})", fw.backend),
                tables: fw.tables_v6.clone(),
                tables_before_probe: None,
                ..fw.clone()
            };
            super::podman::rules(f, &v6, n, subnet);
            Some(true)
        }
        Some(fw) if ctx.engine.backend == Backend::Nftables => {
            match engine_rules::nft_masquerade(fw, n, true) {
                Ok(rule) => f.pass(format!("nftables: {rule}")),
                Err(why) if fw.nftables.is_none() => f.note(format!("IPv6 NAT not read: {why}")),
                Err(why) => f.fail_at(
                    Code::MasqueradeRuleMissingV6,
                    crate::checks::rules::subject(
                        &format!("ip6 {}", engine_rules::NFT_TABLE),
                        &format!("nat-postrouting-out__{}", n.bridge),
                        None,
                    ),
                    format!("no IPv6 masquerade rule for {subnet} ({}): {why}", n.name),
                    "restart the Docker daemon to restore its rules (systemctl restart docker); \
                     the engine owns its ip6 table, so never edit it by hand",
                ),
            }
            Some(true)
        }
        Some(fw) => {
            let v6 = FirewallObs {
                tables: fw.tables_v6.clone(),
                ..fw.clone()
            };
            if !crate::checks::rules::docker_in_iptables(&v6) {
                f.note(format!(
                    "network {}: the engine does no IPv6 NAT (\"ip6tables\" off in daemon.json): IPv6 traffic leaves \
                     routed, with the container's own address",
                    n.name
                ));
                Some(false)
            } else {
                match masquerade_rule(&v6, n, &subnet.to_string()) {
                    Some(rule) => f.pass(format!("ip6tables: nat {rule}")),
                    None => f.fail_at(
                        Code::MasqueradeRuleMissingV6,
                        crate::checks::rules::subject("nat", "POSTROUTING", None),
                        format!(
                            "no IPv6 MASQUERADE rule for {subnet} ({}) in ip6tables nat POSTROUTING",
                            n.name
                        ),
                        "restart the Docker daemon to restore its ip6tables rules (systemctl restart docker)",
                    ),
                }
                Some(true)
            }
        }
    };
    super::live::live_egress_v6(f, ctx, n, subnet, nat);
}
