//! The HTML report's SVG picture of the host's network: uplink and routes, the host,
//! each bridge with its subnet and gateway, the veth pairs, the containers with their
//! addresses, and the NAT path out. Elements that a failing check is about are drawn
//! red and link to that check's row.

use std::fmt::Write;

use super::draw::{line, rect};
use super::elements::{Element, failing};
use netcheck_model::report::Report;
use netcheck_model::snapshot::{EndpointObs, HostObs, NetnsObs, NetworkObs, Snapshot, TABLE_MAIN};

const WIDTH: i32 = 1000;
/// Containers drawn per bridge: a picture of hundreds says nothing.
const MAX_CONTAINERS: usize = 12;
/// Bridges drawn side by side.
const MAX_BRIDGES: usize = 5;

/// Where one network's column sits: its bridge's row, and the host box's top above it.
struct Column {
    x: i32,
    w: i32,
    bridge_y: i32,
    host_y: i32,
}

/// The SVG picture: uplink and host routes, the host, then each checked network's
/// bridge with its containers below. Elements a failing check is about are red.
pub(super) fn svg(snapshot: &Snapshot, report: &Report) -> String {
    let mut svg = String::new();
    let host = snapshot.host.ok();
    let ns: Option<&NetnsObs> = host.map(|h| &h.netns);
    let bridges: Vec<&str> = snapshot
        .docker
        .ok()
        .map(|d| d.networks.iter().map(|n| n.bridge.as_str()).collect())
        .unwrap_or_default();
    let routes_h = uplink_and_routes(&mut svg, ns, &bridges, report);
    let host_y = 40 + routes_h.max(70);
    host_box(&mut svg, host, host_y, report);
    let networks: Vec<&NetworkObs> = snapshot
        .networks
        .iter()
        .filter_map(|n| snapshot.network(n))
        .collect();
    let bottom = bridge_columns(&mut svg, snapshot, report, &networks, host_y);
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{bottom}" viewBox="0 0 {WIDTH} {bottom}" role="img" aria-label="network topology">{svg}</svg>"#
    )
}

/// The uplink box (where the host's default route leaves) and the host routes box
/// beside it, red when bridge.subnet names a route's interface; returns the routes
/// box's height.
fn uplink_and_routes(
    svg: &mut String,
    ns: Option<&NetnsObs>,
    bridges: &[&str],
    report: &Report,
) -> i32 {
    let (uplink, routes) = match ns {
        Some(ns) => (uplink_lines(ns), route_lines(ns, bridges)),
        None => (
            vec!["uplink".to_string(), "host side not observed".into()],
            vec!["host routes".to_string()],
        ),
    };
    let route_el = Element {
        names: ns
            .map(|ns| {
                ns.routes
                    .iter()
                    .filter_map(|r| r.oif.map(|i| ns.link_name(i)))
                    .filter(|d| !bridges.contains(&d.as_str()))
                    .collect()
            })
            .unwrap_or_default(),
        owners: &["bridge.subnet"],
        network: None,
    };
    rect(svg, (20, 20, 460, 70), &uplink, None, "uplink");
    let routes_h = 24 + 16 * routes.len() as i32;
    rect(
        svg,
        (520, 20, 460, routes_h),
        &routes,
        failing(report, &route_el, false),
        "routes",
    );
    routes_h
}

/// Each default route's interface, its addresses, and its gateway.
fn uplink_lines(ns: &NetnsObs) -> Vec<String> {
    let mut uplink = vec!["uplink".to_string()];
    for r in ns.default_routes_v4() {
        let dev = r.oif.map(|i| ns.link_name(i)).unwrap_or_default();
        let addrs: Vec<String> = r
            .oif
            .map(|i| {
                ns.addrs_of(i)
                    .filter(|a| a.addr().is_ipv4())
                    .map(|a| a.to_string())
                    .collect()
            })
            .unwrap_or_default();
        let mtu = r
            .oif
            .and_then(|i| ns.link(i))
            .and_then(|l| l.mtu)
            .map(|m| format!(" mtu {m}"))
            .unwrap_or_default();
        uplink.push(format!("{dev}{mtu} {}", addrs.join(" ")));
        uplink.push(format!(
            "default via {}",
            r.gateway
                .map(|g| g.to_string())
                .unwrap_or_else(|| "(none)".into())
        ));
    }
    uplink
}

