//! HTML: one self-contained file (no scripts, fonts or images from anywhere) with the
//! host facts, the verdict, the checks with evidence and fixes, and an SVG picture of
//! the host's network: uplink and routes, each bridge with its subnet and gateway, the
//! veth pairs, the containers with their addresses, and the NAT path out. Elements that
//! a failing check is about are drawn red and link to that check.

use std::fmt::Write;

use super::escape::html as esc;
use super::{CheckResult, Report};
use crate::checks::Status;
use crate::snapshot::{NetnsObs, NetworkObs, Snapshot};

const WIDTH: i32 = 1000;
/// Containers drawn per bridge: a picture of hundreds says nothing.
const MAX_CONTAINERS: usize = 12;
/// Bridges drawn side by side.
const MAX_BRIDGES: usize = 5;

/// A drawable element and the names a check's failure text may mention it by.
struct Element<'a> {
    names: Vec<String>,
    /// The checks whose failure concerns this kind of element.
    owners: &'a [&'a str],
}

/// The failing check that concerns an element, if any: the first whose failure text
/// names it, else (for `fallback` elements) the first failing owner at all.
fn failing<'r>(report: &'r Report, el: &Element, fallback: bool) -> Option<&'r CheckResult> {
    let failed = |c: &&CheckResult| {
        matches!(c.status, Status::Fail | Status::Error) && el.owners.contains(&c.check.as_str())
    };
    let named = |text: &str| {
        el.names
            .iter()
            .any(|n| !n.is_empty() && mentions_token(text, n))
    };
    // A classified finding says what it is about; an unclassified one is searched for
    // the element's names in its text. (Every failed or errored result has a finding:
    // checks::judge gives one to an outcome that came without.)
    let mentions = |c: &&CheckResult| {
        c.findings
            .iter()
            .filter(|f| matches!(f.status, Status::Fail | Status::Error))
            .any(|f| {
                if f.code
                    .ends_with(&format!("/{}", crate::checks::UNCLASSIFIED))
                {
                    named(&f.message)
                } else {
                    f.subject
                        .names()
                        .iter()
                        .any(|n| el.names.iter().any(|e| e == n))
                }
            })
    };
    report
        .checks
        .iter()
        .filter(failed)
        .find(mentions)
        .or_else(|| {
            if fallback {
                report.checks.iter().find(failed)
            } else {
                None
            }
        })
}

/// Whether `text` contains `name` as a whole token (not inside a longer name).
fn mentions_token(text: &str, name: &str) -> bool {
    let cont = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(cont) && !after.is_some_and(|c| cont(c) && c != '.')
    })
}

fn anchor(id: &str) -> String {
    format!(
        "check-{}",
        id.replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.',
            "_"
        )
    )
}

/// A box, red and linked when `fail` is set.
fn rect(
    svg: &mut String,
    (x, y, w, h): (i32, i32, i32, i32),
    lines: &[String],
    fail: Option<&CheckResult>,
    kind: &str,
) {
    let (class, open, close) = match fail {
        Some(c) => (
            format!("{kind} fail"),
            format!(
                r##"<a href="#{}" data-check="{}"><title>{}: {}</title>"##,
                anchor(&c.id),
                esc(&c.id),
                esc(&c.id),
                esc(&c.message)
            ),
            "</a>",
        ),
        None => (kind.to_string(), String::new(), ""),
    };
    let _ = write!(
        svg,
        r#"{open}<g class="{class}"><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6"/>"#
    );
    for (i, line) in lines.iter().enumerate() {
        let weight = if i == 0 { r#" font-weight="bold""# } else { "" };
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}"{weight}>{}</text>"#,
            x + 8,
            y + 18 + 16 * i as i32,
            esc(line)
        );
    }
    let _ = write!(svg, "</g>{close}");
}

fn line(
    svg: &mut String,
    (x1, y1): (i32, i32),
    (x2, y2): (i32, i32),
    label: &str,
    fail: Option<&CheckResult>,
    kind: &str,
) {
    let class = if fail.is_some() {
        format!("{kind} fail")
    } else {
        kind.to_string()
    };
    let (open, close) = match fail {
        Some(c) => (
            format!(
                r##"<a href="#{}" data-check="{}"><title>{}</title>"##,
                anchor(&c.id),
                esc(&c.id),
                esc(&c.message)
            ),
            "</a>",
        ),
        None => (String::new(), ""),
    };
    let _ = write!(
        svg,
        r#"{open}<g class="{class}"><line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"/><text x="{}" y="{}" class="label">{}</text></g>{close}"#,
        (x1 + x2) / 2 + 6,
        (y1 + y2) / 2,
        esc(label)
    );
}

