//! What a mistyped name may have meant: check ids on the command line, finding codes in
//! a suite's `allow`.

/// The ids a mistyped one may have meant, quoted and joined (`link.mtu`): those that
/// contain it as a word (`mtu`), else those spelt closest (`kernel.ip-froward`).
pub fn did_you_mean<'a>(typed: &str, ids: impl Iterator<Item = &'a str>) -> Option<String> {
    let shown: Vec<String> = closest(typed, ids)
        .iter()
        .take(3)
        .map(|id| format!("`{id}`"))
        .collect();
    (!shown.is_empty()).then(|| shown.join(", "))
}

/// The ids a mistyped one may have meant, best first, as [`did_you_mean`] names them:
/// for callers that show them otherwise (a finding code under its check's id).
pub fn closest<'a>(typed: &str, ids: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let ids: Vec<&str> = ids.collect();
    let typed_lower = typed.to_ascii_lowercase();
    if typed_lower.len() >= 2 {
        let containing: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| {
                id.split(['.', '-', '[', ']'])
                    .any(|part| part == typed_lower)
                    || (typed_lower.len() >= 4 && id.contains(&typed_lower))
            })
            .collect();
        if !containing.is_empty() {
            return containing;
        }
    }
    let mut scored: Vec<(f64, &str)> = ids
        .iter()
        .map(|id| (strsim::jaro_winkler(&typed_lower, id), *id))
        .filter(|(score, _)| *score >= 0.85)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    // Only those about as close as the closest: one clear match is named alone.
    let best = scored.first().map_or(0.0, |s| s.0);
    scored
        .into_iter()
        .filter(|(score, _)| best - score < 0.05)
        .map(|(_, id)| id)
        .collect()
}