/// The first main-table IPv4 routes, `*` marking those through no Docker bridge.
fn route_lines(ns: &NetnsObs, bridges: &[&str]) -> Vec<String> {
    let mut routes = vec!["host routes".to_string()];
    let shown = ns
        .routes
        .iter()
        .filter(|r| r.table == TABLE_MAIN && r.dst.prefix_len() > 0 && r.dst.addr().is_ipv4())
        .take(8);
    for r in shown {
        let dev = r.oif.map(|i| ns.link_name(i)).unwrap_or_default();
        let mark = if bridges.contains(&dev.as_str()) {
            ""
        } else {
            " *"
        };
        routes.push(format!("{} dev {dev}{mark}", r.dst));
    }
    routes
}

/// The host itself: forwarding and the firewall backend, which NAT depends on; red
/// when a host-wide check fails about it.
fn host_box(svg: &mut String, host: Option<&HostObs>, host_y: i32, report: &Report) {
    let mut facts = vec![format!("host {}", report.host.hostname)];
    if let Some(h) = host {
        facts.push(format!(
            "ip_forward={}   firewall: {}",
            h.sysctl
                .get("net.ipv4.ip_forward")
                .map(String::as_str)
                .unwrap_or("?"),
            h.firewall
                .ok()
                .map(|f| f.backend.as_str())
                .unwrap_or("not read")
        ));
    }
    let host_el = Element {
        names: vec![
            "host.docker.internal".into(),
            "ip_forward".into(),
            "net.ipv4.ip_forward".into(),
        ],
        owners: &[
            "host.docker-internal",
            "nat.masquerade",
            "kernel.ip-forward",
            "kernel.br-netfilter",
            "firewall.backend",
            "port.publish",
            "daemon.warnings",
        ],
        network: None,
    };
    rect(
        svg,
        (20, host_y, 960, 50),
        &facts,
        failing(report, &host_el, false),
        "host",
    );
    line(svg, (250, host_y), (250, 90), "", None, "link");
}

/// The bridges side by side, each with its containers below; returns the picture's
/// bottom. Columns narrower than a container box say nothing: only the first few
/// bridges are drawn, and the rest counted.
fn bridge_columns(
    svg: &mut String,
    snapshot: &Snapshot,
    report: &Report,
    networks: &[&NetworkObs],
    host_y: i32,
) -> i32 {
    let bridge_y = host_y + 110;
    let hidden = networks.len().saturating_sub(MAX_BRIDGES);
    let networks = &networks[..networks.len().min(MAX_BRIDGES)];
    // With one network, its failing checks are about its bridge whatever they name.
    let alone = networks.len() == 1;
    let col = (WIDTH - 20) / networks.len().max(1) as i32;
    let mut bottom = bridge_y + 80;
    for (i, net) in networks.iter().enumerate() {
        let column = Column {
            x: 20 + col * i as i32,
            w: col - 20,
            bridge_y,
            host_y,
        };
        bridge_box(svg, snapshot, report, net, &column, alone);
        nat_line(svg, report, net, &column, alone);
        containers(svg, snapshot, report, net, &column, &mut bottom);
    }
    if hidden > 0 {
        let _ = write!(
            svg,
            r#"<text x="20" y="{bottom}">… and {hidden} more networks (see the checks below)</text>"#
        );
        bottom += 30;
    }
    bottom
}

