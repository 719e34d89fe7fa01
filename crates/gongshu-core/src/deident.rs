//! De-identification rules (去标识化规则) per data item, after GB/T 37964-2019
//! 《信息安全技术 个人信息去标识化指南》: what the open version of a table does with each
//! column of the raw one. This module is the vocabulary and its validation; applying a
//! rule set to Arrow data is `gongshu_data::deident`, which also holds the keys.
//!
//! The techniques are those of the standard's annex of common techniques
//! (常用去标识化技术): suppression (抑制, of which masking 屏蔽 is the partial form),
//! pseudonymisation (假名化), generalisation (泛化) and the cryptographic techniques
//! (密码技术, here format-preserving encryption). A column the rules do not name is kept
//! as it is: deciding which columns need a rule is the detection proposals' and the
//! provider's job, not this module's.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldError;
use crate::pii::{MIN_COORDINATE_DECIMALS, PiiKind};

/// The longest a mask may keep (`keep_first + keep_last`). The longest value kinds the
/// platform recognises are 18- and 19-character ID and card numbers; a mask keeping more
/// than this hides nothing of a short value and too little of a long one, and is far
/// more likely a typo (60 for 6) than a decision.
pub const MAX_MASK_KEPT: u32 = 16;

/// The most precise IPv4 network a generalisation may keep. A /24 (the last octet
/// zeroed) is the common practice of web analytics' IP anonymisation; anything finer
/// points at a handful of subscribers.
pub const MAX_IPV4_PREFIX: u8 = 24;
/// The IPv6 counterpart: a /48 is a site, while a /64 is usually one household.
pub const MAX_IPV6_PREFIX: u8 = 48;

/// What happens to one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// Published as it is.
    Keep,
    /// Every character but the first `keep_first` and the last `keep_last` becomes `*`,
    /// counted in characters, not bytes: 110105********002X is 6 and 4. A value not
    /// longer than what the mask keeps is masked whole.
    Mask { keep_first: u32, keep_last: u32 },
    /// A keyed pseudonym: the same value gives the same code within a dataset (its key),
    /// a different one in another dataset, and cannot be reversed without the key.
    /// Values are taken as written, surrounding blanks aside (…002x and …002X are two
    /// codes), so a column is normalised before it is pseudonymised.
    Pseudonym {
        #[serde(default)]
        algorithm: PseudonymAlgorithm,
    },
    /// A coarser value: a month for a date, a band for an age, a city for a county.
    Generalise { to: Generalisation },
    /// Every value blank (null); the column stays, so the table keeps its shape.
    Suppress,
    /// The column is removed from the open version.
    Drop,
    /// Format-preserving encryption of digit strings (FF1, NIST SP 800-38G, AES-256):
    /// the code has the shape of the original and the provider, who holds the key, can
    /// reverse it. For reversible codes only; a value that is not a digit string (spaces
    /// and hyphens allowed) of six to sixty-four digits comes out blank.
    Fpe,
}

/// The keyed hash behind a pseudonym.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PseudonymAlgorithm {
    /// HMAC-SHA-256 (RFC 2104, FIPS 180-4).
    #[default]
    HmacSha256,
    /// HMAC-SM3 (GM/T 0004-2012), for systems whose commercial-cryptography assessment
    /// (密评, GB/T 39786-2021) expects the national algorithms.
    HmacSm3,
}

impl PseudonymAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HmacSha256 => "hmac_sha256",
            Self::HmacSm3 => "hmac_sm3",
        }
    }
}

/// How a value is made coarser (GB/T 37964-2019, 泛化技术).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Generalisation {
    /// A date to its month, written YYYY-MM.
    Month,
    /// A date to its year, written YYYY.
    Year,
    /// An age to a band `width` years wide starting at a multiple of it (30-39 for
    /// width 10), and every age from `top` up to one open band ("90+"): the oldest are
    /// few, and a band of them is as telling as their exact age (top coding, 顶层编码).
    AgeBand {
        width: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        top: Option<u32>,
    },
    /// A GB/T 2260 region code to its city (prefecture): 370102 → 370100.
    RegionCity,
    /// A GB/T 2260 region code to its province: 370102 → 370000.
    RegionProvince,
    /// Coordinates rounded down to a grid of `decimals` decimal places (2 is about
    /// 1.1 km of latitude).
    Grid { decimals: u32 },
    /// An IP address to its network: 192.0.2.57 → 192.0.2.0/24.
    IpNetwork { v4_prefix: u8, v6_prefix: u8 },
}

