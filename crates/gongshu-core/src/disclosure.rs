//! Statistical disclosure control (统计披露控制) of sandbox results (issue 9, requirements
//! §7): which groups of an aggregate result may be released, so that no cell can be
//! traced back to a person. Pure arithmetic over what the engine counted; no IO.
//!
//! A row of the result is one group. It is withheld (primary suppression) when:
//! - it has fewer rows than the profile's minimum;
//! - any aggregate in it drew on fewer values than the minimum (a `MAX` over one
//!   matching value is that value);
//! - one of its sums or means is dominated: its two largest contributions make more than
//!   the profile's share of the total (the (2, 85 %) rule).
//!
//! Then secondary suppression: a line of the table (the rows that share every grouping
//! value but one) from which exactly one row was withheld would give that row away by
//! subtraction from the line's total, which another query can ask for; the smallest
//! released row of that line is withheld too, until no line has a lone gap.
//! Counts that are released are rounded to the profile's base.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The named profiles a platform or grant may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProfileName {
    /// Groups under 10 withheld, dominance (2, 85 %), counts rounded to 5.
    #[default]
    Standard,
    /// Groups of 7 or fewer withheld, then counts rounded to 5; dominance as standard.
    Strict,
}

impl ProfileName {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "standard" => Some(Self::Standard),
            "strict" => Some(Self::Strict),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Strict => "strict",
        }
    }

    pub fn profile(self) -> Profile {
        match self {
            Self::Standard => Profile {
                name: self,
                min_group: 10,
                dominance_n: 2,
                dominance_share: 0.85,
                round_to: 5,
            },
            Self::Strict => Profile {
                name: self,
                min_group: 8,
                dominance_n: 2,
                dominance_share: 0.85,
                round_to: 5,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Profile {
    pub name: ProfileName,
    /// A group (or an aggregate's inputs) smaller than this is withheld.
    pub min_group: u64,
    /// The number of largest contributions the dominance rule adds up (2) …
    pub dominance_n: u32,
    /// … and the share of the total they may not exceed (0.85).
    pub dominance_share: f64,
    /// Released counts are rounded to a multiple of this.
    pub round_to: u64,
}

/// What the engine counted about one group of the result.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupFacts {
    /// The grouping values, as text, in GROUP BY order.
    pub keys: Vec<String>,
    /// Distinct source rows in the group.
    pub rows: u64,
    /// For every aggregate in the row: how many values it drew on.
    pub inputs: Vec<u64>,
    /// For every sum or mean: (the largest `dominance_n` contributions added, the total of
    /// all contributions), both in absolute value.
    pub magnitudes: Vec<(f64, f64)>,
}

/// The noise of the sandbox's differential-privacy mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// ε-DP.
    Laplace,
    /// (ε, δ)-DP.
    Gaussian,
}

/// Why a row was withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Withheld {
    SmallGroup,
    FewValues,
    Dominated,
    /// To protect another withheld row of the same line.
    Secondary,
}

impl Withheld {
    pub fn is_primary(self) -> bool {
        self != Self::Secondary
    }

    pub fn label(self, lang: crate::error::Lang) -> &'static str {
        let (zh, en) = match self {
            Self::SmallGroup => ("分组人数过少", "too few people in the group"),
            Self::FewValues => ("参与计算的值过少", "too few values in a figure"),
            Self::Dominated => (
                "合计由少数个体主导",
                "a total dominated by one or two contributors",
            ),
            Self::Secondary => (
                "为防止由合计反推而隐去",
                "withheld so that another cannot be worked out from totals",
            ),
        };
        if lang == crate::error::Lang::Zh {
            zh
        } else {
            en
        }
    }
}

/// The primary reason to withhold a group, if any.
pub fn primary(group: &GroupFacts, profile: &Profile) -> Option<Withheld> {
    if group.rows < profile.min_group {
        return Some(Withheld::SmallGroup);
    }
    if group
        .inputs
        .iter()
        .any(|n| *n > 0 && *n < profile.min_group)
    {
        return Some(Withheld::FewValues);
    }
    let dominated = group
        .magnitudes
        .iter()
        .any(|(top, total)| *total > 0.0 && *top > profile.dominance_share * *total);
    dominated.then_some(Withheld::Dominated)
}

