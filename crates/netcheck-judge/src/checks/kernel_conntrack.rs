//! `kernel.conntrack`: the connection-tracking table has room for new connections.

use super::{Check, Context, Findings, Needs, Outcome, Subject, missing};

/// kernel.conntrack's finding codes, `kernel.conntrack/<slug>`. A variant's doc comment is
/// its description, which `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// The conntrack table is nearly full: once it is full, the kernel drops new connections.
    TableFull,
    /// The conntrack table is filling up: a burst of connections would be dropped.
    TableFilling,
    /// The conntrack table has overflowed since boot: connections were dropped or evicted
    /// early.
    Overflowed,
}

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Host,
    id: "kernel.conntrack",
    title: "The conntrack table has room for new connections",
    doc: "\
Every connection a container makes through NAT, and every published port, takes an entry
in the kernel's connection-tracking table. When the table is full the kernel drops the
first packet of every new connection (dmesg: \"nf_conntrack: table full, dropping
packet\"): containers see random connect timeouts while established connections carry
on, which looks like anything but a full table. Busy proxies, scanners and short-lived
UDP (DNS) fill it.

This check compares net.netfilter.nf_conntrack_count with nf_conntrack_max, and reads
the kernel's drop counters since boot (/proc/net/stat/nf_conntrack).

Fails when: the table is at 90% of its limit or more (new connections are, or are about
to be, dropped). A limit of 0 is the kernel's \"no limit\": the table cannot fill.
Warns when: it is at 75% or more, or the kernel has dropped or evicted connections for
lack of room since boot.",
    needs: Needs {
        host: true,
        ..Needs::NONE
    },
    configure: |t| super::params::none(t, judge),
    params_schema: super::params::schema_none,
    codes: super::code::list::<Code>,
};

const COUNT: &str = "net.netfilter.nf_conntrack_count";
const MAX: &str = "net.netfilter.nf_conntrack_max";
/// At or above this share of the limit, a burst of connections is dropped.
const FAIL_PERCENT: u64 = 90;
const WARN_PERCENT: u64 = 75;

fn fix(max: u64) -> String {
    format!(
        "raise the limit: sysctl -w {MAX}={} (persist it in /etc/sysctl.d/99-conntrack.conf), and find \
         what holds so many connections: conntrack -L | awk '{{print $1, $5}}' | sort | uniq -c | sort -rn | head",
        max.saturating_mul(2).max(65536)
    )
}

fn judge(ctx: &Context, _: &super::Instance) -> Outcome {
    let Some(host) = ctx.snapshot.host.ok() else {
        return missing(&ctx.snapshot.host, "host");
    };
    let Some(conntrack) = &host.conntrack else {
        return Outcome::skip(super::OLDER_SNAPSHOT, vec![]);
    };
    let (Some(count), Some(max)) = (conntrack.count, conntrack.max) else {
        return Outcome::skip(
            "conntrack is not loaded here (no nf_conntrack_count): nothing to fill",
            vec![],
        );
    };
    let mut f = Findings::default();
    // In u128, so that no counter, however large, overflows the product. None where the
    // limit is 0, which the kernel reads as no limit: it drops for a full table only
    // `if (nf_conntrack_max && count > nf_conntrack_max)`.
    let percent = (u128::from(count) * 100).checked_div(u128::from(max));
    match percent {
        Some(percent) => f.note(format!("{COUNT}={count}, {MAX}={max}: {percent}% in use")),
        None => f.note(format!("{COUNT}={count}, {MAX}=0: no limit")),
    }
    if let Some(s) = &conntrack.stats {
        f.note(format!(
            "since boot: {} packets dropped by conntrack, {} entries evicted early, {} inserts failed (lost races, not room)",
            s.drop, s.early_drop, s.insert_failed
        ));
    }
    match percent {
        None => f.pass("the table has no limit to reach"),
        Some(percent) if percent >= u128::from(FAIL_PERCENT) => f.fail_at(Code::TableFull, Subject::sysctl(COUNT),
            format!(
                "the conntrack table is {percent}% full ({count} of {max}): the kernel drops new connections when it is full"
            ),
            fix(max),
        ),
        Some(percent) if percent >= u128::from(WARN_PERCENT) => f.warn_at(Code::TableFilling, Subject::sysctl(COUNT),
            format!("the conntrack table is {percent}% full ({count} of {max}): a burst of connections would be dropped"),
            fix(max),
        ),
        Some(_) => f.pass(format!("{} entries free", max - count)),
    }
    // `drop` counts the packets of insert races too (simultaneous UDP sends, the DNS
    // race of busy hosts): the kernel's nf_ct_resolve_clash counts those in
    // `insert_failed` as well. They say nothing of the table's room: left out.
    let full =
        |s: &netcheck_model::snapshot::ConntrackStats| s.drop.saturating_sub(s.insert_failed);
    if let Some(s) = conntrack
        .stats
        .as_ref()
        .filter(|s| full(s) > 0 || s.early_drop > 0)
    {
        f.warn_at(
            Code::Overflowed,
            Subject::file("/proc/net/stat/nf_conntrack"),
            format!(
                "the conntrack table has overflowed since boot: {} connections dropped, {} evicted early",
                full(s),
                s.early_drop
            ),
            fix(max),
        );
    }
    f.finish("the conntrack table has room")
}