impl Generalisation {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Year => "year",
            Self::AgeBand { .. } => "age_band",
            Self::RegionCity => "region_city",
            Self::RegionProvince => "region_province",
            Self::Grid { .. } => "grid",
            Self::IpNetwork { .. } => "ip_network",
        }
    }
}

impl Rule {
    /// The wire name of the rule's kind, as serde writes it in `kind`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::Mask { .. } => "mask",
            Self::Pseudonym { .. } => "pseudonym",
            Self::Generalise { .. } => "generalise",
            Self::Suppress => "suppress",
            Self::Drop => "drop",
            Self::Fpe => "fpe",
        }
    }

    pub fn label_zh(&self) -> &'static str {
        match self {
            Self::Keep => "保留",
            Self::Mask { .. } => "屏蔽",
            Self::Pseudonym { .. } => "假名化",
            Self::Generalise { .. } => "泛化",
            Self::Suppress => "抑制（置空）",
            Self::Drop => "删除数据项",
            Self::Fpe => "保留格式加密",
        }
    }

    pub fn label_en(&self) -> &'static str {
        match self {
            Self::Keep => "Keep",
            Self::Mask { .. } => "Mask",
            Self::Pseudonym { .. } => "Pseudonym",
            Self::Generalise { .. } => "Generalise",
            Self::Suppress => "Suppress (blank)",
            Self::Drop => "Drop column",
            Self::Fpe => "Format-preserving encryption",
        }
    }

    /// Problems of the rule alone, whatever column it is on; `field` is the JSON path of
    /// the rule.
    fn problems(&self, field: &str, e: &mut Vec<FieldError>) {
        match *self {
            Self::Mask {
                keep_first,
                keep_last,
            } => {
                if keep_first.saturating_add(keep_last) > MAX_MASK_KEPT {
                    e.push(FieldError::new(
                        format!("{field}.keep_first"),
                        "keeps_too_much",
                        format!("屏蔽时保留的首尾字符合计不得超过{MAX_MASK_KEPT}个"),
                        format!("a mask keeps at most {MAX_MASK_KEPT} characters in all"),
                    ));
                }
            }
            Self::Generalise { to } => to.problems(&format!("{field}.to"), e),
            Self::Keep | Self::Pseudonym { .. } | Self::Suppress | Self::Drop | Self::Fpe => {}
        }
    }
}

