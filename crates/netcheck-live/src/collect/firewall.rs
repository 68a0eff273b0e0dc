//! The host's firewall, read-only: `iptables-save` and `ip6tables-save` of both backends,
//! and the nftables ruleset.

use std::collections::BTreeMap;
use std::time::Duration;

use netcheck_model::snapshot::{FirewallObs, Observed, OtherBackend};

/// Runs a read-only firewall tool, bounded. Not installed: None.
async fn run_tool(program: &str, args: &[&str]) -> Option<Result<String, String>> {
    let run = crate::owner::bind_child(&mut tokio::process::Command::new(program))
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    Some(
        match tokio::time::timeout(Duration::from_secs(10), run).await {
            Err(_) => Err(format!("{program} did not finish within 10 s")),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Ok(Err(e)) => Err(format!("{program}: {e}")),
            Ok(Ok(out)) if !out.status.success() => Err(format!(
                "{program} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Ok(Ok(out)) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        },
    )
}

/// `iptables-save` as the `iptables` the host uses, the same for IPv6, the other
/// backend's tables, and the nftables table list: all read-only. Reading needs root.
pub async fn firewall(root: bool) -> Observed<FirewallObs> {
    if !root {
        return Observed::Skipped {
            reason: "reading firewall rules needs root".into(),
        };
    }
    let (version, v4, v6, nft) = tokio::join!(
        run_tool("iptables", &["--version"]),
        run_tool("iptables-save", &[]),
        run_tool("ip6tables-save", &[]),
        run_tool("nft", &["-j", "list", "ruleset"]),
    );
    let mut fw = match v4 {
        None => {
            return Observed::Skipped {
                reason: "iptables-save is not installed".into(),
            };
        }
        Some(Err(error)) => return Observed::Error { error },
        Some(Ok(text)) => parse_iptables_save(&text),
    };
    // `iptables --version` names its backend on every iptables 1.8 (`(nf_tables)` or
    // `(legacy)`); save headers differ between releases (xtables-save, no suffix).
    if let Some(Ok(v)) = version {
        // With no table to save (the engine programs nftables) there is no save
        // header to read the version from.
        if fw.version.is_empty() {
            fw.version = v.trim().trim_start_matches("iptables ").to_string();
        }
        if v.contains("(nf_tables)") {
            fw.backend = "iptables-nft".into();
        } else if v.contains("(legacy)") {
            fw.backend = "iptables-legacy".into();
        }
    }
    if let Some(Ok(text)) = v6 {
        fw.tables_v6 = parse_iptables_save(&text).tables;
    }
    // An unreadable ruleset leaves the rest of the firewall reading standing: the
    // checks then say that nftables was not read.
    if let Some(Ok(text)) = nft
        && let Ok(rs) = netcheck_model::nftables::parse(&text)
    {
        fw.nft_tables = rs
            .tables
            .iter()
            .map(|t| format!("table {} {}", t.family, t.name))
            .collect();
        fw.nftables = Some(rs);
    }
    // Only the other backend's tool, once the one in use is known.
    let other_name = if fw.backend == "iptables-nft" {
        "iptables-legacy"
    } else {
        "iptables-nft"
    };
    if let Some(Ok(text)) = run_tool(&format!("{other_name}-save"), &[]).await {
        let parsed = parse_iptables_save(&text);
        // The same rules twice means one backend read by both tools (a host whose
        // `iptables` could not be told apart): there is no other backend.
        // Both empty (the engine programs nftables, or writes nothing): the other
        // backend is there all the same, and holds nothing.
        let empty = netcheck_model::snapshot::holds_no_rules;
        if parsed.tables != fw.tables || (empty(&parsed.tables) && empty(&fw.tables)) {
            fw.other = Some(OtherBackend {
                backend: other_name.into(),
                tables: parsed.tables,
            });
        }
    }
    Observed::Ok { value: fw }
}

/// The engine's own nftables table, read again once the probe's published port has
/// its rules (Docker 29's nftables backend).
pub async fn docker_nft_table() -> Option<netcheck_model::nftables::NftTable> {
    let text = run_tool(
        "nft",
        &[
            "-j",
            "list",
            "table",
            "ip",
            netcheck_model::snapshot::DOCKER_NFT_TABLE,
        ],
    )
    .await?
    .ok()?;
    netcheck_model::nftables::parse(&text)
        .ok()?
        .tables
        .into_iter()
        .next()
}

/// The nat table alone, read again once the probe's published port has its rules.
pub async fn nat_table() -> Option<Vec<String>> {
    let text = run_tool("iptables-save", &["-t", "nat"]).await?.ok()?;
    parse_iptables_save(&text).tables.remove("nat")
}

/// Splits `iptables-save` output into tables; the header comment names the backend,
/// e.g. `# Generated by iptables-save v1.8.9 (nf_tables) on ...`.
pub fn parse_iptables_save(text: &str) -> FirewallObs {
    let mut fw = FirewallObs {
        backend: "iptables-legacy".into(),
        version: String::new(),
        tables: BTreeMap::new(),
        tables_v6: BTreeMap::new(),
        other: None,
        nft_tables: vec![],
        nftables: None,
        docker_nft_after_publish: false,
        tables_before_probe: None,
    };
    let mut table: Option<String> = None;
    for line in text.lines() {
        let header = [
            "# Generated by iptables-save ",
            "# Generated by xtables-save ",
        ]
        .iter()
        .find_map(|h| line.strip_prefix(h));
        if let Some(rest) = header {
            fw.version = rest.split(" on ").next().unwrap_or(rest).to_string();
            // iptables 1.8.2's nft variant signs as xtables-save.
            if rest.contains("(nf_tables)") || line.contains("xtables-save") {
                fw.backend = "iptables-nft".into();
            }
        } else if let Some(name) = line.strip_prefix('*') {
            table = Some(name.to_string());
        } else if line == "COMMIT" {
            table = None;
        } else if let Some(t) = &table
            && (line.starts_with(':') || line.starts_with("-A"))
        {
            // Packet counters ([0:0]) change every run and say nothing about config.
            let line = match line.rfind(" [") {
                Some(i) if line.starts_with(':') => &line[..i],
                _ => line,
            };
            fw.tables
                .entry(t.clone())
                .or_default()
                .push(line.to_string());
        }
    }
    fw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tables_backend_and_drops_counters() {
        let fw = parse_iptables_save(
            "# Generated by iptables-save v1.8.9 (nf_tables) on Fri\n*nat\n:POSTROUTING ACCEPT [3:180]\n\
             -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\nCOMMIT\n*filter\n:FORWARD DROP [0:0]\nCOMMIT\n",
        );
        assert_eq!(fw.backend, "iptables-nft");
        assert_eq!(fw.version, "v1.8.9 (nf_tables)");
        assert_eq!(
            fw.tables["nat"],
            [
                ":POSTROUTING ACCEPT",
                "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"
            ]
        );
        assert_eq!(fw.tables["filter"], [":FORWARD DROP"]);
    }
}
