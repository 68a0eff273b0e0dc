//! The plan: which checks run, from the suite and the command line's filters, and so
//! what must be collected.

use crate::checks::{Instance, Needs};
use crate::suite::Suite;
use netcheck_model::error::Error;
// Where it always was for callers; it lives apart so that suites can use it too, without
// an import circle (the plan loads suites).
pub use crate::spelling::did_you_mean;

/// Selection, as libtest does it: substrings of ids, or whole ids with `exact`.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    pub include: Vec<String>,
    pub skip: Vec<String>,
    pub exact: bool,
}

pub struct Plan {
    pub suite: String,
    pub instances: Vec<Instance>,
}

impl Plan {
    pub fn new(suite: Suite, filters: &Filters) -> Result<Plan, Error> {
        if filters.exact {
            // A misspelt id in a CI job must not silently run nothing.
            for id in filters.include.iter().chain(&filters.skip) {
                if !suite.instances.iter().any(|i| &i.id == id) {
                    let ids = suite.instances.iter().map(|i| i.id.as_str());
                    return Err(Error::UnknownCheck {
                        id: id.clone(),
                        suggestion: did_you_mean(id, ids),
                    });
                }
            }
        }
        let matches = |pattern: &String, id: &str| {
            if filters.exact {
                id == pattern
            } else {
                id.contains(pattern.as_str())
            }
        };
        let instances: Vec<Instance> = suite
            .instances
            .into_iter()
            .filter(|i| {
                filters.include.is_empty() || filters.include.iter().any(|p| matches(p, &i.id))
            })
            .filter(|i| !filters.skip.iter().any(|p| matches(p, &i.id)))
            .collect();
        if instances.is_empty() {
            let ids = || crate::checks::REGISTRY.iter().map(|c| c.id);
            return Err(Error::NothingSelected {
                filters: filters.include.clone(),
                meant: (filters.include.iter())
                    .filter_map(|f| did_you_mean(f, ids()))
                    .collect(),
            });
        }
        Ok(Plan {
            suite: suite.name,
            instances,
        })
    }

    /// `--strict`: warnings gate wherever failures do.
    pub fn strict(mut self) -> Plan {
        for i in &mut self.instances {
            i.gate = i.gate.strict();
        }
        self
    }

    /// The union of what the selected checks need: a filtered run collects less.
    pub fn needs(&self) -> Needs {
        self.instances
            .iter()
            .fold(Needs::default(), |acc, i| Needs {
                host: acc.host || i.check.needs.host,
                probe: acc.probe || i.check.needs.probe,
                outside: acc.outside || i.check.needs.outside,
                publish: acc.publish || i.check.needs.publish,
                peers: acc.peers || i.check.needs.peers,
            })
    }

    /// The networks to check: those asked for, then those the suite's own checks name
    /// (the probe must join them to run those checks from there).
    pub fn networks(&self, asked: &[String]) -> Vec<String> {
        let mut networks = asked.to_vec();
        for n in self.suite_networks() {
            if !networks.contains(&n) {
                networks.push(n);
            }
        }
        networks
    }

    /// The networks the suite's own checks run from: the probe joins them, however
    /// many networks are checked.
    pub fn suite_networks(&self) -> Vec<String> {
        let mut networks: Vec<String> = vec![];
        for n in self.instances.iter().filter_map(|i| i.configured.network()) {
            if !networks.iter().any(|m| m == n) {
                networks.push(n.to_string());
            }
        }
        networks
    }

    /// What the probe must do for the suite's own checks.
    pub fn probe_args(&self) -> netcheck_model::protocol::ProbeArgs {
        let mut args = netcheck_model::protocol::ProbeArgs::default();
        for i in &self.instances {
            i.configured.probe_args(&i.id, &mut args);
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(filters: Filters) -> Result<Vec<String>, Error> {
        let suite = Suite::shipped("default").unwrap();
        Plan::new(suite, &filters).map(|p| p.instances.iter().map(|c| c.id.clone()).collect())
    }

    #[test]
    fn default_suite_lists_the_builtin_checks() {
        let builtin = crate::checks::REGISTRY
            .iter()
            .filter(|c| !c.generic)
            .count();
        assert_eq!(ids(Filters::default()).unwrap().len(), builtin);
    }

    #[test]
    fn a_filter_that_matches_nothing_gets_a_suggestion() {
        let hint = |filter: &str| {
            let filters = Filters {
                include: vec![filter.into()],
                ..Filters::default()
            };
            ids(filters).unwrap_err().hint().unwrap()
        };
        let meant = hint("kernel.ip-froward");
        assert!(
            meant.starts_with("did you mean `kernel.ip-forward`?"),
            "{meant}"
        );
        assert_eq!(hint("zzzz"), "netcheck --list prints the check ids");
    }

    #[test]
    fn a_mistyped_id_gets_a_suggestion() {
        let ids = || {
            crate::checks::REGISTRY
                .iter()
                .filter(|c| !c.generic)
                .map(|c| c.id)
        };
        assert_eq!(did_you_mean("mtu", ids()).as_deref(), Some("`link.mtu`"));
        assert_eq!(
            did_you_mean("kernel.ip-froward", ids()).as_deref(),
            Some("`kernel.ip-forward`")
        );
        assert_eq!(
            did_you_mean("bridge.vet", ids())
                .as_deref()
                .map(|s| s.starts_with("`bridge.veth`")),
            Some(true)
        );
        assert_eq!(did_you_mean("zzzzzz", ids()), None);
        let e = Plan::new(
            Suite::shipped("default").unwrap(),
            &Filters {
                include: vec!["mtu".into()],
                skip: vec![],
                exact: true,
            },
        )
        .err()
        .unwrap();
        assert_eq!(
            e.to_string(),
            "unknown check id `mtu`: did you mean `link.mtu`?"
        );
    }

    #[test]
    fn substring_skip_and_exact() {
        let f = |inc: &[&str], skip: &[&str], exact| Filters {
            include: inc.iter().map(|s| s.to_string()).collect(),
            skip: skip.iter().map(|s| s.to_string()).collect(),
            exact,
        };
        assert_eq!(
            ids(f(&["bridge"], &[], false)).unwrap(),
            ["bridge.subnet", "bridge.veth", "bridge.icc"]
        );
        assert_eq!(
            ids(f(&["bridge"], &["veth"], false)).unwrap(),
            ["bridge.subnet", "bridge.icc"]
        );
        assert_eq!(
            ids(f(&["nat.masquerade"], &[], true)).unwrap(),
            ["nat.masquerade"]
        );
        assert!(matches!(
            ids(f(&["nat"], &[], true)),
            Err(Error::UnknownCheck { .. })
        ));
        assert!(matches!(
            ids(f(&["nope"], &[], false)),
            Err(Error::NothingSelected { .. })
        ));
    }
}