impl Generalisation {
    fn problems(&self, field: &str, e: &mut Vec<FieldError>) {
        match *self {
            Self::AgeBand { width, top } => {
                if width == 0 {
                    e.push(FieldError::new(
                        format!("{field}.width"),
                        "zero",
                        "年龄段宽度须大于0",
                        "the band width must be greater than 0",
                    ));
                } else if width == 1 {
                    e.push(FieldError::new(
                        format!("{field}.width"),
                        "keeps_everything",
                        "宽度为1的年龄段即原年龄，未作泛化",
                        "a band one year wide is the exact age: nothing is generalised",
                    ));
                }
                if top == Some(0) {
                    e.push(FieldError::new(
                        format!("{field}.top"),
                        "zero",
                        "顶层编码的起点须大于0",
                        "the top band must start above 0",
                    ));
                }
            }
            Self::Grid { decimals } => {
                // As precise as the detector's threshold for a precise location, the grid
                // would publish what the detector flagged.
                if decimals as usize >= MIN_COORDINATE_DECIMALS {
                    e.push(FieldError::new(
                        format!("{field}.decimals"),
                        "too_precise",
                        format!(
                            "坐标保留{MIN_COORDINATE_DECIMALS}位及以上小数仍是精确位置，最多保留{}位",
                            MIN_COORDINATE_DECIMALS - 1
                        ),
                        format!(
                            "{MIN_COORDINATE_DECIMALS} or more decimals is still a precise location; keep at most {}",
                            MIN_COORDINATE_DECIMALS - 1
                        ),
                    ));
                }
            }
            Self::IpNetwork {
                v4_prefix,
                v6_prefix,
            } => {
                if v4_prefix > MAX_IPV4_PREFIX {
                    e.push(FieldError::new(
                        format!("{field}.v4_prefix"),
                        "too_precise",
                        format!("IPv4网络前缀最长为{MAX_IPV4_PREFIX}位"),
                        format!("an IPv4 network prefix is at most {MAX_IPV4_PREFIX} bits"),
                    ));
                }
                if v6_prefix > MAX_IPV6_PREFIX {
                    e.push(FieldError::new(
                        format!("{field}.v6_prefix"),
                        "too_precise",
                        format!("IPv6网络前缀最长为{MAX_IPV6_PREFIX}位"),
                        format!("an IPv6 network prefix is at most {MAX_IPV6_PREFIX} bits"),
                    ));
                }
            }
            Self::Month | Self::Year | Self::RegionCity | Self::RegionProvince => {}
        }
    }
}

/// The rule for one column, by its name in the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnRule {
    pub column: String,
    pub rule: Rule,
}

/// The rules of one table. Columns it does not name are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    pub columns: Vec<ColumnRule>,
    /// Quasi-identifiers (准标识符): columns that together could single a person out.
    /// When named, the open version is served only if every combination of their
    /// values is shared by at least the platform's k records (GB/T 37964, K-匿名).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quasi_identifiers: Vec<String>,
}

impl RuleSet {
    /// The rule for a column, if the set names it.
    pub fn rule_for(&self, column: &str) -> Option<&Rule> {
        self.columns
            .iter()
            .find(|c| c.column == column)
            .map(|c| &c.rule)
    }

    /// Every problem of the rules against the columns of the table they are for. A rule
    /// naming a column the table lacks is a problem, not a no-op: it usually means the
    /// column was renamed in a new version, and the renamed one would go out raw.
    pub fn problems(&self, columns_of_table: &[&str]) -> Vec<FieldError> {
        let mut e = Vec::new();
        let mut seen = HashSet::new();
        for (i, c) in self.columns.iter().enumerate() {
            let field = format!("columns[{i}]");
            if !columns_of_table.contains(&c.column.as_str()) {
                e.push(FieldError::new(
                    format!("{field}.column"),
                    "unknown_column",
                    format!("表中没有数据项“{}”", c.column),
                    format!("the table has no column “{}”", c.column),
                ));
            }
            if !seen.insert(c.column.as_str()) {
                e.push(FieldError::new(
                    format!("{field}.column"),
                    "duplicate",
                    format!("数据项“{}”的规则重复", c.column),
                    format!("column “{}” has more than one rule", c.column),
                ));
            }
            c.rule.problems(&format!("{field}.rule"), &mut e);
        }
        for (i, q) in self.quasi_identifiers.iter().enumerate() {
            let dropped = matches!(self.rule_for(q), Some(Rule::Drop));
            if !columns_of_table.contains(&q.as_str()) || dropped {
                e.push(FieldError::new(
                    format!("quasi_identifiers[{i}]"),
                    "unknown_column",
                    format!("公开版本中没有数据项“{q}”"),
                    format!("the open version has no column “{q}”"),
                ));
            }
        }
        e
    }
}