/// A bridge: its name and network, subnet and gateway, and whether it is up.
fn bridge_box(
    svg: &mut String,
    snapshot: &Snapshot,
    report: &Report,
    net: &NetworkObs,
    column: &Column,
    alone: bool,
) {
    let ns = snapshot.host.ok().map(|h| &h.netns);
    let br = ns.and_then(|ns| ns.link_by_name(&net.bridge));
    let gw = net
        .gateway_v4(ns)
        .map(|g| g.to_string())
        .unwrap_or_else(|| "no gateway".into());
    let state = match br {
        Some(b) if b.up => "up",
        Some(_) => "DOWN",
        None => "missing",
    };
    // The bridge's MTU, and the one the network asks its containers for, if set.
    let mtu = br.and_then(|b| b.mtu).map(|m| format!(", mtu {m}"));
    let asked = net
        .options
        .get("com.docker.network.driver.mtu")
        .map(|m| format!(" (network: {m})"));
    let state = format!(
        "{state}{}{}",
        mtu.unwrap_or_default(),
        asked.unwrap_or_default()
    );
    let lines = vec![
        format!("{} ({})", net.bridge, net.name),
        format!(
            "{}  gw {gw}",
            net.subnet_v4()
                .map(|s| s.to_string())
                .unwrap_or_else(|| "no subnet".into())
        ),
        state,
    ];
    let bridge_el = Element {
        names: vec![net.bridge.clone(), net.name.clone()],
        owners: &[
            "bridge.subnet",
            "bridge.veth",
            "container.default-route",
            "firewall.forward",
            "link.mtu",
        ],
        network: Some(&net.name),
    };
    rect(
        svg,
        (column.x, column.bridge_y, column.w, 66),
        &lines,
        failing(report, &bridge_el, alone),
        "bridge",
    );
}

/// The path out from the bridge to the host: masquerade, or none for an internal
/// network.
fn nat_line(svg: &mut String, report: &Report, net: &NetworkObs, column: &Column, alone: bool) {
    let nat_el = Element {
        names: vec![net.bridge.clone(), net.name.clone()]
            .into_iter()
            .chain(net.subnet_v4().map(|s| s.to_string()))
            .collect(),
        owners: &["nat.masquerade", "firewall.forward"],
        network: Some(&net.name),
    };
    let nat_label = if net.internal {
        "internal: no NAT"
    } else {
        "MASQUERADE out"
    };
    let mid = column.x + column.w / 2;
    line(
        svg,
        (mid, column.bridge_y),
        (mid, column.host_y + 50),
        nat_label,
        failing(report, &nat_el, alone),
        "nat",
    );
}

/// The network's containers in rows under its bridge, each with its veth line, and
/// a count of those not drawn. Veth lines are drawn before the boxes, so that a line to
/// the second row passes behind the first. `bottom` grows to below the last row.
fn containers(
    svg: &mut String,
    snapshot: &Snapshot,
    report: &Report,
    net: &NetworkObs,
    column: &Column,
    bottom: &mut i32,
) {
    let cw = (column.w - 20).min(300);
    let per_row = ((column.w - 10) / (cw + 10)).max(1);
    let shown = net.endpoints.len().min(MAX_CONTAINERS);
    let mut boxes = String::new();
    for (j, ep) in net.endpoints.iter().take(shown).enumerate() {
        let (row, slot) = (j as i32 / per_row, j as i32 % per_row);
        let (cx, cy) = (
            column.x + 10 + slot * (cw + 10),
            column.bridge_y + 110 + 90 * row,
        );
        let (lines, veth, label) = container_lines(snapshot, ep);
        let el = Element {
            names: vec![ep.container_name.clone(), veth.clone()],
            owners: &[
                "bridge.veth",
                "container.default-route",
                "bridge.subnet",
                "link.mtu",
                "dns.resolver",
                "bridge.icc",
            ],
            network: Some(&net.name),
        };
        let fail = failing(report, &el, false);
        let mid = cx + cw / 2;
        line(
            svg,
            (mid, column.bridge_y + 66),
            (mid, cy),
            &label,
            fail,
            "veth",
        );
        rect(&mut boxes, (cx, cy, cw, 64), &lines, fail, "container");
        *bottom = (*bottom).max(cy + 80);
    }
    svg.push_str(&boxes);
    if net.endpoints.len() > shown {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}">… and {} more containers (see the checks below)</text>"#,
            column.x + 10,
            *bottom,
            net.endpoints.len() - shown
        );
        *bottom += 30;
    }
}

