//! Traffic control on the host, read before the run's flows and after them (and after
//! their traces), so that a qdisc or class that dropped them is known by its counters.

use rtnetlink::Handle;

use crate::net::tc;
use netcheck_model::snapshot::{NetnsObs, Observed, TcItem, TcObs};

/// The host's namespace and its traffic control, before any flow: phase 1's reading.
pub(super) async fn early(
    handle: Option<&Handle>,
    need_host: bool,
) -> (Option<NetnsObs>, Option<Vec<TcItem>>) {
    let Some(h) = handle.filter(|_| need_host) else {
        return (None, None);
    };
    let Ok(ns) = crate::net::netlink::dump(h).await else {
        return (None, None);
    };
    let before = tc::dump(h, &names(&ns)).await.ok();
    (Some(ns), before)
}

/// The second reading, after every flow: what each qdisc and class dropped meanwhile.
pub(super) async fn after(
    handle: Option<&Handle>,
    host: Option<&NetnsObs>,
    before: Option<Vec<TcItem>>,
) -> Option<Observed<TcObs>> {
    let (h, ns) = (handle?, host?);
    let Some(before) = before else {
        return Some(Observed::Error {
            error: "the first reading of traffic control failed".into(),
        });
    };
    Some(
        tc::dump(h, &names(ns))
            .await
            .map(|after| tc::merge(before, after))
            .into(),
    )
}

fn names(ns: &NetnsObs) -> Vec<(u32, String)> {
    ns.links.iter().map(|l| (l.index, l.name.clone())).collect()
}
