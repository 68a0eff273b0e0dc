//! `port.publish`: a published port reaches its container, from the host and by hairpin.

use super::{Check, Context, Findings, Needs, Outcome, missing};
use crate::snapshot::{Observed, Published, Request, purpose};

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Host,
    id: "port.publish",
    title: "A published port reaches its container, also by hairpin",
    doc: "\
The probe container publishes its listener's port twice: on 127.0.0.1 and on the
gateway address of its network (never on a wildcard, so nothing is exposed beyond this
machine). netcheck then fetches it from the host through 127.0.0.1, and the probe fetches
it from inside through the gateway address: the hairpin, a container reaching a
published port through a host address. Both answers must come from the probe's listener.
The check also reads how the engine carries each port: its DNAT rule in the nat DOCKER
chain, and its docker-proxy process. Where the engine keeps iptables rules, the DNAT
rule must be there.

Fails when: a published port does not answer from the host or by hairpin; its DNAT rule
is missing (something flushed Docker's nat rules); or neither a rule nor a proxy carries it.
Typical cause: a firewalld reload wiped Docker's DNAT rules; userland-proxy is off and
hairpin NAT is broken.",
    needs: Needs {
        host: true,
        probe: true,
        publish: true,
        ..Needs::NONE
    },
    configure: |t| super::params::none(t, judge),
    params_schema: super::params::schema_none,
};

const RESTART: &str = "restart the Docker daemon to restore its rules (systemctl restart docker); \
with firewalld, start it before docker, so that docker re-adds its rules on every reload";

fn judge(ctx: &Context, _: &super::Instance) -> Outcome {
    let Some(probe) = ctx.snapshot.probe.ok() else {
        return missing(&ctx.snapshot.probe, "probe container");
    };
    if probe.published.is_empty() {
        let why = ctx
            .snapshot
            .host
            .why_missing()
            .unwrap_or("the probe published no port");
        return Outcome::skip(format!("no published port to test: {why}"), vec![]);
    }
    let mut f = Findings::default();
    let probe_ip = ctx
        .snapshot
        .docker
        .ok()
        .into_iter()
        .flat_map(|d| &d.networks)
        .filter(|n| ctx.snapshot.networks.first() == Some(&n.name))
        .flat_map(|n| &n.endpoints)
        .find(|e| e.container_name == probe.container_name)
        .and_then(|e| e.ipv4)
        .map(|a| a.addr());
    let host = ctx.snapshot.host.ok();
    for p in &probe.published {
        let at = format!("{}:{}", p.host_ip, p.host_port);
        f.note(format!(
            "probe port {}/tcp published on {at}",
            p.container_port
        ));
        // How the engine carries it.
        let dnat = host.and_then(|h| match &h.firewall {
            // Docker's nftables backend keeps no iptables rules to read.
            Observed::Ok { value } if super::rules::docker_in_iptables(value) => {
                Some(dnat_rule(value, p))
            }
            _ => None,
        });
        let proxy = host.and_then(|h| {
            h.proxies
                .iter()
                .find(|x| x.host_port == p.host_port && x.host_ip == p.host_ip.to_string())
        });
        if let Some(x) = proxy {
            f.note(format!(
                "docker-proxy {}:{} -> {}:{}",
                x.host_ip, x.host_port, x.container_ip, x.container_port
            ));
        }
        match (dnat, proxy) {
            (Some(Some(rule)), _) => f.pass(format!("nat {rule}")),
            (Some(None), _) => f.fail(
                format!("the DNAT rule for {at} is missing from the nat DOCKER chain: Docker's nat rules were flushed"),
                RESTART,
            ),
            (None, Some(_)) => f.note("firewall not read: the DNAT rule was not checked"),
            // Rules not readable here (no root, or Docker's nftables backend) and no proxy
            // (userland-proxy off): the requests below still tell whether it works.
            (None, None) => f.note(format!(
                "how {at} is carried was not seen: no readable DNAT rule, no docker-proxy"
            )),
        }
        // Whether it answers.
        let request = if p.host_ip.is_loopback() {
            probe
                .host_requests
                .iter()
                .find(|r| r.purpose == purpose::publish(p.host_ip))
        } else {
            probe
                .report
                .requests
                .iter()
                .find(|r| r.purpose == purpose::HAIRPIN)
        };
        let from = if p.host_ip.is_loopback() {
            "from the host"
        } else {
            "from the probe itself (hairpin)"
        };
        match request {
            None => f.error(format!("no request was made to {at} {from}")),
            Some(r) => answered(&mut f, r, &at, from, probe_ip, p),
        }
    }
    f.finish("published ports reach the container, from the host and by hairpin")
}

fn answered(
    f: &mut Findings,
    r: &Request,
    at: &str,
    from: &str,
    probe_ip: Option<std::net::IpAddr>,
    p: &Published,
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
    f.fail(
        format!(
            "the published port {at} does not reach the container{} {from}: {error}",
            probe_ip
                .map(|ip| format!(" {ip}:{}", p.container_port))
                .unwrap_or_default()
        ),
        hint,
    );
}

/// `-A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 32768 -j DNAT
/// --to-destination 172.17.0.2:8080`.
fn dnat_rule<'a>(fw: &'a crate::snapshot::FirewallObs, p: &Published) -> Option<&'a str> {
    let port = format!("--dport {} ", p.host_port);
    let to = format!(":{}", p.container_port);
    fw.tables.get("nat")?.iter().map(String::as_str).find(|l| {
        l.starts_with("-A DOCKER ")
            && l.contains(&port)
            && l.contains("-j DNAT")
            && l.ends_with(&to)
    })
}