/// Decides every row: `None` to release, or why it is withheld.
pub fn protect(groups: &[GroupFacts], profile: &Profile) -> Vec<Option<Withheld>> {
    let mut out: Vec<Option<Withheld>> = groups.iter().map(|g| primary(g, profile)).collect();
    let width = groups.first().map_or(0, |g| g.keys.len());
    if width == 0 || groups.len() < 2 {
        return out;
    }
    // Each pass fixes every line with a lone gap; a fix can open a gap in a crossing
    // line, so repeat until nothing changes (each pass withholds at least one more row,
    // so this ends).
    loop {
        let mut changed = false;
        for free in 0..width {
            let mut lines: std::collections::BTreeMap<Vec<&str>, Vec<usize>> =
                std::collections::BTreeMap::new();
            for (i, g) in groups.iter().enumerate() {
                let fixed: Vec<&str> = g
                    .keys
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| *k != free)
                    .map(|(_, v)| v.as_str())
                    .collect();
                lines.entry(fixed).or_default().push(i);
            }
            for members in lines.values() {
                let withheld = members.iter().filter(|i| out[**i].is_some()).count();
                if withheld != 1 {
                    continue;
                }
                let smallest = members
                    .iter()
                    .filter(|i| out[**i].is_none())
                    .min_by_key(|i| groups[**i].rows);
                if let Some(i) = smallest {
                    out[*i] = Some(Withheld::Secondary);
                    changed = true;
                }
            }
        }
        if !changed {
            return out;
        }
    }
}

/// A released count, rounded to the nearest multiple of `base` (halves up).
pub fn round_count(n: i64, base: u64) -> i64 {
    let base = i64::try_from(base.max(1)).unwrap_or(1);
    let r = n.rem_euclid(base);
    if r * 2 >= base { n - r + base } else { n - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(keys: &[&str], rows: u64) -> GroupFacts {
        GroupFacts {
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            rows,
            inputs: vec![rows],
            magnitudes: vec![],
        }
    }

    #[test]
    fn small_groups_few_values_and_dominance_are_withheld() {
        let p = ProfileName::Standard.profile();
        assert_eq!(primary(&g(&["a"], 9), &p), Some(Withheld::SmallGroup));
        assert_eq!(primary(&g(&["a"], 10), &p), None);
        let mut few = g(&["a"], 50);
        few.inputs = vec![50, 1];
        assert_eq!(primary(&few, &p), Some(Withheld::FewValues));
        few.inputs = vec![50, 0];
        assert_eq!(
            primary(&few, &p),
            None,
            "an aggregate over no value is NULL"
        );
        let mut big = g(&["a"], 50);
        big.magnitudes = vec![(86.0, 100.0)];
        assert_eq!(primary(&big, &p), Some(Withheld::Dominated));
        big.magnitudes = vec![(85.0, 100.0)];
        assert_eq!(primary(&big, &p), None);
        let strict = ProfileName::Strict.profile();
        assert_eq!(primary(&g(&["a"], 7), &strict), Some(Withheld::SmallGroup));
        assert_eq!(primary(&g(&["a"], 8), &strict), None);
    }

    #[test]
    fn a_lone_gap_is_covered_so_totals_do_not_give_it_away() {
        let p = ProfileName::Standard.profile();
        // One dimension: the table is one line; the smallest released row goes too.
        let one = [g(&["a"], 3), g(&["b"], 40), g(&["c"], 12), g(&["d"], 90)];
        let out = protect(&one, &p);
        assert_eq!(
            out,
            vec![
                Some(Withheld::SmallGroup),
                None,
                Some(Withheld::Secondary),
                None
            ]
        );
        // Two gaps in a line already protect each other.
        let two = [g(&["a"], 3), g(&["b"], 4), g(&["c"], 12)];
        assert_eq!(protect(&two, &p)[2], None);

        // Two dimensions: every row and column of the cross-table keeps no lone gap.
        let cells = [
            g(&["x", "1"], 2),
            g(&["x", "2"], 30),
            g(&["x", "3"], 50),
            g(&["y", "1"], 40),
            g(&["y", "2"], 35),
            g(&["y", "3"], 60),
        ];
        let out = protect(&cells, &p);
        let withheld = |k: &[&str]| {
            let i = cells.iter().position(|c| c.keys == k).unwrap();
            out[i].is_some()
        };
        // Column "1": both withheld.
        assert!(withheld(&["x", "1"]) && withheld(&["y", "1"]), "{out:?}");
        for row in ["x", "y"] {
            let gaps = ["1", "2", "3"]
                .iter()
                .filter(|c| withheld(&[row, c]))
                .count();
            assert_ne!(gaps, 1, "row {row}: {out:?}");
        }
        for col in ["1", "2", "3"] {
            let gaps = ["x", "y"].iter().filter(|r| withheld(&[r, col])).count();
            assert_ne!(gaps, 1, "column {col}: {out:?}");
        }
    }

    #[test]
    fn counts_round_to_the_base() {
        assert_eq!(round_count(12, 5), 10);
        assert_eq!(round_count(13, 5), 15);
        assert_eq!(round_count(15, 5), 15);
        assert_eq!(round_count(0, 5), 0);
        assert_eq!(round_count(7, 1), 7);
    }
}