fn topology(snapshot: &Snapshot, report: &Report) -> String {
    let mut svg = String::new();
    let host = snapshot.host.ok();
    let ns: Option<&NetnsObs> = host.map(|h| &h.netns);
    let networks: Vec<&NetworkObs> = snapshot
        .networks
        .iter()
        .filter_map(|n| snapshot.network(n))
        .collect();
    let bridges: Vec<&str> = snapshot
        .docker
        .ok()
        .map(|d| d.networks.iter().map(|n| n.bridge.as_str()).collect())
        .unwrap_or_default();

    // The uplink: where the host's default route leaves, and the other host routes.
    let mut uplink = vec!["uplink".to_string()];
    let mut routes = vec!["host routes".to_string()];
    if let Some(ns) = ns {
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
            uplink.push(format!("{dev} {}", addrs.join(" ")));
            uplink.push(format!(
                "default via {}",
                r.gateway
                    .map(|g| g.to_string())
                    .unwrap_or_else(|| "(none)".into())
            ));
        }
        for r in ns
            .routes
            .iter()
            .filter(|r| {
                r.table == crate::snapshot::TABLE_MAIN
                    && r.dst.prefix_len() > 0
                    && r.dst.addr().is_ipv4()
            })
            .take(8)
        {
            let dev = r.oif.map(|i| ns.link_name(i)).unwrap_or_default();
            let mark = if bridges.contains(&dev.as_str()) {
                ""
            } else {
                " *"
            };
            routes.push(format!("{} dev {dev}{mark}", r.dst));
        }
    } else {
        uplink.push("host side not observed".into());
    }
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
    };
    rect(&mut svg, (20, 20, 460, 70), &uplink, None, "uplink");
    let routes_h = 24 + 16 * routes.len() as i32;
    rect(
        &mut svg,
        (520, 20, 460, routes_h),
        &routes,
        failing(report, &route_el, false),
        "routes",
    );

    // The host itself: forwarding and the firewall backend, which NAT depends on.
    let host_y = 40 + routes_h.max(70);
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
    };
    rect(
        &mut svg,
        (20, host_y, 960, 50),
        &facts,
        failing(report, &host_el, false),
        "host",
    );
    line(&mut svg, (250, host_y), (250, 90), "", None, "link");

    // Bridges, side by side, each with its containers below.
    let bridge_y = host_y + 110;
    // Columns narrower than a container box say nothing: draw the first few bridges.
    let hidden = networks.len().saturating_sub(MAX_BRIDGES);
    let networks = &networks[..networks.len().min(MAX_BRIDGES)];
    let n = networks.len().max(1) as i32;
    let col = (WIDTH - 20) / n;
    let mut bottom = bridge_y + 80;
    for (i, net) in networks.iter().enumerate() {
        let x = 20 + col * i as i32;
        let w = col - 20;
        let br = ns.and_then(|ns| ns.link_by_name(&net.bridge));
        let gw = net
            .gateway_v4(ns)
            .map(|g| g.to_string())
            .unwrap_or_else(|| "no gateway".into());
        let lines = vec![
            format!("{} ({})", net.bridge, net.name),
            format!(
                "{}  gw {gw}",
                net.subnet_v4()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "no subnet".into())
            ),
            format!(
                "{}",
                if br.is_some_and(|b| b.up) {
                    "up"
                } else if br.is_some() {
                    "DOWN"
                } else {
                    "missing"
                }
            ),
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
        };
        rect(
            &mut svg,
            (x, bridge_y, w, 66),
            &lines,
            failing(report, &bridge_el, networks.len() == 1),
            "bridge",
        );
        let nat_el = Element {
            names: vec![net.bridge.clone(), net.name.clone()]
                .into_iter()
                .chain(net.subnet_v4().map(|s| s.to_string()))
                .collect(),
            owners: &["nat.masquerade", "firewall.forward"],
        };
        let nat_label = if net.internal {
            "internal: no NAT".to_string()
        } else {
            "MASQUERADE out".to_string()
        };
        line(
            &mut svg,
            (x + w / 2, bridge_y),
            (x + w / 2, host_y + 50),
            &nat_label,
            failing(report, &nat_el, networks.len() == 1),
            "nat",
        );

        // Containers in rows under their bridge; veth lines are drawn before the boxes so
        // that a line to the second row passes behind the first.
        let cw = (w - 20).min(300);
        let per_row = ((w - 10) / (cw + 10)).max(1);
        let shown = net.endpoints.len().min(MAX_CONTAINERS);
        let mut boxes = String::new();
        for (j, ep) in net.endpoints.iter().take(shown).enumerate() {
            let (row, slot) = (j as i32 / per_row, j as i32 % per_row);
            let (cx, cy) = (x + 10 + slot * (cw + 10), bridge_y + 110 + 90 * row);
            let container = snapshot.container(&ep.container_id);
            let inner = container.and_then(|c| c.interior.ok());
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
            let veth = peer.map(|p| p.name.clone()).unwrap_or_default();
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
            };
            let fail = failing(report, &el, false);
            let mid = cx + cw / 2;
            line(
                &mut svg,
                (mid, bridge_y + 66),
                (mid, cy),
                &veth,
                fail,
                "veth",
            );
            rect(&mut boxes, (cx, cy, cw, 64), &lines, fail, "container");
            bottom = bottom.max(cy + 80);
        }
        svg.push_str(&boxes);
        if net.endpoints.len() > shown {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}">… and {} more containers (see the checks below)</text>"#,
                x + 10,
                bottom,
                net.endpoints.len() - shown
            );
            bottom += 30;
        }
    }
    if hidden > 0 {
        let _ = write!(
            svg,
            r#"<text x="20" y="{bottom}">… and {hidden} more networks (see the checks below)</text>"#
        );
        bottom += 30;
    }
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{bottom}" viewBox="0 0 {WIDTH} {bottom}" role="img" aria-label="network topology">{svg}</svg>"#
    )
}

