//! port.publish for the users' own containers: every port they publish on the checked
//! networks (up to a cap a run) is reached from the host, and no DNAT rule above the
//! engine's sends it elsewhere.

use std::net::{IpAddr, SocketAddr};

use super::super::{Context, Findings, Subject, rules, sh};
use netcheck_model::snapshot::{ContainerObs, FirewallObs, UserPort};

use super::Code;
use netcheck_model::snapshot::USER_PORTS_CAP as CAP;

pub(super) fn judge(f: &mut Findings, ctx: &Context) {
    let Some(docker) = ctx.snapshot.docker.ok() else {
        return;
    };
    let all: Vec<(&ContainerObs, &UserPort)> = docker
        .containers
        .iter()
        .filter(|c| !c.probe)
        .flat_map(|c| c.published.iter().map(move |p| (c, p)))
        .collect();
    if all.is_empty() {
        return;
    }
    let tried = all.iter().filter(|(_, p)| p.tried.is_some()).count();
    f.note(format!(
        "{} port(s) published by the running containers on the checked networks; {tried} tested from the host \
         (at most {CAP} a run)",
        all.len()
    ));
    let fw = ctx
        .snapshot
        .host
        .ok()
        .and_then(|h| h.firewall.ok())
        .filter(|fw| rules::docker_in_iptables(fw));
    for (c, p) in all {
        let at = SocketAddr::new(p.host_ip, p.host_port);
        let owner: Vec<IpAddr> = docker
            .networks
            .iter()
            .flat_map(|n| &n.endpoints)
            .filter(|e| e.container_id == c.id)
            .filter_map(|e| e.ipv4.map(|a| a.addr()))
            .collect();
        if let Some(fw) = fw
            && let Some((chain, pos, line)) = stealer(fw, p, &owner)
        {
            f.fail_at(
                Code::PortStolen,
                rules::subject("nat", chain, Some(line)),
                format!(
                    "{at} published by {} goes elsewhere: nat {chain} rule {pos} `{line}` takes it above the \
                     engine's rule for {}:{}",
                    c.name,
                    owner.first().map(|a| a.to_string()).unwrap_or_default(),
                    p.container_port
                ),
                format!(
                    "delete the stale rule (a removed container's or a script's leftover): iptables -t nat -D {chain} {pos}; \
                     then docker restart {}",
                    sh(&c.name)
                ),
            );
            continue;
        }
        let Some(t) = &p.tried else { continue };
        match t.outcome.as_str() {
            "answered" => f.pass(format!(
                "{at} of {} (port {}): answered from the host at {} in {} ms",
                c.name, p.container_port, t.target, t.elapsed_ms
            )),
            // A reset: the connection got through to the container, which has no
            // listener on the port. Reaching it is what port.publish tests.
            "refused" => f.pass(format!(
                "{at} of {} (port {}): refused at {} (reached, nothing listens there)",
                c.name, p.container_port, t.target
            )),
            why => f.fail_at(
                Code::UserPortSilent,
                Subject::container(&c.name),
                format!(
                    "port {at} published by {} does not reach it from the host ({}): {why}",
                    c.name, t.target
                ),
                format!(
                    "a host firewall may drop it, or the engine's DNAT rule is gone: iptables -t nat -S DOCKER; \
                     docker port {}",
                    sh(&c.name)
                ),
            ),
        }
    }
}

/// The first DNAT rule for the port that is not the engine's rule for this container:
/// its chain, its position there, and its line. The host's connections and the
/// world's meet PREROUTING's rules (up to its jump to DOCKER), then DOCKER's.
fn stealer<'a>(
    fw: &'a FirewallObs,
    p: &UserPort,
    owner: &[IpAddr],
) -> Option<(&'static str, usize, &'a str)> {
    let port = p.host_port.to_string();
    for chain in ["PREROUTING", "DOCKER"] {
        for (i, r) in rules::chain(fw, "nat", chain).into_iter().enumerate() {
            if chain == "PREROUTING" && r.target == Some("DOCKER") {
                break;
            }
            let for_port = r.target == Some("DNAT")
                && r.matches
                    .iter()
                    .any(|(neg, flag, v)| !neg && *flag == "--dport" && *v == port)
                && r.matches.iter().all(|(neg, flag, v)| match *flag {
                    "-p" => !neg && matches!(*v, "tcp" | "6"),
                    "-d" => covers(v, p.host_ip) != *neg,
                    _ => true,
                });
            if !for_port {
                continue;
            }
            let ours = rules::to_destination(r.line).is_some_and(|(ip, to_port)| {
                owner.contains(&ip) && to_port.is_none_or(|tp| tp == p.container_port)
            });
            return (!ours).then_some((chain, i + 1, r.line));
        }
    }
    None
}

/// Whether `-d value` matches traffic to `host_ip` (any address, for a wildcard).
fn covers(value: &str, host_ip: IpAddr) -> bool {
    if host_ip.is_unspecified() {
        return true;
    }
    value
        .parse::<ipnet::IpNet>()
        .map(|n| n.contains(&host_ip))
        .or_else(|_| value.parse::<IpAddr>().map(|a| a == host_ip))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_dnat_above_the_engines_is_found_with_its_position() {
        let fw: FirewallObs = serde_json::from_value(serde_json::json!({
            "backend": "iptables-nft", "version": "1.8",
            "tables": {"nat": [
                ":DOCKER - [0:0]",
                "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
                "-A DOCKER -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.9:80",
                "-A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
                "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 9090 -j DNAT --to-destination 172.17.0.2:90"
            ]}
        }))
        .unwrap();
        let owner = [IpAddr::from([172, 17, 0, 2])];
        let port = |ip: [u8; 4], host_port, container_port| UserPort {
            host_ip: IpAddr::from(ip),
            host_port,
            container_port,
            tried: None,
        };
        let stolen = stealer(&fw, &port([127, 0, 0, 1], 8080, 80), &owner);
        assert_eq!(stolen.map(|(c, pos, _)| (c, pos)), Some(("DOCKER", 1)));
        assert_eq!(stealer(&fw, &port([0, 0, 0, 0], 9090, 90), &owner), None);
    }
}
