//! Administrative regions (行政区划) by GB/T 2260 six-digit codes: province → city → county.
//! The hierarchy is read off the code itself, so containment needs no lookup.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegionLevel {
    Province,
    City,
    County,
}

/// A checked GB/T 2260 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionCode([u8; 6]);

impl RegionCode {
    /// Accepts six digits whose province part is a real province-level code.
    pub fn parse(s: &str) -> Option<Self> {
        let b: [u8; 6] = s.as_bytes().try_into().ok()?;
        if !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let province = &s[..2];
        if !PROVINCES.iter().any(|(code, _)| &code[..2] == province) {
            return None;
        }
        // A county code under "00" city, or a city "00" with a non-zero county, is malformed
        // except for province-administered county-level units (e.g. 4190xx), which use 90.
        if &s[2..4] == "00" && &s[4..] != "00" {
            return None;
        }
        Some(Self(b))
    }

    pub fn as_str(&self) -> &str {
        // The bytes were checked to be ASCII digits in `parse`.
        std::str::from_utf8(&self.0).unwrap_or("000000")
    }

    pub fn level(&self) -> RegionLevel {
        if &self.0[2..] == b"0000" {
            RegionLevel::Province
        } else if &self.0[4..] == b"00" {
            RegionLevel::City
        } else {
            RegionLevel::County
        }
    }

    /// The code prefix every region inside this one starts with: "37" for 370000,
    /// "3701" for 370100, the whole code for a county.
    pub fn prefix(&self) -> &str {
        let s = self.as_str();
        match self.level() {
            RegionLevel::Province => &s[..2],
            RegionLevel::City => &s[..4],
            RegionLevel::County => s,
        }
    }

    pub fn parent(&self) -> Option<Self> {
        let mut b = self.0;
        match self.level() {
            RegionLevel::Province => return None,
            RegionLevel::City => b[2..].copy_from_slice(b"0000"),
            RegionLevel::County => b[4..].copy_from_slice(b"00"),
        }
        Some(Self(b))
    }

    /// Whether `other` is this region or lies inside it (R2.4 roll-up, authority scope).
    pub fn contains(&self, other: &RegionCode) -> bool {
        other.as_str().starts_with(self.prefix())
    }
}

impl std::fmt::Display for RegionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `inner` lies in `outer`, on raw codes; false when either is not a valid code.
pub fn region_contains(outer: &str, inner: &str) -> bool {
    match (RegionCode::parse(outer), RegionCode::parse(inner)) {
        (Some(o), Some(i)) => o.contains(&i),
        _ => false,
    }
}

/// The province-level units of GB/T 2260.
pub const PROVINCES: &[(&str, &str)] = &[
    ("110000", "北京市"),
    ("120000", "天津市"),
    ("130000", "河北省"),
    ("140000", "山西省"),
    ("150000", "内蒙古自治区"),
    ("210000", "辽宁省"),
    ("220000", "吉林省"),
    ("230000", "黑龙江省"),
    ("310000", "上海市"),
    ("320000", "江苏省"),
    ("330000", "浙江省"),
    ("340000", "安徽省"),
    ("350000", "福建省"),
    ("360000", "江西省"),
    ("370000", "山东省"),
    ("410000", "河南省"),
    ("420000", "湖北省"),
    ("430000", "湖南省"),
    ("440000", "广东省"),
    ("450000", "广西壮族自治区"),
    ("460000", "海南省"),
    ("500000", "重庆市"),
    ("510000", "四川省"),
    ("520000", "贵州省"),
    ("530000", "云南省"),
    ("540000", "西藏自治区"),
    ("610000", "陕西省"),
    ("620000", "甘肃省"),
    ("630000", "青海省"),
    ("640000", "宁夏回族自治区"),
    ("650000", "新疆维吾尔自治区"),
    ("710000", "台湾省"),
    ("810000", "香港特别行政区"),
    ("820000", "澳门特别行政区"),
];

/// Cities and districts shipped with the platform: all of Shandong's and Shaanxi's
/// prefecture-level cities (the two provinces whose regulations Gongshu implements) and
/// the districts the demo uses. Operators add the rest of their counties.
pub const BUILTIN_SUBREGIONS: &[(&str, &str)] = &[
    ("370100", "济南市"),
    ("370102", "历下区"),
    ("370103", "市中区"),
    ("370104", "槐荫区"),
    ("370105", "天桥区"),
    ("370112", "历城区"),
    ("370200", "青岛市"),
    ("370202", "市南区"),
    ("370203", "市北区"),
    ("370211", "黄岛区"),
    ("370212", "崂山区"),
    ("370300", "淄博市"),
    ("370302", "淄川区"),
    ("370303", "张店区"),
    ("370304", "博山区"),
    ("370305", "临淄区"),
    ("370400", "枣庄市"),
    ("370500", "东营市"),
    ("370600", "烟台市"),
    ("370602", "芝罘区"),
    ("370611", "福山区"),
    ("370700", "潍坊市"),
    ("370800", "济宁市"),
    ("370900", "泰安市"),
    ("371000", "威海市"),
    ("371100", "日照市"),
    ("371300", "临沂市"),
    ("371400", "德州市"),
    ("371500", "聊城市"),
    ("371600", "滨州市"),
    ("371700", "菏泽市"),
    ("610100", "西安市"),
    ("610200", "铜川市"),
    ("610300", "宝鸡市"),
    ("610400", "咸阳市"),
    ("610500", "渭南市"),
    ("610600", "延安市"),
    ("610700", "汉中市"),
    ("610800", "榆林市"),
    ("610900", "安康市"),
    ("611000", "商洛市"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_levels() {
        let cases = [
            ("370000", Some(RegionLevel::Province)),
            ("370100", Some(RegionLevel::City)),
            ("370303", Some(RegionLevel::County)),
            ("370003", None),
            ("990000", None),
            ("37010", None),
            ("37010a", None),
            ("３７０１００", None),
        ];
        for (code, level) in cases {
            assert_eq!(RegionCode::parse(code).map(|c| c.level()), level, "{code}");
        }
    }

    // SD-EGOV §15: a region's master catalog includes its sub-regions'.
    #[test]
    fn containment_follows_the_hierarchy() {
        let cases = [
            ("370000", "370303", true),
            ("370300", "370303", true),
            ("370300", "370300", true),
            ("370100", "370303", false),
            ("370303", "370300", false),
            ("610000", "370000", false),
        ];
        for (outer, inner, want) in cases {
            assert_eq!(region_contains(outer, inner), want, "{outer} ⊇ {inner}");
        }
    }

    #[test]
    fn parents() {
        let p = |s: &str| {
            RegionCode::parse(s)
                .unwrap()
                .parent()
                .map(|c| c.to_string())
        };
        assert_eq!(p("370303").as_deref(), Some("370300"));
        assert_eq!(p("370300").as_deref(), Some("370000"));
        assert_eq!(p("370000"), None);
    }

    #[test]
    fn builtin_regions_are_valid_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for (code, _) in PROVINCES.iter().chain(BUILTIN_SUBREGIONS) {
            assert!(RegionCode::parse(code).is_some(), "{code}");
            assert!(seen.insert(*code), "duplicate {code}");
        }
    }
}