/// The default rule proposed for a column detected as `kind`; the provider confirms or
/// changes it. Each choice keeps what open data is usually wanted for and removes what
/// identifies a person (GB/T 37964-2019: direct identifiers are removed, masked or
/// pseudonymised; quasi-identifiers are generalised; sensitive attributes are suppressed
/// unless the provider has a reason to publish them).
pub fn suggested_rule(kind: PiiKind) -> Rule {
    let mask = |keep_first, keep_last| Rule::Mask {
        keep_first,
        keep_last,
    };
    let generalise = |to| Rule::Generalise { to };
    match kind {
        // Keeps the issuing county and the check character, the common published form
        // (110105********002X); the birth date in the middle is what the mask is for.
        PiiKind::ResidentId => mask(6, 4),
        // A credit code names an organisation, whose code is public by law in the
        // enterprise credit publicity system; only a sole trader's points at a person,
        // and the provider can change the rule for such a column.
        PiiKind::Uscc => Rule::Keep,
        // Carrier prefix and last four (138****5678), the form used on receipts.
        PiiKind::Mobile => mask(3, 4),
        // The area code (0531-…) says only the city.
        PiiKind::Landline => mask(4, 0),
        // Issuer (BIN) and last four: the most a card number may show (PCI DSS 3.4).
        PiiKind::BankCard => mask(6, 4),
        // The first letter only: the domain can name a small employer.
        PiiKind::Email => mask(1, 0),
        // Province and issuing city (鲁A·…), a region generalisation in effect.
        PiiKind::LicencePlate => mask(2, 0),
        PiiKind::Passport => mask(2, 2),
        PiiKind::IpAddress => generalise(Generalisation::IpNetwork {
            v4_prefix: MAX_IPV4_PREFIX,
            v6_prefix: MAX_IPV6_PREFIX,
        }),
        // About a kilometre: a neighbourhood, not a building (precise positioning is
        // sensitive under GB/T 35273-2020 Annex B).
        PiiKind::Coordinates => generalise(Generalisation::Grid { decimals: 2 }),
        // The surname (张*): common enough not to identify, useful for checking a record.
        PiiKind::Name => mask(1, 0),
        // An address is a direct identifier of a household; masking free text leaves
        // unpredictable fragments, so it is blanked. A region column can carry the area.
        PiiKind::Address => Rule::Suppress,
        // The year keeps ages analysable; day and month with the year and a region
        // single out most people (a classic quasi-identifier).
        PiiKind::BirthDate => generalise(Generalisation::Year),
        // Sensitive attributes (PIPL §28 for religion and health; ethnicity because a
        // minority in a small county is itself identifying): blank unless the provider
        // decides otherwise and the k-anonymity report allows it.
        PiiKind::Ethnicity | PiiKind::Religion | PiiKind::Health => Rule::Suppress,
    }
}

/// What a rule leaves of a personal value, in the terms of PIPL §73: 去标识化 leaves a
/// person identifiable with extra information (a key, other tables); 匿名化 leaves no way
/// back. A tool can say which rules are reversible or linkable; whether a table as a whole
/// is anonymous also depends on what else is known, which the k-anonymity report measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The value is published as it is.
    Identifying,
    /// The key holder recovers the value (FF1).
    Reversible,
    /// The same person gets the same code within the dataset, so records link; the value
    /// cannot be recovered without the key (keyed pseudonym).
    Linkable,
    /// Part of the value remains (a mask keeps some characters, a generalisation a
    /// coarser value); alone it no longer identifies, with other data it may.
    Reduced,
    /// Nothing of the value remains (suppressed or dropped).
    Removed,
}

impl Rule {
    pub fn effect(&self) -> Effect {
        match self {
            Self::Keep => Effect::Identifying,
            Self::Fpe => Effect::Reversible,
            Self::Pseudonym { .. } => Effect::Linkable,
            Self::Mask { .. } | Self::Generalise { .. } => Effect::Reduced,
            Self::Suppress | Self::Drop => Effect::Removed,
        }
    }
}

/// The open version as a whole, judged by its weakest personal column; ordered from
/// the weakest protection to the strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Processing {
    /// A personal column is published as it is.
    Identified,
    /// Every personal column is transformed, but at least one is reversible with the key
    /// or links records of one person: 去标识化, still personal information.
    Deidentified,
    /// No personal column is reversible or linkable: a candidate for 匿名化, which the
    /// provider confirms with the k-anonymity report over the quasi-identifiers.
    AnonymisationCandidate,
}

