//! Traffic control over rtnetlink: the qdiscs of every link and the classes of the
//! classful ones, with their counters, as `tc -s qdisc` and `tc -s class` show them.

use futures_util::TryStreamExt;
use rtnetlink::Handle;
use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcMessage};

use super::netlink::NetlinkError;
use netcheck_model::snapshot::{TcCounters, TcItem, TcObs};

/// One reading of every qdisc but `noqueue` (which queues and drops nothing) and the
/// classes under them; `before` is left for [`merge`] to fill.
pub async fn dump(handle: &Handle, names: &[(u32, String)]) -> Result<Vec<TcItem>, NetlinkError> {
    let err = |what| move |source| NetlinkError::Dump { what, source };
    let qdiscs: Vec<TcMessage> = handle
        .qdisc()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(err("qdiscs"))?;
    let name_of = |index: i32| {
        names
            .iter()
            .find(|(i, _)| i64::from(*i) == i64::from(index))
            .map_or_else(|| format!("if{index}"), |(_, n)| n.clone())
    };
    let mut items: Vec<TcItem> = qdiscs
        .iter()
        .filter_map(|m| item(m, "qdisc", &name_of(m.header.index)))
        .collect();
    // Classes live under classful qdiscs only (htb, hfsc, ...): a dump per such link.
    let mut classful: Vec<i32> = qdiscs
        .iter()
        .filter(|m| {
            kind(m).is_some_and(|k| matches!(k, "htb" | "hfsc" | "cbq" | "drr" | "qfq" | "prio"))
        })
        .map(|m| m.header.index)
        .collect();
    classful.dedup();
    for index in classful {
        let classes: Vec<TcMessage> = handle
            .traffic_class(index)
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(err("classes"))?;
        items.extend(
            classes
                .iter()
                .filter_map(|m| item(m, "class", &name_of(index))),
        );
    }
    Ok(items)
}

/// The second reading, with the first one's counters as `before`.
pub fn merge(before: Vec<TcItem>, after: Vec<TcItem>) -> TcObs {
    let items = after
        .into_iter()
        .map(|mut a| {
            a.before = before
                .iter()
                .find(|b| {
                    b.dev == a.dev
                        && b.object == a.object
                        && b.handle == a.handle
                        && b.kind == a.kind
                })
                .map(|b| b.after);
            a
        })
        .collect();
    TcObs { items }
}

fn kind(m: &TcMessage) -> Option<&str> {
    m.attributes.iter().find_map(|a| match a {
        TcAttribute::Kind(k) => Some(k.as_str()),
        _ => None,
    })
}

fn item(m: &TcMessage, object: &str, dev: &str) -> Option<TcItem> {
    let kind = kind(m)?;
    if kind == "noqueue" {
        return None;
    }
    let counters = m
        .attributes
        .iter()
        .find_map(|a| match a {
            TcAttribute::Stats(s) => Some(TcCounters {
                packets: u64::from(s.packets),
                drops: u64::from(s.drops),
                overlimits: u64::from(s.overlimits),
            }),
            _ => None,
        })
        .unwrap_or_default();
    Some(TcItem {
        dev: dev.to_string(),
        object: object.into(),
        kind: kind.into(),
        handle: handle(m.header.handle, object),
        parent: parent(m.header.parent),
        before: None,
        after: counters,
    })
}

/// A handle as tc prints it, in hex: `8001:` for a qdisc, `1:10` for a class.
fn handle(h: TcHandle, object: &str) -> String {
    if object == "qdisc" && h.minor == 0 {
        format!("{:x}:", h.major)
    } else {
        format!("{:x}:{:x}", h.major, h.minor)
    }
}

fn parent(p: TcHandle) -> String {
    if p == TcHandle::ROOT {
        "root".into()
    } else if p == TcHandle::INGRESS {
        "ingress".into()
    } else if p.minor == 0 {
        format!("{:x}:", p.major)
    } else {
        format!("{:x}:{:x}", p.major, p.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_print_as_tc_prints_them() {
        assert_eq!(
            handle(
                TcHandle {
                    major: 0x8001,
                    minor: 0
                },
                "qdisc"
            ),
            "8001:"
        );
        assert_eq!(
            handle(
                TcHandle {
                    major: 1,
                    minor: 0x10
                },
                "class"
            ),
            "1:10"
        );
        assert_eq!(parent(TcHandle::ROOT), "root");
        assert_eq!(parent(TcHandle { major: 1, minor: 0 }), "1:");
    }

    #[test]
    fn merged_counters_say_what_was_dropped_meanwhile() {
        let at = |drops| TcItem {
            dev: "br-x".into(),
            object: "qdisc".into(),
            kind: "tbf".into(),
            handle: "8001:".into(),
            parent: "root".into(),
            before: None,
            after: TcCounters {
                packets: 10,
                drops,
                overlimits: 0,
            },
        };
        let merged = merge(vec![at(3)], vec![at(10)]);
        assert_eq!(merged.items[0].dropped_during(), 7);
        let fresh = merge(vec![], vec![at(4)]);
        assert_eq!(fresh.items[0].dropped_during(), 4);
    }
}