pub(crate) const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1040px}
h1{font-size:1.4em} .verdict{font-size:1.2em;font-weight:bold}
.ok{color:#1a7f37} .bad{color:#cf222e}
table{border-collapse:collapse;width:100%} td,th{border:1px solid #ddd;padding:4px 8px;vertical-align:top;text-align:left}
tr.fail td:first-child,tr.error td:first-child{color:#cf222e;font-weight:bold} tr.pass td:first-child{color:#1a7f37}
tr.skip td:first-child{color:#57606a} tr.warn td:first-child{color:#9a6700;font-weight:bold} pre{margin:4px 0;white-space:pre-wrap;font-size:12px} .fix{color:#0550ae}
tr:target{outline:3px solid #cf222e}
svg text{font:12px monospace;fill:#222} svg rect{fill:#f6f8fa;stroke:#8c959f;stroke-width:1.5}
svg .bridge rect{fill:#ddf4ff} svg .container rect{fill:#fff8c5} svg .host rect{fill:#eaeef2}
svg line{stroke:#57606a;stroke-width:2} svg .nat line{stroke-dasharray:6 3} svg text.label{fill:#57606a}
svg .fail rect{stroke:#cf222e;stroke-width:3;fill:#ffebe9} svg .fail line{stroke:#cf222e;stroke-width:3}
svg .fail text.label{fill:#cf222e}
";

/// `snapshot` is None when netcheck could not observe anything (the report then holds
/// the one error that says why).
pub fn render(report: &Report, snapshot: Option<&Snapshot>) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>netcheck: {}</title><style>{STYLE}</style></head><body>{}</body></html>
"#,
        esc(&report.host.hostname),
        body(report, snapshot)
    )
}

/// The page's content: a fleet's page holds one per engine.
pub(crate) fn body(report: &Report, snapshot: Option<&Snapshot>) -> String {
    let mut html = String::new();
    let ok = report.exit_code() == 0;
    let s = &report.summary;
    let h = &report.host;
    let _ = write!(html, "<h1>netcheck on {}</h1>", esc(&h.hostname));
    if let Some(e) = &report.engine {
        let _ = write!(
            html,
            "<p class=\"engine\">Engine: {}</p>",
            esc(&e.describe())
        );
    }
    let _ = write!(
        html,
        r#"<p class="verdict {}">{}: {} passed, {} warned, {} failed, {} skipped, {} errored</p>"#,
        if ok { "ok" } else { "bad" },
        match (ok, s.warned) {
            (false, _) => "Problems found",
            (true, 0) => "Healthy",
            (true, _) => "Working, with warnings",
        },
        s.passed,
        s.warned,
        s.failed,
        s.skipped,
        s.errors
    );
    let _ = write!(
        html,
        "<p>Docker {} (API {}) · {} · kernel {} · firewall {} · netcheck {} · {} · {} ms</p>",
        esc(&h.engine_version),
        esc(&h.api_version),
        esc(&h.os),
        esc(&h.kernel),
        esc(if h.firewall_backend.is_empty() {
            "not read"
        } else {
            &h.firewall_backend
        }),
        esc(&report.tool.version),
        report.started.format("%Y-%m-%d %H:%M:%S UTC"),
        report.duration_ms
    );
    if let Some(snapshot) = snapshot {
        let _ = write!(html, "<h2>Topology</h2>{}", topology(snapshot, report));
        let _ = write!(
            html,
            "<p><small>Red: what a failing check is about (click it for the check). \
             * a host route through an interface that is not a Docker bridge.</small></p>"
        );
    }
    html.push_str("<h2>Checks</h2><table><tr><th>status</th><th>check</th><th>result, evidence and fix</th></tr>");
    for c in &report.checks {
        let _ = write!(
            html,
            r#"<tr id="{}" class="{}"><td>{}</td><td><code>{}</code><br><small>{}</small></td><td>{}{}"#,
            anchor(&c.id),
            c.status.as_str(),
            c.status.as_str().to_uppercase(),
            esc(&c.id),
            esc(&c.title),
            esc(&c.message),
            if c.gate { "" } else { " <em>(not gating)</em>" }
        );
        if !c.evidence.is_empty() {
            let lines: Vec<String> = c.evidence.iter().map(|e| esc(e)).collect();
            let _ = write!(html, "<pre>{}</pre>", lines.join("\n"));
        }
        if let Some(hint) = c.hint.as_deref().filter(|_| c.status != Status::Pass) {
            let _ = write!(
                html,
                r#"<div class="fix">fix: {}</div>"#,
                hint.lines().map(esc).collect::<Vec<_>>().join("<br>")
            );
        }
        html.push_str("</td></tr>");
    }
    html.push_str("</table>");
    html
}