/// A container's box lines (name, interface and address, default route), the name of
/// its veth's host end, and the label of the link to it.
fn container_lines(snapshot: &Snapshot, ep: &EndpointObs) -> (Vec<String>, String, String) {
    let ns = snapshot.host.ok().map(|h| &h.netns);
    let inner = snapshot
        .container(&ep.container_id)
        .and_then(|c| c.interior.ok());
    let iface = inner.and_then(|i| ep.mac.as_deref().and_then(|m| i.link_by_mac(m)));
    let peer = iface
        .and_then(|l| l.peer)
        .and_then(|p| ns.and_then(|ns| ns.link(p)));
    let mut lines = vec![ep.container_name.clone()];
    lines.push(format!(
        "{} {}",
        iface.map(|l| l.name.as_str()).unwrap_or("?"),
        ep.ipv4.map(|a| a.to_string()).unwrap_or_default()
    ));
    if let Some(r) = inner.and_then(|i| i.default_routes_v4().next()) {
        lines.push(format!(
            "default via {}",
            r.gateway.map(|g| g.to_string()).unwrap_or_default()
        ));
    }
    // The link's label: the host end's name, and the container end's MTU, which is
    // what link.mtu compares with the uplink's.
    let veth = peer.map(|p| p.name.clone()).unwrap_or_default();
    let label = match iface.and_then(|l| l.mtu) {
        Some(mtu) => format!("{veth} mtu {mtu}"),
        None => veth.clone(),
    };
    (lines, veth, label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcheck_judge::checks::{Finding, Status, Subject};

    /// Two networks, healthy; then link.mtu failing on one of them, about netcheck's
    /// probe, which has a box in both columns.
    fn picture(fail_on: Option<&str>) -> String {
        let snapshot = Snapshot::from_json(include_str!(
            "../../../../fixtures/healthy-user-network-and-bridge.json"
        ))
        .unwrap();
        let plan = netcheck_judge::plan::Plan::new(
            netcheck_judge::suite::Suite::shipped("default").unwrap(),
            &Default::default(),
        )
        .unwrap();
        let judged = netcheck_judge::checks::judge(&snapshot, &plan.instances);
        let mut report = netcheck_judge::report(&snapshot, &judged, std::time::Duration::ZERO);
        if let Some(network) = fail_on {
            let result = report
                .checks
                .iter_mut()
                .find(|c| c.id == format!("link.mtu[{network}]"))
                .unwrap();
            result.status = Status::Fail;
            result.message = "netcheck-probe-ef2f5: eth1 MTU 1500 exceeds the uplink's 1400".into();
            result.findings = vec![Finding {
                code: "link.mtu/above-uplink".into(),
                status: Status::Fail,
                subject: Subject::inside("netcheck-probe-ef2f5", "eth1"),
                message: result.message.clone(),
            }];
        }
        svg(&snapshot, &report)
    }

    /// The columns' SVG, by network name: from each bridge box to the next.
    fn columns(svg: &str) -> Vec<(String, String)> {
        let starts: Vec<usize> = svg
            .match_indices("<g class=\"bridge")
            .map(|(i, _)| i)
            .collect();
        starts
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let end = starts.get(k + 1).copied().unwrap_or(svg.len());
                let text = &svg[i..end];
                let name = text.split(" (").nth(1).unwrap().split(')').next().unwrap();
                (name.to_string(), text.to_string())
            })
            .collect()
    }

    #[test]
    fn only_the_failing_networks_elements_are_marked() {
        let healthy = picture(None);
        assert!(!healthy.contains(" fail\""), "{healthy}");
        let svg = picture(Some("netcheck-test-healthy"));
        let columns = columns(&svg);
        assert_eq!(columns.len(), 2, "{svg}");
        for (network, column) in &columns {
            let marked = column.contains("class=\"container fail\"");
            assert_eq!(
                marked,
                network == "netcheck-test-healthy",
                "{network}: {column}"
            );
        }
        assert!(!svg.contains("class=\"host fail\""), "{svg}");
    }

    #[test]
    fn links_show_their_mtus() {
        let svg = picture(None);
        // The uplink's, each bridge's, and each container end's.
        assert!(svg.contains("eth0 mtu 1400 "), "{svg}");
        assert!(svg.matches(", mtu ").count() >= 2, "{svg}");
        assert!(
            svg.contains(" mtu 1500</text>") || svg.contains(" mtu 1400</text>"),
            "{svg}"
        );
    }
}