impl Processing {
    /// Judges the rules in force over the personal columns named.
    pub fn of<'a>(rules: &RuleSet, personal: impl IntoIterator<Item = &'a str>) -> Self {
        let mut worst = Self::AnonymisationCandidate;
        for column in personal {
            let effect = rules
                .rule_for(column)
                .map_or(Effect::Identifying, Rule::effect);
            let here = match effect {
                Effect::Identifying => Self::Identified,
                Effect::Reversible | Effect::Linkable => Self::Deidentified,
                Effect::Reduced | Effect::Removed => Self::AnonymisationCandidate,
            };
            worst = worst.min(here);
        }
        worst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(e: &[FieldError]) -> Vec<String> {
        e.iter()
            .map(|f| format!("{}:{}", f.field, f.code))
            .collect()
    }

    fn set(rules: &[(&str, Rule)]) -> RuleSet {
        RuleSet {
            quasi_identifiers: Vec::new(),
            columns: rules
                .iter()
                .map(|(c, r)| ColumnRule {
                    column: (*c).to_owned(),
                    rule: r.clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn wire_forms_are_internally_tagged_snake_case() {
        let table: &[(&str, Rule)] = &[
            (r#"{"kind":"keep"}"#, Rule::Keep),
            (
                r#"{"kind":"mask","keep_first":6,"keep_last":4}"#,
                Rule::Mask {
                    keep_first: 6,
                    keep_last: 4,
                },
            ),
            (
                r#"{"kind":"pseudonym","algorithm":"hmac_sha256"}"#,
                Rule::Pseudonym {
                    algorithm: PseudonymAlgorithm::HmacSha256,
                },
            ),
            (
                r#"{"kind":"pseudonym","algorithm":"hmac_sm3"}"#,
                Rule::Pseudonym {
                    algorithm: PseudonymAlgorithm::HmacSm3,
                },
            ),
            (
                r#"{"kind":"generalise","to":{"kind":"month"}}"#,
                Rule::Generalise {
                    to: Generalisation::Month,
                },
            ),
            (
                r#"{"kind":"generalise","to":{"kind":"age_band","width":10}}"#,
                Rule::Generalise {
                    to: Generalisation::AgeBand {
                        width: 10,
                        top: None,
                    },
                },
            ),
            (
                r#"{"kind":"generalise","to":{"kind":"age_band","width":5,"top":90}}"#,
                Rule::Generalise {
                    to: Generalisation::AgeBand {
                        width: 5,
                        top: Some(90),
                    },
                },
            ),
            (
                r#"{"kind":"generalise","to":{"kind":"region_city"}}"#,
                Rule::Generalise {
                    to: Generalisation::RegionCity,
                },
            ),
            (
                r#"{"kind":"generalise","to":{"kind":"grid","decimals":2}}"#,
                Rule::Generalise {
                    to: Generalisation::Grid { decimals: 2 },
                },
            ),
            (
                r#"{"kind":"generalise","to":{"kind":"ip_network","v4_prefix":24,"v6_prefix":48}}"#,
                Rule::Generalise {
                    to: Generalisation::IpNetwork {
                        v4_prefix: 24,
                        v6_prefix: 48,
                    },
                },
            ),
            (r#"{"kind":"suppress"}"#, Rule::Suppress),
            (r#"{"kind":"drop"}"#, Rule::Drop),
            (r#"{"kind":"fpe"}"#, Rule::Fpe),
        ];
        for (json, rule) in table {
            assert_eq!(serde_json::to_string(rule).unwrap(), *json);
            assert_eq!(&serde_json::from_str::<Rule>(json).unwrap(), rule, "{json}");
            let kind: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(kind["kind"], rule.as_str());
            assert!(!rule.label_zh().is_empty() && !rule.label_en().is_empty());
        }
        // The algorithm defaults to HMAC-SHA-256; unknown fields and kinds are refused.
        assert_eq!(
            serde_json::from_str::<Rule>(r#"{"kind":"pseudonym"}"#).unwrap(),
            Rule::Pseudonym {
                algorithm: PseudonymAlgorithm::HmacSha256
            }
        );
        for bad in [
            r#"{"kind":"mask","keep_first":6}"#,
            r#"{"kind":"mask","keep_first":6,"keep_last":4,"char":"x"}"#,
            r#"{"kind":"hash"}"#,
            r#"{"kind":"generalise","to":{"kind":"decade"}}"#,
            r#"{"kind":"pseudonym","algorithm":"md5"}"#,
            r#"{"kind":"mask","keep_first":-1,"keep_last":4}"#,
        ] {
            assert!(serde_json::from_str::<Rule>(bad).is_err(), "{bad}");
        }
        let rules = set(&[("身份证号", Rule::Fpe)]);
        let json = serde_json::to_string(&rules).unwrap();
        assert_eq!(
            json,
            r#"{"columns":[{"column":"身份证号","rule":{"kind":"fpe"}}]}"#
        );
        assert_eq!(serde_json::from_str::<RuleSet>(&json).unwrap(), rules);
    }

    /// A rule set says exactly what happens to the columns it names (GB/T 37964-2019
    /// asks that the chosen techniques be verified before release): anything ambiguous,
    /// aimed at a missing column, or that would generalise nothing is refused.
    #[test]
    fn problems_name_the_field_and_the_reason() {
        let table_columns = ["姓名", "身份证号", "年龄", "出生日期", "坐标", "IP", "住址"];
        let g = |to| Rule::Generalise { to };
        type Case<'a> = (Vec<(&'a str, Rule)>, Vec<&'a str>);
        let table: Vec<Case> = vec![
            (vec![], vec![]),
            (
                vec![
                    (
                        "身份证号",
                        Rule::Mask {
                            keep_first: 6,
                            keep_last: 4,
                        },
                    ),
                    ("姓名", suggested_rule(PiiKind::Name)),
                    ("住址", Rule::Drop),
                ],
                vec![],
            ),
            (
                vec![("手机", Rule::Keep)],
                vec!["columns[0].column:unknown_column"],
            ),
            (
                vec![("姓名", Rule::Suppress), ("姓名", Rule::Drop)],
                vec!["columns[1].column:duplicate"],
            ),
            (
                vec![(
                    "身份证号",
                    Rule::Mask {
                        keep_first: 10,
                        keep_last: 8,
                    },
                )],
                vec!["columns[0].rule.keep_first:keeps_too_much"],
            ),
            (
                vec![(
                    "身份证号",
                    Rule::Mask {
                        keep_first: u32::MAX,
                        keep_last: u32::MAX,
                    },
                )],
                vec!["columns[0].rule.keep_first:keeps_too_much"],
            ),
            (
                // Masking everything is allowed: it keeps the length and nothing else.
                vec![(
                    "身份证号",
                    Rule::Mask {
                        keep_first: 0,
                        keep_last: 0,
                    },
                )],
                vec![],
            ),
            (
                vec![(
                    "年龄",
                    g(Generalisation::AgeBand {
                        width: 0,
                        top: Some(0),
                    }),
                )],
                vec![
                    "columns[0].rule.to.width:zero",
                    "columns[0].rule.to.top:zero",
                ],
            ),
            (
                vec![(
                    "年龄",
                    g(Generalisation::AgeBand {
                        width: 1,
                        top: None,
                    }),
                )],
                vec!["columns[0].rule.to.width:keeps_everything"],
            ),
            (
                vec![("坐标", g(Generalisation::Grid { decimals: 4 }))],
                vec!["columns[0].rule.to.decimals:too_precise"],
            ),
            (
                vec![("坐标", g(Generalisation::Grid { decimals: 3 }))],
                vec![],
            ),
            (
                vec![(
                    "IP",
                    g(Generalisation::IpNetwork {
                        v4_prefix: 32,
                        v6_prefix: 64,
                    }),
                )],
                vec![
                    "columns[0].rule.to.v4_prefix:too_precise",
                    "columns[0].rule.to.v6_prefix:too_precise",
                ],
            ),
            (
                vec![
                    ("出生日期", g(Generalisation::Month)),
                    ("IP", Rule::Fpe),
                    ("不存在", Rule::Keep),
                    ("出生日期", Rule::Keep),
                ],
                vec![
                    "columns[2].column:unknown_column",
                    "columns[3].column:duplicate",
                ],
            ),
        ];
        for (rules, want) in table {
            let got = set(&rules).problems(&table_columns);
            assert_eq!(codes(&got), want, "{rules:?}");
            for f in &got {
                assert!(!f.message_zh.is_empty() && !f.message_en.is_empty());
            }
        }
    }

    #[test]
    fn rule_for_finds_the_column() {
        let rules = set(&[("姓名", Rule::Suppress), ("住址", Rule::Drop)]);
        assert_eq!(rules.rule_for("住址"), Some(&Rule::Drop));
        assert_eq!(rules.rule_for("年龄"), None);
    }

    /// Every recognised kind has a default that passes validation, and no default
    /// publishes a direct identifier or a PIPL §28 sensitive kind as it is.
    #[test]
    fn every_kind_has_a_valid_suggestion() {
        let table: &[(PiiKind, Rule)] = &[
            (
                PiiKind::ResidentId,
                Rule::Mask {
                    keep_first: 6,
                    keep_last: 4,
                },
            ),
            (PiiKind::Uscc, Rule::Keep),
            (
                PiiKind::Mobile,
                Rule::Mask {
                    keep_first: 3,
                    keep_last: 4,
                },
            ),
            (
                PiiKind::BankCard,
                Rule::Mask {
                    keep_first: 6,
                    keep_last: 4,
                },
            ),
            (
                PiiKind::Name,
                Rule::Mask {
                    keep_first: 1,
                    keep_last: 0,
                },
            ),
            (PiiKind::Address, Rule::Suppress),
            (
                PiiKind::BirthDate,
                Rule::Generalise {
                    to: Generalisation::Year,
                },
            ),
            (
                PiiKind::Coordinates,
                Rule::Generalise {
                    to: Generalisation::Grid { decimals: 2 },
                },
            ),
            (PiiKind::Ethnicity, Rule::Suppress),
            (PiiKind::Religion, Rule::Suppress),
            (PiiKind::Health, Rule::Suppress),
        ];
        for (kind, want) in table {
            assert_eq!(&suggested_rule(*kind), want, "{kind}");
        }
        for &kind in PiiKind::ALL {
            let rule = suggested_rule(kind);
            let rules = set(&[("c", rule.clone())]);
            assert!(rules.problems(&["c"]).is_empty(), "{kind}: {rule:?}");
            if kind != PiiKind::Uscc {
                assert_ne!(rule, Rule::Keep, "{kind}");
            }
        }
    }

    #[test]
    fn processing_is_judged_by_the_weakest_personal_column() {
        use super::{Processing, Rule, RuleSet};
        let rules: RuleSet = serde_json::from_value(serde_json::json!({"columns": [
            {"column": "证件号码", "rule": {"kind": "pseudonym"}},
            {"column": "姓名", "rule": {"kind": "mask", "keep_first": 1, "keep_last": 0}},
            {"column": "卡号", "rule": {"kind": "fpe"}},
            {"column": "住址", "rule": {"kind": "drop"}}
        ]}))
        .unwrap();
        assert_eq!(
            Processing::of(&rules, ["姓名", "住址"]),
            Processing::AnonymisationCandidate
        );
        assert_eq!(
            Processing::of(&rules, ["姓名", "证件号码"]),
            Processing::Deidentified
        );
        assert_eq!(Processing::of(&rules, ["卡号"]), Processing::Deidentified);
        assert_eq!(
            Processing::of(&rules, ["姓名", "手机"]),
            Processing::Identified
        );
        assert_eq!(
            Processing::of(&rules, []),
            Processing::AnonymisationCandidate
        );
        assert_eq!(Rule::Keep.effect(), super::Effect::Identifying);
    }
}
