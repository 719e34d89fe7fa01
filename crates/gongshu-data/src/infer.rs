//! Column types from the values a column holds, in the forms Chinese government tables
//! use. Codes stay text: an ID number, a credit code, a postcode or a phone number is
//! never a number, whatever digits it holds.

use chrono::NaiveDate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Integer,
    /// A decimal with this many digits after the point.
    Decimal {
        scale: u8,
    },
    Date,
    Boolean,
    Text,
}

/// Headers that name codes or identifiers: such columns are text whatever they hold.
const CODE_HEADERS: &[&str] = &[
    "代码",
    "编码",
    "编号",
    "号码",
    "证号",
    "号",
    "电话",
    "手机",
    "邮编",
    "邮政",
    "身份证",
    "卡号",
    "账号",
    "code",
    "id",
    "phone",
    "zip",
];

/// Headers that name dates, so that 8-digit values such as 20240305 read as dates.
const DATE_HEADERS: &[&str] = &["日期", "时间", "年月日", "date", "day"];

fn header_has(header: &str, words: &[&str]) -> bool {
    let h = header.to_lowercase();
    words.iter().any(|w| h.contains(w))
}

/// An integer as people write it: optional sign, no leading zero, at most 15 digits
/// (longer digit strings are identifiers), thousands separators allowed.
pub fn parse_integer(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let plain: String = if digits.contains(',') {
        let groups: Vec<&str> = digits.split(',').collect();
        let ok = (1..=3).contains(&groups[0].len()) && groups[1..].iter().all(|g| g.len() == 3);
        if !ok {
            return None;
        }
        groups.concat()
    } else {
        digits.to_owned()
    };
    if plain.is_empty() || plain.len() > 15 || !plain.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if plain.len() > 1 && plain.starts_with('0') {
        return None;
    }
    let v: i64 = plain.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// A decimal's digits after the point, if `s` is a plain decimal number.
fn decimal_scale(s: &str) -> Option<u8> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body.split_once('.')?;
    let int_ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && (int.len() == 1 || !int.starts_with('0'));
    let frac_ok = !frac.is_empty() && frac.len() <= 18 && frac.bytes().all(|b| b.is_ascii_digit());
    (int_ok && frac_ok && int.len() + frac.len() <= 36).then_some(frac.len() as u8)
}

/// A decimal scaled to `scale` digits, as Arrow's Decimal128 stores it.
pub fn parse_decimal(s: &str, scale: u8) -> Option<i128> {
    if let Some(i) = parse_integer(s) {
        return i128::from(i).checked_mul(10i128.checked_pow(u32::from(scale))?);
    }
    let have = decimal_scale(s)?;
    if have > scale {
        return None;
    }
    let neg = s.starts_with('-');
    let digits: String = s
        .trim_start_matches('-')
        .chars()
        .filter(|c| *c != '.')
        .collect();
    let v: i128 = digits.parse().ok()?;
    let v = v.checked_mul(10i128.checked_pow(u32::from(scale - have))?)?;
    Some(if neg { -v } else { v })
}

/// Dates as written in Chinese tables: 2024-03-05, 2024/3/5, 2024.3.5, 2024年3月5日 and,
/// when `compact` is allowed, 20240305.
pub fn parse_date(s: &str, compact: bool) -> Option<NaiveDate> {
    let s = s.trim();
    if compact && s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        let (y, m, d) = (
            s[..4].parse().ok()?,
            s[4..6].parse().ok()?,
            s[6..].parse().ok()?,
        );
        return NaiveDate::from_ymd_opt(y, m, d)
            .filter(|d| (1900..=2100).contains(&chrono::Datelike::year(d)));
    }
    let normalized: String = s
        .trim_end_matches('日')
        .chars()
        .map(|c| {
            if matches!(c, '年' | '月' | '/' | '.') {
                '-'
            } else {
                c
            }
        })
        .collect();
    let mut parts = normalized.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || y.len() != 4
        || m.is_empty()
        || m.len() > 2
        || d.is_empty()
        || d.len() > 2
    {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// A date, or a date and a time of day (`2024-03-05 08:30`, `2024-03-05T08:30:00`), as a
/// declared date or date-time item may hold.
pub fn is_date_or_datetime(s: &str) -> bool {
    let s = s.trim();
    let (date, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (d, Some(t.trim())),
        None => (s, None),
    };
    parse_date(date, true).is_some()
        && time.is_none_or(|t| {
            ["%H:%M:%S", "%H:%M", "%H:%M:%S%.f"]
                .iter()
                .any(|f| chrono::NaiveTime::parse_from_str(t, f).is_ok())
        })
}

/// A whole or decimal number as tables write it (thousands separators allowed).
pub fn is_number(s: &str) -> bool {
    let s = s.trim();
    parse_integer(s).is_some() || decimal_scale(s).is_some()
}

pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "是" | "true" | "TRUE" | "True" => Some(true),
        "否" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The narrowest type every non-empty value fits. A column with no values is text.
pub fn infer<'a>(header: &str, values: impl Iterator<Item = &'a str> + Clone) -> ColumnType {
    let mut present = values.filter(|v| !v.is_empty()).peekable();
    if present.peek().is_none()
        || header_has(header, CODE_HEADERS) && !header_has(header, DATE_HEADERS)
    {
        return ColumnType::Text;
    }
    let present: Vec<&str> = present.collect();
    let compact = header_has(header, DATE_HEADERS);
    if present.iter().all(|v| parse_bool(v).is_some()) {
        return ColumnType::Boolean;
    }
    if compact && present.iter().all(|v| parse_date(v, true).is_some()) {
        return ColumnType::Date;
    }
    if present.iter().all(|v| parse_integer(v).is_some()) {
        return ColumnType::Integer;
    }
    let mut scale = 0u8;
    if present.iter().all(|v| {
        if parse_integer(v).is_some() {
            return true;
        }
        decimal_scale(v).map(|s| scale = scale.max(s)).is_some()
    }) {
        return ColumnType::Decimal { scale };
    }
    if present.iter().all(|v| parse_date(v, false).is_some()) {
        return ColumnType::Date;
    }
    ColumnType::Text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infer_of(header: &str, values: &[&str]) -> ColumnType {
        infer(header, values.iter().copied())
    }

    #[test]
    fn declared_types_are_recognised() {
        for ok in [
            "2024-03-05",
            "20240305",
            "2024年3月5日",
            "2024-03-05 08:30",
            "2024/3/5T08:30:15",
        ] {
            assert!(is_date_or_datetime(ok), "{ok}");
        }
        for bad in ["2024-02-30", "昨天", "2024-03-05 25:00", "03/05/2024"] {
            assert!(!is_date_or_datetime(bad), "{bad}");
        }
        for ok in ["12", "-3", "2,500", "0.25"] {
            assert!(is_number(ok), "{ok}");
        }
        for bad in ["12元", "约100", "1.2.3", ""] {
            assert!(!is_number(bad), "{bad}");
        }
    }

    #[test]
    fn column_types() {
        use ColumnType::*;
        let cases: &[(&str, &[&str], ColumnType)] = &[
            ("注册资本", &["100", "2,500", "", "-3"], Integer),
            ("金额", &["1.5", "2", "3.25"], Decimal { scale: 2 }),
            (
                "成立日期",
                &["2024-03-05", "2024/3/5", "2024年3月5日"],
                Date,
            ),
            ("发证日期", &["20240305", "19991231"], Date),
            ("数量", &["20240305", "19991231"], Integer),
            ("是否有效", &["是", "否", ""], Boolean),
            ("邮编", &["250000", "255000"], Text),
            ("统一社会信用代码", &["91370100MA3C0000X1"], Text),
            ("序列", &["0531", "0532"], Text),
            ("身份证号", &["370102199001011234"], Text),
            ("长数字", &["370102199001011234"], Text),
            ("备注", &["", ""], Text),
            ("混合", &["1", "abc"], Text),
        ];
        for (header, values, want) in cases {
            assert_eq!(infer_of(header, values), *want, "{header} {values:?}");
        }
    }

    #[test]
    fn values() {
        assert_eq!(parse_integer("1,234,567"), Some(1_234_567));
        assert_eq!(parse_integer("12,34"), None);
        assert_eq!(parse_integer("007"), None);
        assert_eq!(parse_decimal("1.5", 2), Some(150));
        assert_eq!(parse_decimal("-2", 2), Some(-200));
        assert_eq!(parse_decimal("1.234", 2), None);
        assert_eq!(parse_date("2024年2月30日", false), None);
        assert_eq!(
            parse_date("2024年12月1日", false),
            NaiveDate::from_ymd_opt(2024, 12, 1)
        );
        assert_eq!(parse_date("20241301", true), None);
        assert_eq!(parse_bool("是"), Some(true));
    }
}
