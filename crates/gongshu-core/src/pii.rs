//! Personal-information recognisers (个人信息识别): which columns of an ingested table
//! hold personal information, judged from the header and from a sample of the values.
//!
//! Everything here is a pure function of strings, so the detectors can be measured on a
//! labelled corpus (`tests/pii_corpus.rs`) and run over a sample of every column at ingest.
//! A detection is only a proposal that the provider confirms or corrects (issue 5,
//! "Detection"). A single value is therefore judged strictly (an 18-digit serial with a
//! wrong check digit is not an ID number), while a column is judged leniently (a column
//! headed 身份证号 whose values have typos is still proposed, with lower confidence):
//! a column wrongly flagged costs the provider a click, one wrongly passed can leak.

use std::borrow::{Borrow, Cow};
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::Lang;
use crate::region::RegionCode;
use crate::validate::{check_resident_id, check_uscc};

/// A kind of personal information the platform recognises. The first ten are recognised
/// from values (and from headers); the last six only from headers, since a name, an
/// address or a date of birth has no shape that tells it from any other text or date.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    ResidentId,
    Uscc,
    Mobile,
    Landline,
    BankCard,
    Email,
    LicencePlate,
    Passport,
    IpAddress,
    Coordinates,
    Name,
    Address,
    BirthDate,
    Ethnicity,
    Religion,
    Health,
}

impl PiiKind {
    /// All kinds; the value kinds in the order a value is tried against them.
    pub const ALL: &'static [Self] = &[
        Self::ResidentId,
        Self::Uscc,
        Self::Mobile,
        Self::Landline,
        Self::BankCard,
        Self::Email,
        Self::LicencePlate,
        Self::Passport,
        Self::IpAddress,
        Self::Coordinates,
        Self::Name,
        Self::Address,
        Self::BirthDate,
        Self::Ethnicity,
        Self::Religion,
        Self::Health,
    ];

    /// The wire name, as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ResidentId => "resident_id",
            Self::Uscc => "uscc",
            Self::Mobile => "mobile",
            Self::Landline => "landline",
            Self::BankCard => "bank_card",
            Self::Email => "email",
            Self::LicencePlate => "licence_plate",
            Self::Passport => "passport",
            Self::IpAddress => "ip_address",
            Self::Coordinates => "coordinates",
            Self::Name => "name",
            Self::Address => "address",
            Self::BirthDate => "birth_date",
            Self::Ethnicity => "ethnicity",
            Self::Religion => "religion",
            Self::Health => "health",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::ResidentId => "公民身份号码",
            Self::Uscc => "统一社会信用代码",
            Self::Mobile => "手机号码",
            Self::Landline => "固定电话号码",
            Self::BankCard => "银行卡号",
            Self::Email => "电子邮箱",
            Self::LicencePlate => "机动车号牌",
            Self::Passport => "护照及往来港澳台通行证号码",
            Self::IpAddress => "IP地址",
            Self::Coordinates => "精确位置（经纬度）",
            Self::Name => "姓名",
            Self::Address => "住址",
            Self::BirthDate => "出生日期",
            Self::Ethnicity => "民族",
            Self::Religion => "宗教信仰",
            Self::Health => "医疗健康信息",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Self::ResidentId => "Resident identity number",
            Self::Uscc => "Unified social credit code",
            Self::Mobile => "Mobile phone number",
            Self::Landline => "Landline phone number",
            Self::BankCard => "Bank card number",
            Self::Email => "E-mail address",
            Self::LicencePlate => "Licence plate",
            Self::Passport => "Passport or travel permit number",
            Self::IpAddress => "IP address",
            Self::Coordinates => "Precise location (coordinates)",
            Self::Name => "Name",
            Self::Address => "Address",
            Self::BirthDate => "Date of birth",
            Self::Ethnicity => "Ethnicity",
            Self::Religion => "Religious belief",
            Self::Health => "Health information",
        }
    }

    pub fn label(self, lang: impl Borrow<Lang>) -> &'static str {
        match lang.borrow() {
            Lang::Zh => self.label_zh(),
            Lang::En => self.label_en(),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// Whether this is sensitive personal information (敏感个人信息) under PIPL §28:
    /// information whose leak or misuse easily harms a person's dignity, safety or
    /// property. §28 names biometrics, religious belief, specific identity, medical
    /// health, financial accounts and whereabouts (行踪轨迹).
    ///
    /// - `religion`, `health` and `bank_card` (金融账户) are named by §28 itself.
    /// - `coordinates`: a person's precise location is a point of their whereabouts, and
    ///   GB/T 35273-2020 Annex B lists precise positioning (精准定位信息) as sensitive.
    /// - `resident_id` and `passport`: GB/T 35273-2020 Annex B lists identity documents
    ///   (身份证, 护照 …) as sensitive. TC260-PG-20244A (2024) narrowed "specific identity"
    ///   and no longer lists the numbers, but a leaked ID number is enough to open
    ///   accounts and take loans in its holder's name — the property harm §28 is about —
    ///   and the stricter reading costs the platform a mask where the looser one can cost
    ///   a person their savings.
    /// - Not sensitive, though still personal information that rules protect: name,
    ///   address, date of birth, phone numbers, e-mail, IP address, licence plate, and the
    ///   credit code (which names an organisation; only a sole trader's points at a
    ///   person). Ethnicity (民族) is a deliberate call: neither §28 nor either standard
    ///   names it (unlike GDPR Art. 9); a provider may still grade a column higher.
    pub fn is_sensitive(self) -> bool {
        matches!(
            self,
            Self::ResidentId
                | Self::Passport
                | Self::BankCard
                | Self::Coordinates
                | Self::Religion
                | Self::Health
        )
    }

    /// Kinds only a header can reveal; their values are never examined.
    pub fn is_header_only(self) -> bool {
        matches!(
            self,
            Self::Name
                | Self::Address
                | Self::BirthDate
                | Self::Ethnicity
                | Self::Religion
                | Self::Health
        )
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for PiiKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How sure a proposal is; the provider sees it beside the proposal.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

/// What a proposal rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Evidence {
    /// The header alone: a header-only kind, or values that did not confirm it.
    Header,
    /// The values alone, the header saying nothing (or something else).
    Values { matched: usize, examined: usize },
    /// The header, and values that confirm it.
    HeaderAndValues { matched: usize, examined: usize },
}

/// What detection proposes for one column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ColumnProposal {
    pub kind: PiiKind,
    /// Share of the non-empty sampled values that passed the kind's recogniser; 0 for
    /// header-only kinds, which have none.
    pub share: f64,
    /// Non-empty sampled values examined (blanks and placeholders such as 无 are not).
    pub examined: usize,
    pub evidence: Evidence,
    pub confidence: Confidence,
}

/// Share of a column's non-empty sampled values that must pass a kind's recogniser for
/// the values alone to propose that kind. Random digit strings pass a check digit about
/// one time in ten (Luhn, GB 11643's MOD 11-2), so an unrelated numeric column stays far
/// below it; a real column of IDs or phone numbers loses values to typos, truncated
/// cells, unknown placeholders and odd formats, and still clears it comfortably.
pub const VALUE_SHARE_THRESHOLD: f64 = 0.6;

/// Values-only evidence is called high confidence from this share up…
const HIGH_CONFIDENCE_SHARE: f64 = 0.9;
/// …and only with this many values: a lucky check digit in three cells is not a column.
const HIGH_CONFIDENCE_MIN_VALUES: usize = 10;

/// Decimal places a coordinate needs to be precise: four is about 11 m on the ground
/// (a building), three about 110 m (a block).
pub const MIN_COORDINATE_DECIMALS: usize = 4;

/// China's bounding box with a small margin: Zengmu Ansha (曾母暗沙, 3°58′N) to Mohe
/// (53°33′N), the Pamirs (73°33′E) to the Ussuri (135°05′E). The latitude and longitude
/// ranges do not overlap, which is what lets an unlabelled pair be read in either order.
const LAT_RANGE: std::ops::RangeInclusive<f64> = 3.5..=54.0;
const LON_RANGE: std::ops::RangeInclusive<f64> = 73.0..=135.5;

/// Birth years an 18-digit ID may carry: GB 11643's own example is born in 1880; core
/// reads no clock, so the upper bound only rejects the impossible.
const ID_BIRTH_YEARS: std::ops::RangeInclusive<i32> = 1870..=2099;

/// Longer values are free text, which the value recognisers never match whole.
const MAX_VALUE_LEN: usize = 128;

/// Province abbreviations (省级简称) that open a mainland licence plate.
const PLATE_PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
/// Characters that may close an ordinary plate in place of its last letter or digit:
/// trailer, coach, police, Hong Kong/Macau cross-border, consulate, test, oversize.
const PLATE_SUFFIXES: &str = "挂学警港澳领试超";
/// New-energy plates mark battery (D) or hybrid (F); since 2022 also A–K without I.
const NEV_MARKS: &[u8] = b"ABCDEFGHJK";

/// Cells that mean "no value" in provincial spreadsheets; they are not counted as
/// examined, so a column half 无 still shows its real share of ID numbers.
const PLACEHOLDERS: &[&str] = &[
    "-",
    "--",
    "---",
    "/",
    "\\",
    "无",
    "暂无",
    "空",
    "不详",
    "未知",
    "未填写",
    "null",
    "none",
    "nil",
    "n/a",
    "na",
    "#n/a",
];

/// The form under which two values are the same when matched: width, case and spacing
/// ignored, so "９１３７０１００ＭＡ３Ｃ　ｘ" and "913701 00ma3cX" compare equal. Used
/// for data-item names and by verification (核验), on both sides of the comparison.
pub fn match_key(raw: &str) -> String {
    normalise_value(raw)
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Maps full-width forms (全角) to ASCII, the ideographic space to a space and the
/// various dashes to '-', then trims. Borrowed when there is nothing to change.
pub fn normalise_value(raw: &str) -> Cow<'_, str> {
    let trimmed = raw.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if trimmed.is_ascii() {
        return Cow::Borrowed(trimmed);
    }
    let folded: String = trimmed.chars().map(fold_char).collect();
    match folded.trim() {
        t if t.len() == folded.len() => Cow::Owned(folded),
        t => Cow::Owned(t.to_owned()),
    }
}

fn fold_char(c: char) -> char {
    match c {
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
        '\u{3000}' => ' ',
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{fe63}' => '-',
        _ => c,
    }
}

/// Whether a (normalised) cell holds no value at all.
fn is_blank(value: &str) -> bool {
    value.is_empty()
        || PLACEHOLDERS
            .iter()
            .any(|p| value.len() == p.len() && value.eq_ignore_ascii_case(p))
}

/// The kind of personal information a single value is, if its shape and check digits
/// leave no doubt. Kinds are tried most specific first: a valid 18-digit ID number is
/// never also called a bank card, a credit code or a serial number.
///
/// A lone decimal number is never called a coordinate here, whatever its precision:
/// amounts in 万元 to the fen have six decimals, like a GPS reading. Only a pair, or a
/// number marked as latitude or longitude (北纬, °, N/E), is; a lone number counts in a
/// column whose header names coordinates (see [`propose_column`]).
pub fn recognise_value(raw: &str) -> Option<PiiKind> {
    let value = normalise_value(raw);
    if value.is_empty() {
        return None;
    }
    recognise_normalised(&value, false)
}

fn recognise_normalised(value: &str, bare_coordinates: bool) -> Option<PiiKind> {
    if value.len() > MAX_VALUE_LEN {
        return None;
    }
    if value.contains('@') {
        return is_email(value).then_some(PiiKind::Email);
    }
    if is_ip(value) {
        return Some(PiiKind::IpAddress);
    }
    if is_coordinates(value, bare_coordinates) {
        return Some(PiiKind::Coordinates);
    }
    if is_licence_plate(value) {
        return Some(PiiKind::LicencePlate);
    }
    let value = strip_float_zero(value);
    let code = compact(value).to_ascii_uppercase();
    if is_resident_id(&code) {
        Some(PiiKind::ResidentId)
    } else if is_uscc(&code) {
        Some(PiiKind::Uscc)
    } else if is_mobile(&code) {
        Some(PiiKind::Mobile)
    } else if is_landline(value) {
        Some(PiiKind::Landline)
    } else if is_passport(&code) {
        Some(PiiKind::Passport)
    } else if is_bank_card(&code) {
        Some(PiiKind::BankCard)
    } else {
        None
    }
}

/// Spreadsheets that stored a phone or card number as a float hand it back as
/// "13812345678.0"; the ".0" is an artefact, not part of the number.
fn strip_float_zero(value: &str) -> &str {
    match value.strip_suffix(".0") {
        Some(digits) if digits.len() >= 7 && digits.bytes().all(|b| b.is_ascii_digit()) => digits,
        _ => value,
    }
}

/// Drops the spaces and dashes people type inside numbers ("138 1234-5678",
/// "1101 0519 4912 3100 2X"): only those between two letters or digits, so a leading
/// minus sign or a dash next to other punctuation survives and the value stays unmatched.
fn compact(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut pending = String::new();
    for c in value.chars() {
        if c == ' ' || c == '-' {
            pending.push(c);
            continue;
        }
        if !pending.is_empty() {
            let after_alnum = out
                .chars()
                .next_back()
                .is_some_and(|p| p.is_ascii_alphanumeric());
            if !(after_alnum && c.is_ascii_alphanumeric()) {
                out.push_str(&pending);
            }
            pending.clear();
        }
        out.push(c);
    }
    out.push_str(&pending);
    out
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// GB 11643 18-digit numbers (checked by `validate`), plus the 15-digit form issued
/// until 1999: six region digits, YYMMDD, three sequence digits, no check digit.
fn is_resident_id(code: &str) -> bool {
    match code.len() {
        18 => {
            check_resident_id(code).is_ok()
                && id_region_ok(&code[..6])
                && code[6..10]
                    .parse::<i32>()
                    .is_ok_and(|y| ID_BIRTH_YEARS.contains(&y))
        }
        15 => {
            all_digits(code)
                && RegionCode::parse(&code[..6]).is_some()
                && legacy_birth_date_ok(&code[6..12])
        }
        _ => false,
    }
}

/// The address code of an ID must be a region; 830000 is added for the residence
/// permits of Taiwan residents, which share the number format (81/82 are regions).
fn id_region_ok(prefix: &str) -> bool {
    RegionCode::parse(prefix).is_some() || prefix == "830000"
}

/// A 15-digit number's YYMMDD is a real date in 1910–1999. 190x is excluded: the cards
/// were issued from 1984, so such holders were rare, while 15-digit business
/// registration numbers (工商注册号) — region code, then a sequence whose first digit 0–3
/// marks a domestic enterprise — often read as a 190x date.
fn legacy_birth_date_ok(yymmdd: &str) -> bool {
    let field = |r: std::ops::Range<usize>| yymmdd[r].parse::<u32>().ok();
    let (Some(yy), Some(mm), Some(dd)) = (field(0..2), field(2..4), field(4..6)) else {
        return false;
    };
    yy >= 10 && chrono::NaiveDate::from_ymd_opt(1900 + yy as i32, mm, dd).is_some()
}

/// GB 32100 codes whose check character is right and whose structure is plausible:
/// a registration authority (1–9, A, N, Y), an institution type, and a region (or
/// 100000 for the central level) in characters 3–8.
fn is_uscc(code: &str) -> bool {
    check_uscc(code).is_ok()
        && matches!(code.as_bytes()[0], b'1'..=b'9' | b'A' | b'N' | b'Y')
        && code.as_bytes()[1] != b'0'
        && (RegionCode::parse(&code[2..8]).is_some() || &code[2..8] == "100000")
}

fn strip_country_code(s: &str) -> (bool, &str) {
    for prefix in ["(+86)", "+86", "0086"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return (true, rest.trim_start_matches([' ', '-']));
        }
    }
    (false, s)
}

/// Mainland mobile numbers: 1, then 3–9, then nine digits; optionally +86 or 0086.
fn is_mobile(code: &str) -> bool {
    let b = strip_country_code(code).1.as_bytes();
    b.len() == 11
        && b.iter().all(u8::is_ascii_digit)
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
}

/// Landlines with their area code (区号): 010 or 02x and eight digits, or 0xxx and
/// seven or eight; the local number never starts with 0 or 1. Parentheses around the
/// area code, spaces, dashes, +86 and an extension (转, ext, a trailing -nnn) are allowed.
/// A number without an area code is not recognised: seven or eight digits alone are
/// anything at all.
fn is_landline(value: &str) -> bool {
    let mut main = value;
    for marker in ["转", "分机", "ext.", "ext", "EXT", "Ext"] {
        if let Some((number, ext)) = main.split_once(marker)
            && all_digits(ext.trim_start_matches([' ', ':', '.']))
        {
            main = number.trim_end_matches([' ', '-']);
            break;
        }
    }
    let (international, rest) = strip_country_code(main);
    let mut digits = String::with_capacity(rest.len() + 1);
    let mut groups: Vec<usize> = Vec::new();
    let mut in_group = false;
    let (mut open, mut seen_paren) = (false, false);
    for c in rest.chars() {
        match c {
            '0'..='9' => {
                digits.push(c);
                if !in_group {
                    groups.push(0);
                    in_group = true;
                }
                if let Some(n) = groups.last_mut() {
                    *n += 1;
                }
                continue;
            }
            ' ' | '-' => {}
            '(' if digits.is_empty() && !seen_paren => (open, seen_paren) = (true, true),
            ')' if open => open = false,
            _ => return false,
        }
        in_group = false;
    }
    if open {
        return false;
    }
    if international && !digits.starts_with('0') {
        digits.insert(0, '0');
    }
    if landline_digits_ok(&digits) {
        return true;
    }
    // "010-62345678-123": a third group after a complete number is an extension.
    match groups.as_slice() {
        [.., last] if groups.len() >= 3 && (1..=5).contains(last) => {
            landline_digits_ok(&digits[..digits.len() - last])
        }
        _ => false,
    }
}

fn landline_digits_ok(d: &str) -> bool {
    let b = d.as_bytes();
    if b.len() < 10 || b[0] != b'0' || !all_digits(d) {
        return false;
    }
    let (area, local_lengths) = match b[1] {
        b'1' if b[2] == b'0' => (3, 8..=8),
        b'2' => (3, 8..=8),
        b'3'..=b'9' => (4, 7..=8),
        _ => return false,
    };
    let local = &b[area..];
    local_lengths.contains(&local.len()) && (b'2'..=b'9').contains(&local[0])
}

/// Mainland passports and the travel permits that stand in for them: ordinary passports
/// E + 8 digits or E + letter + 7 digits, electronic ones G + 8 digits, diplomatic and
/// service ones DE/SE/PE + 7 digits; permits to Hong Kong and Macau (往来港澳通行证)
/// C + 8, whose second place may be a letter; Hong Kong and Macau residents' home-return
/// permits (回乡证) H/M + 8 digits, formerly 10; permits to Taiwan L + 8 digits.
fn is_passport(code: &str) -> bool {
    let b = code.as_bytes();
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let letter = |c: u8| c.is_ascii_uppercase() && c != b'I' && c != b'O';
    match b {
        [b'E' | b'G' | b'L', rest @ ..] if rest.len() == 8 && digits(rest) => true,
        [b'E', l, rest @ ..] if letter(*l) && rest.len() == 7 && digits(rest) => true,
        [b'D' | b'S' | b'P', b'E', rest @ ..] if rest.len() == 7 && digits(rest) => true,
        [b'C', second, rest @ ..] => {
            rest.len() == 7 && digits(rest) && (second.is_ascii_digit() || letter(*second))
        }
        [b'H' | b'M', rest @ ..] => (rest.len() == 8 || rest.len() == 10) && digits(rest),
        _ => false,
    }
}

/// 16–19 digits, Luhn-valid, with a prefix and length some card scheme issues (see
/// [`card_issuer`]); repeated digits are placeholders. Luhn keeps out nine in ten random
/// numbers, the issuer table most of the tenth: dates, date ranges and timestamps (19…,
/// 20…) and ID numbers with a typo, whose province codes (41–46, 5x, 61, 63) no scheme
/// issues at 18 digits.
fn is_bank_card(code: &str) -> bool {
    let b = code.as_bytes();
    (16..=19).contains(&b.len())
        && all_digits(code)
        && card_issuer(code)
        && !b.iter().all(|&d| d == b[0])
        && luhn_valid(b)
}

/// Prefix and length of the schemes cards in China carry: UnionPay 62 and the older
/// domestic 60/9x/8x at 16–19 digits; Visa 4 at 16 or 19; Mastercard 51–55 and
/// 2221–2720 at 16; JCB 3528–3589, Discover 64/65 and Maestro 67 at 16–19.
fn card_issuer(code: &str) -> bool {
    let prefix = |n: usize| {
        code.get(..n)
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let len = code.len();
    match prefix(2) {
        60 | 62 | 64 | 65 | 67 | 80..=99 => true,
        40..=49 => len == 16 || len == 19,
        51..=55 => len == 16,
        22..=27 => len == 16 && (2221..=2720).contains(&prefix(4)),
        35 => (3528..=3589).contains(&prefix(4)),
        _ => false,
    }
}

fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let v = u32::from(d - b'0');
            if i % 2 == 1 {
                let doubled = v * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                v
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A mailbox as people write it: one @, a local part of letters, digits and ._%+-
/// (Chinese characters too, as EAI allows), a domain of at least two labels whose last
/// is alphabetic. Quoted local parts and IP-literal domains are left out: they are
/// vanishingly rare in provincial data and easy to get wrong.
fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.len())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-'));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|tld| {
            (tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic))
                || tld.starts_with("xn--")
        });
    local_ok && domain_ok
}

/// IPv4 and IPv6 by the standard library's parsers, also with a port or a CIDR prefix,
/// and IPv4 zero-padded as some logs write it (192.168.001.010), which std refuses.
fn is_ip(value: &str) -> bool {
    if !value.contains(['.', ':']) {
        return false;
    }
    if value.parse::<IpAddr>().is_ok()
        || value.parse::<SocketAddr>().is_ok()
        || is_padded_ipv4(value)
    {
        return true;
    }
    match value.split_once('/') {
        Some((addr, prefix)) => match (addr.parse::<IpAddr>(), prefix.parse::<u8>()) {
            (Ok(IpAddr::V4(_)), Ok(p)) => p <= 32,
            (Ok(IpAddr::V6(_)), Ok(p)) => p <= 128,
            _ => false,
        },
        None => false,
    }
}

fn is_padded_ipv4(value: &str) -> bool {
    let octets: Vec<&str> = value.split('.').collect();
    octets.len() == 4
        && octets
            .iter()
            .all(|o| o.len() <= 3 && all_digits(o) && o.parse::<u16>().is_ok_and(|n| n <= 255))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Axis {
    Lat,
    Lon,
}

#[derive(Debug, Clone, Copy)]
struct Component {
    value: f64,
    decimals: usize,
    axis: Option<Axis>,
    /// Carried a degree sign or a hemisphere, so it says itself that it is a coordinate.
    marked: bool,
}

impl Component {
    fn precise(&self) -> bool {
        self.decimals >= MIN_COORDINATE_DECIMALS
    }

    fn fits(&self, axis: Axis) -> bool {
        self.axis.is_none_or(|a| a == axis)
            && match axis {
                Axis::Lat => LAT_RANGE.contains(&self.value),
                Axis::Lon => LON_RANGE.contains(&self.value),
            }
    }
}

/// One decimal-degree number, with an optional hemisphere (北纬/东经, N/E …) before or
/// after it and an optional degree sign. Degrees-minutes-seconds are not read.
fn coordinate_component(part: &str) -> Option<Component> {
    const HEMISPHERES: [(&str, Axis, f64); 8] = [
        ("北纬", Axis::Lat, 1.0),
        ("南纬", Axis::Lat, -1.0),
        ("东经", Axis::Lon, 1.0),
        ("西经", Axis::Lon, -1.0),
        ("N", Axis::Lat, 1.0),
        ("S", Axis::Lat, -1.0),
        ("E", Axis::Lon, 1.0),
        ("W", Axis::Lon, -1.0),
    ];
    let mut p = part.trim();
    let (mut axis, mut sign, mut marked) = (None, 1.0, false);
    for (mark, a, s) in HEMISPHERES {
        if let Some(rest) = p.strip_prefix(mark).or_else(|| p.strip_suffix(mark)) {
            (p, axis, sign, marked) = (rest.trim(), Some(a), s, true);
            break;
        }
    }
    if let Some(rest) = p.strip_suffix('°') {
        (p, marked) = (rest.trim_end(), true);
    }
    let unsigned = p.strip_prefix(['-', '+']).unwrap_or(p);
    let (int, frac) = unsigned.split_once('.')?;
    if int.len() > 3 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let value: f64 = p.parse().ok()?;
    Some(Component {
        value: value * sign,
        decimals: frac.len(),
        axis,
        marked,
    })
}

/// A precise latitude/longitude pair inside China in either order ("117.1234,36.6512",
/// "36.6512°N 117.1201°E", "POINT(117.1234 36.6512)"), or one marked component. With
/// `bare`, as in a column headed 经度 or 纬度, a lone precise number inside either range
/// counts too.
fn is_coordinates(value: &str, bare: bool) -> bool {
    if !value.contains('.') {
        return false;
    }
    let mut body = value.trim();
    if let Some(head) = body.get(..5)
        && head.eq_ignore_ascii_case("point")
    {
        body = body[5..].trim_start();
    }
    for (open, close) in [('(', ')'), ('[', ']'), ('{', '}')] {
        if let Some(inner) = body.strip_prefix(open).and_then(|b| b.strip_suffix(close)) {
            body = inner;
            break;
        }
    }
    let parts: Vec<&str> = if body.contains([',', ';']) {
        body.split([',', ';']).collect()
    } else {
        body.split_whitespace().collect()
    };
    match parts.as_slice() {
        [one] => coordinate_component(one).is_some_and(|c| {
            c.precise() && (c.marked || bare) && (c.fits(Axis::Lat) || c.fits(Axis::Lon))
        }),
        [a, b] => match (coordinate_component(a), coordinate_component(b)) {
            (Some(a), Some(b)) => {
                a.precise()
                    && b.precise()
                    && ((a.fits(Axis::Lat) && b.fits(Axis::Lon))
                        || (a.fits(Axis::Lon) && b.fits(Axis::Lat)))
            }
            _ => false,
        },
        _ => false,
    }
}

/// Mainland plates (GA 36): a province abbreviation, the issuing office's letter (not I
/// or O), then five letters or digits (the last may be 挂, 学, 警 …), or six for
/// new-energy vehicles (D/F first on small cars, last on large ones). The separators
/// people print (·, space, dash) are ignored.
fn is_licence_plate(value: &str) -> bool {
    let mut chars = value
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '·' | '•' | '.' | '\u{30fb}'));
    let (Some(province), Some(office)) = (chars.next(), chars.next()) else {
        return false;
    };
    let plate_char =
        |c: char| c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'I' && c != 'O');
    let office = office.to_ascii_uppercase();
    if !PLATE_PROVINCES.contains(province) || !office.is_ascii_uppercase() || !plate_char(office) {
        return false;
    }
    let tail: Vec<char> = chars.map(|c| c.to_ascii_uppercase()).collect();
    let digits = tail.iter().filter(|c| c.is_ascii_digit()).count();
    let nev_mark = |c: char| c.is_ascii() && NEV_MARKS.contains(&(c as u8));
    match tail.as_slice() {
        [body @ .., last] if tail.len() == 5 => {
            body.iter().all(|&c| plate_char(c))
                && (plate_char(*last) || PLATE_SUFFIXES.contains(*last))
                && digits >= 2
        }
        [first, second, rest @ ..] if tail.len() == 6 && nev_mark(*first) => {
            plate_char(*second) && rest.iter().all(char::is_ascii_digit)
        }
        [body @ .., last] if tail.len() == 6 => {
            body.iter().all(char::is_ascii_digit) && nev_mark(*last)
        }
        _ => false,
    }
}

/// The kind of personal information a column header names, for Chinese headers and the
/// English and pinyin-initial (拼音首字母) ones found in government databases. Headers
/// naming a thing rather than a person (单位名称, 企业地址), or describing a field
/// rather than holding it (地址编码, 证件类型, 号牌颜色), name nothing.
pub fn recognise_header(header: &str) -> Option<PiiKind> {
    header_kind(&HeaderText::new(header))
}

/// A header prepared for matching: `zh` keeps only letters and digits (CJK included),
/// ASCII lower-cased; `tokens` are its ASCII words, split at punctuation, scripts and
/// camelCase; `plain` the same words split at punctuation and scripts only, since the
/// camelCase split mangles acronyms ("IPv4" → "i", "pv4"); `joined` is the tokens run
/// together ("ID_Card" → "idcard").
#[derive(Debug)]
struct HeaderText {
    zh: String,
    tokens: Vec<String>,
    plain: Vec<String>,
    joined: String,
}

impl HeaderText {
    fn new(header: &str) -> Self {
        let folded: Vec<char> = header.trim().chars().map(fold_char).collect();
        let mut tokens = Vec::new();
        let mut current = String::new();
        for (i, &c) in folded.iter().enumerate() {
            if !c.is_ascii_alphanumeric() {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
                continue;
            }
            if c.is_ascii_uppercase() && !current.is_empty() {
                let prev = folded[i - 1];
                let next_lower = folded.get(i + 1).is_some_and(char::is_ascii_lowercase);
                if prev.is_ascii_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_ascii_uppercase() && next_lower)
                {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            current.push(c.to_ascii_lowercase());
        }
        if !current.is_empty() {
            tokens.push(current);
        }
        let zh = folded
            .iter()
            .filter(|c| c.is_alphanumeric())
            .map(char::to_ascii_lowercase)
            .collect();
        let joined = tokens.concat();
        let plain = folded
            .split(|c| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| w.iter().collect::<String>().to_ascii_lowercase())
            .collect();
        Self {
            zh,
            tokens,
            plain,
            joined,
        }
    }

    fn has(&self, patterns: &[&str]) -> bool {
        patterns.iter().any(|p| self.zh.contains(p))
    }

    fn ends(&self, patterns: &[&str]) -> bool {
        patterns.iter().any(|p| self.zh.ends_with(p))
    }

    /// The whole header, run together, is one of these words.
    fn is(&self, words: &[&str]) -> bool {
        words.contains(&self.joined.as_str()) && self.joined.len() == self.zh.len()
    }

    /// Some word of the header is one of these, and no word says the column describes
    /// the thing rather than holds it (phone_type, email_verified, hospital_address).
    fn word(&self, words: &[&str]) -> bool {
        let mut all = self.tokens.iter().chain(&self.plain);
        all.clone().any(|t| words.contains(&t.as_str()))
            && !all.any(|t| DENY_WORDS.contains(&t.as_str()))
    }
}

/// Words that make an English header about a field or an organisation, not a person.
const DENY_WORDS: &[&str] = &[
    "type",
    "kind",
    "model",
    "brand",
    "count",
    "total",
    "rate",
    "status",
    "flag",
    "format",
    "verified",
    "valid",
    "enabled",
    "hospital",
    "facility",
    "center",
    "centre",
    "institution",
    "company",
    "org",
    "organization",
    "organisation",
    "dept",
    "department",
    "unit",
    "office",
    "place",
    "station",
    "school",
    "shop",
    "store",
    "project",
    "product",
    "file",
    "dataset",
    "table",
    "field",
    "column",
    "user",
    "memory",
];

/// Chinese words that make a header describe a field (its type, validity, count …)
/// rather than hold it.
const META_WORDS: &[&str] = &[
    "是否",
    "类型",
    "类别",
    "种类",
    "颜色",
    "有效期",
    "数量",
    "个数",
    "人数",
    "次数",
    "总数",
    "状态",
    "归属地",
    "属地",
    "区号",
    "型号",
    "品牌",
];

/// Chinese words that make a header about an organisation or a place, not a person.
const ORG_WORDS: &[&str] = &[
    "单位", "企业", "公司", "机构", "注册", "办公", "经营", "门店", "网点", "项目", "学校", "医院",
    "场所",
];

type HeaderRule = fn(&HeaderText) -> bool;

fn header_kind(h: &HeaderText) -> Option<PiiKind> {
    if h.zh.is_empty() {
        return None;
    }
    // Identifiers first: in 联系人电话 or 身份证地址 the person is named only to say
    // whose phone or address the column holds.
    let checks: [(PiiKind, HeaderRule); 14] = [
        (PiiKind::IpAddress, ip_header),
        (PiiKind::Email, email_header),
        (PiiKind::ResidentId, resident_id_header),
        (PiiKind::Passport, passport_header),
        (PiiKind::Uscc, uscc_header),
        (PiiKind::BankCard, bank_card_header),
        (PiiKind::Mobile, phone_header),
        (PiiKind::LicencePlate, plate_header),
        (PiiKind::Coordinates, coordinates_header),
        (PiiKind::BirthDate, birth_date_header),
        (PiiKind::Ethnicity, ethnicity_header),
        (PiiKind::Religion, religion_header),
        (PiiKind::Health, health_header),
        (PiiKind::Name, name_header),
    ];
    for (kind, check) in checks {
        if check(h) {
            if kind == PiiKind::Mobile && landline_header(h) {
                return Some(PiiKind::Landline);
            }
            return Some(kind);
        }
    }
    address_header(h).then_some(PiiKind::Address)
}

fn ip_header(h: &HeaderText) -> bool {
    (h.word(&["ip", "ipv4", "ipv6", "ipaddr", "ipaddress"])
        || h.is(&[
            "clientip",
            "remoteip",
            "remoteaddr",
            "srcip",
            "dstip",
            "sourceip",
            "loginip",
            "userip",
        ]))
        && !h.has(&["属地", "归属", "类型"])
}

fn email_header(h: &HeaderText) -> bool {
    (h.has(&["邮箱", "电子邮件", "电邮", "电子信箱"])
        || h.word(&["email", "mail", "emailaddress", "mailbox"])
        || h.is(&["dzyx", "dzyj"]))
        && !h.has(META_WORDS)
}

fn resident_id_header(h: &HeaderText) -> bool {
    (h.has(&[
        "身份证",
        "身份号码",
        "证件号",
        "公民身份",
        "身份证件",
        "居住证",
        // By law the social security number is the citizen ID number (社会保险法 §58).
        "社会保障号",
    ]) && !h.has(META_WORDS)
        && !h.has(&[
            "签发", "照片", "地址", "住址", "姓名", "性别", "民族", "出生", "有效",
        ]))
        || h.is(&[
            "sfzh",
            "sfzhm",
            "sfz",
            "sfzjhm",
            "zjhm",
            "gmsfhm",
            "idcard",
            "idcardno",
            "idcardnum",
            "idcardnumber",
            "idno",
            "idnumber",
            "idnum",
            "identitycard",
            "identityno",
            "identitynumber",
            "identitycardno",
            "nationalid",
            "nationalidno",
            "citizenid",
            "residentid",
        ])
}

fn passport_header(h: &HeaderText) -> bool {
    (h.has(&[
        "护照",
        "港澳通行证",
        "往来港澳",
        "往来台湾",
        "台湾通行证",
        "回乡证",
        "来往内地通行证",
        "旅行证",
    ]) && !h.has(META_WORDS)
        && !h.has(&["签发", "照片", "有效"]))
        || h.is(&["hzh", "hzhm", "passportno", "passportnumber", "passportnum"])
        || h.word(&["passport"])
}

fn uscc_header(h: &HeaderText) -> bool {
    (h.has(&["统一社会信用代码", "社会信用代码", "信用代码"]) && !h.has(META_WORDS))
        || h.is(&[
            "uscc",
            "tyshxydm",
            "shxydm",
            "xydm",
            "creditcode",
            "socialcreditcode",
            "unifiedsocialcreditcode",
        ])
}

fn bank_card_header(h: &HeaderText) -> bool {
    (h.has(&[
        "银行卡",
        "银行账号",
        "银行帐号",
        "银行账户",
        "银行帐户",
        "卡号",
        "账号",
        "帐号",
        "结算账户",
        "收款账户",
        "付款账户",
    ]) && !h.has(META_WORDS)
        && !h.has(&[
            "用户",
            "登录",
            "系统",
            "平台",
            "微信",
            "qq",
            "会员",
            "邮箱",
            "社保",
            "医保",
            "公积金",
            "公交",
            "就诊",
            "油卡",
            "名称",
            "户名",
            "开户行",
        ]))
        || h.is(&[
            "yhkh",
            "yhzh",
            "yhkhm",
            "bankcard",
            "bankcardno",
            "bankcardnumber",
            "cardno",
            "cardnumber",
            "bankaccount",
            "bankaccountno",
            "accountno",
            "accountnumber",
            "acctno",
        ])
}

/// Phone headers, landline or mobile. Organisations' published numbers (咨询电话,
/// 投诉电话, 客服热线) are not personal information and are left to the values, which
/// still flag a personal mobile hiding in such a column.
fn phone_header(h: &HeaderText) -> bool {
    (h.has(&[
        "电话",
        "手机",
        "联系方式",
        "联系号码",
        "传真",
        "座机",
        "固话",
    ]) || h.word(&[
        "phone",
        "mobile",
        "tel",
        "telephone",
        "cellphone",
        "fax",
        "landline",
        "mobilephone",
        "phonenumber",
        "phoneno",
        "telno",
    ]) || h.is(&[
        "sjh", "sjhm", "lxdh", "dhhm", "lxfs", "shouji", "lxrdh", "lxrsj", "gddh", "bgdh",
    ])) && !h.has(META_WORDS)
        && !h.has(&[
            "客服", "服务", "咨询", "投诉", "举报", "热线", "值班", "号段", "话费", "时长", "套餐",
        ])
}

fn landline_header(h: &HeaderText) -> bool {
    h.has(&["固定电话", "固话", "座机", "办公电话", "单位电话", "传真"])
        || h.word(&["fax", "landline"])
        || h.is(&["gddh", "bgdh"])
}

fn plate_header(h: &HeaderText) -> bool {
    (h.has(&["车牌", "号牌号码", "机动车号牌"]) && !h.has(META_WORDS))
        || h.is(&[
            "cph",
            "cphm",
            "hphm",
            "plateno",
            "platenumber",
            "licenseplate",
            "licenceplate",
            "carplate",
            "vehicleplate",
        ])
        || h.word(&["plate"])
}

fn coordinates_header(h: &HeaderText) -> bool {
    (h.has(&["经纬度", "经度", "纬度", "坐标"])
        && !h.has(META_WORDS)
        && !h.has(&["坐标系", "投影", "精度", "带号", "分带", "参考系"]))
        || h.is(&[
            "jwd", "latlng", "latlon", "lnglat", "lonlat", "coords", "gps",
        ])
        || h.word(&[
            "lat",
            "lng",
            "lon",
            "latitude",
            "longitude",
            "coordinate",
            "coordinates",
            "coord",
            "gps",
        ])
}

fn birth_date_header(h: &HeaderText) -> bool {
    (h.has(&["出生日期", "出生年月", "生日", "出生时间", "出生年份"]) && !h.has(&["人数", "数量"]))
        || h.is(&[
            "csrq",
            "csny",
            "birthday",
            "birthdate",
            "dateofbirth",
            "dob",
            "birth",
            "bday",
        ])
        || h.word(&["birthday", "dob", "birthdate"])
}

fn ethnicity_header(h: &HeaderText) -> bool {
    (h.has(&["民族"])
        && !h.has(&[
            "人口", "人数", "数量", "乡", "镇", "自治", "学校", "中学", "小学", "大学", "学院",
            "事务", "工作", "政策", "团结", "文化", "医院", "语言",
        ]))
        || h.is(&["mz", "minzu", "mzdm"])
        || h.word(&["ethnicity", "ethnic"])
}

fn religion_header(h: &HeaderText) -> bool {
    (h.has(&["宗教", "信仰"])
        && !h.has(&[
            "场所", "团体", "事务", "活动", "院校", "组织", "协会", "局", "政治", "人数", "数量",
            "名称",
        ]))
        || h.is(&["zjxy"])
        || h.word(&["religion", "religious"])
}

fn health_header(h: &HeaderText) -> bool {
    (h.has(&[
        "健康",
        "病历",
        "病史",
        "诊断",
        "疾病",
        "病情",
        "病症",
        "症状",
        "过敏",
        "残疾",
        "伤残",
        "体检",
        "传染病",
        "病种",
        "用药",
        "既往史",
        "血型",
        "病案",
        "患病",
        "死因",
        "死亡原因",
    ]) && !h.has(&[
        "机构", "医院", "单位", "中心", "科室", "部门", "人数", "例数", "数量", "个数", "总数",
        "次数", "率", "床位", "费用", "金额", "场所",
    ])) || h.is(&[
        "jkzk",
        "jkqk",
        "medicalhistory",
        "healthstatus",
        "bloodtype",
    ]) || h.word(&[
        "health",
        "diagnosis",
        "medical",
        "disease",
        "illness",
        "allergy",
        "allergies",
        "disability",
        "symptom",
        "symptoms",
        "icd",
        "icd10",
    ])
}

/// English words that may stand beside "name" when the name is a person's.
const PERSON_NAME_WORDS: &[&str] = &[
    "name",
    "first",
    "last",
    "family",
    "given",
    "middle",
    "real",
    "full",
    "contact",
    "person",
    "patient",
    "applicant",
    "owner",
    "customer",
    "client",
    "student",
    "holder",
    "legal",
    "representative",
    "cn",
    "en",
    "zh",
    "chinese",
    "english",
];

/// 姓名 and 名字 are a person's name; 名称 is a thing's (单位名称, 项目名称) and is not
/// matched, nor is 名字 after an organisation word. Role words (联系人, 法定代表人 …)
/// count only at the end of a header, where they mean the person (单位联系人 is one;
/// 联系人职务 is a job title). 法人 alone is left out: 企业法人 is the enterprise.
fn name_header(h: &HeaderText) -> bool {
    let english = h.is(&[
        "xm",
        "xingming",
        "lxr",
        "fzr",
        "fddbr",
        "frdb",
        "fullname",
        "realname",
        "personname",
        "contactname",
        "contactperson",
        "firstname",
        "lastname",
        "familyname",
        "givenname",
        "surname",
        "cardholder",
        "accountname",
    ]) || (h.tokens.iter().any(|t| t == "name" || t == "surname")
        && h.tokens
            .iter()
            .all(|t| PERSON_NAME_WORDS.contains(&t.as_str()) || t == "surname"));
    let chinese = h.has(&["姓名"])
        || (h.ends(&["名字"]) && !h.has(ORG_WORDS))
        || (h.ends(&[
            "联系人",
            "负责人",
            "法定代表人",
            "法人代表",
            "户主",
            "申请人",
            "当事人",
            "经办人",
            "收件人",
            "收货人",
            "持卡人",
            "监护人",
            "户名",
            "患者",
            "被执行人",
            "填报人",
            "举报人",
            "投诉人",
            "申报人",
            "开户人",
            "驾驶人",
            "车主",
        ]) && !h.has(&["用户名"]));
    english || chinese
}

fn address_header(h: &HeaderText) -> bool {
    (h.has(&[
        "地址",
        "住址",
        "住所",
        "居住地",
        "户籍地",
        "现居",
        "门牌",
        "户籍所在地",
    ]) && !h.has(META_WORDS)
        && !h.has(ORG_WORDS)
        && !h.has(&[
            "编码", "代码", "编号", "邮编", "网址", "网站", "url", "mac", "ip", "id",
        ]))
        || h.is(&[
            "dz",
            "jtzz",
            "jtdz",
            "hjdz",
            "xzz",
            "jzdz",
            "txdz",
            "lxdz",
            "hjszd",
            "homeaddress",
            "residentialaddress",
            "streetaddress",
            "homeaddr",
        ])
        || (h.word(&["address", "addr"])
            && !h.word(&[
                "ip", "ipv4", "ipv6", "mac", "email", "mail", "web", "url", "code", "id",
            ]))
}

/// Proposes a classification for one column from its header and a sample of its values.
///
/// - Values propose a kind when at least [`VALUE_SHARE_THRESHOLD`] of the non-empty
///   sampled values pass its recogniser; mobile and landline numbers count together,
///   since 联系电话 columns mix them, and the more frequent of the two is proposed.
/// - Values that clearly are one kind win over a header naming another.
/// - A header naming a header-only kind (姓名, 民族 …) suffices on its own.
/// - A header naming a value kind whose values fail the check is still proposed —
///   providers publish ID numbers with typos — with medium confidence if the values at
///   least have the right shape, low otherwise.
/// - A column of blanks proposes only what its header names.
pub fn propose_column<'a>(
    header: &str,
    sample: impl IntoIterator<Item = &'a str>,
) -> Option<ColumnProposal> {
    let header_kind = recognise_header(header);
    let bare_coordinates = header_kind == Some(PiiKind::Coordinates);
    let mut counts = [0usize; PiiKind::ALL.len()];
    let mut shaped = 0usize;
    let mut examined = 0usize;
    for raw in sample {
        let value = normalise_value(raw);
        if is_blank(&value) {
            continue;
        }
        examined += 1;
        let found = recognise_normalised(&value, bare_coordinates);
        if let Some(kind) = found {
            counts[kind.index()] += 1;
        }
        if let Some(h) = header_kind
            && !h.is_header_only()
            && found.is_none_or(|k| !same_family(k, h))
            && looks_like(h, &value)
        {
            shaped += 1;
        }
    }
    let share = |n: usize| {
        if examined == 0 {
            0.0
        } else {
            n as f64 / examined as f64
        }
    };
    let proposal = match (header_kind, value_pick(&counts, examined)) {
        (Some(h), Some((kind, matched))) if same_family(h, kind) => ColumnProposal {
            kind,
            share: share(matched),
            examined,
            evidence: Evidence::HeaderAndValues { matched, examined },
            confidence: Confidence::High,
        },
        (_, Some((kind, matched))) => ColumnProposal {
            kind,
            share: share(matched),
            examined,
            evidence: Evidence::Values { matched, examined },
            confidence: if share(matched) >= HIGH_CONFIDENCE_SHARE
                && examined >= HIGH_CONFIDENCE_MIN_VALUES
            {
                Confidence::High
            } else {
                Confidence::Medium
            },
        },
        (Some(h), None) if h.is_header_only() => ColumnProposal {
            kind: h,
            share: 0.0,
            examined,
            evidence: Evidence::Header,
            confidence: Confidence::High,
        },
        (Some(h), None) => {
            let matched = family_count(&counts, h);
            let confidence = if examined > 0 && share(matched + shaped) >= VALUE_SHARE_THRESHOLD {
                Confidence::Medium
            } else {
                Confidence::Low
            };
            ColumnProposal {
                kind: h,
                share: share(matched),
                examined,
                evidence: Evidence::Header,
                confidence,
            }
        }
        (None, None) => return None,
    };
    Some(proposal)
}

fn same_family(a: PiiKind, b: PiiKind) -> bool {
    let phone = |k| matches!(k, PiiKind::Mobile | PiiKind::Landline);
    a == b || (phone(a) && phone(b))
}

fn family_count(counts: &[usize], kind: PiiKind) -> usize {
    PiiKind::ALL
        .iter()
        .filter(|k| same_family(**k, kind))
        .map(|k| counts[k.index()])
        .sum()
}

/// The kind the values clearly are, with how many values matched it.
fn value_pick(counts: &[usize], examined: usize) -> Option<(PiiKind, usize)> {
    let enough = |n: usize| examined > 0 && n as f64 >= VALUE_SHARE_THRESHOLD * examined as f64;
    let mut best: Option<(PiiKind, usize)> = None;
    for &kind in PiiKind::ALL {
        let n = counts[kind.index()];
        if n > 0 && best.is_none_or(|(_, m)| n > m) {
            best = Some((kind, n));
        }
    }
    if let Some((kind, n)) = best
        && enough(n)
    {
        return Some((kind, n));
    }
    let (mobile, landline) = (
        counts[PiiKind::Mobile.index()],
        counts[PiiKind::Landline.index()],
    );
    let phones = mobile + landline;
    enough(phones).then(|| {
        let kind = if mobile >= landline {
            PiiKind::Mobile
        } else {
            PiiKind::Landline
        };
        (kind, phones)
    })
}

/// Whether a value that failed its kind's check still has the kind's shape (an 18-digit
/// number with a wrong check digit, a masked 138****5678): evidence that the header is
/// right and the data has typos or was masked upstream.
fn looks_like(kind: PiiKind, value: &str) -> bool {
    let code = compact(value).to_ascii_uppercase();
    let b = code.as_bytes();
    let digitish = |extra: &[u8]| b.iter().all(|c| c.is_ascii_digit() || extra.contains(c));
    let digit_count = b.iter().filter(|c| c.is_ascii_digit()).count();
    match kind {
        PiiKind::ResidentId => (b.len() == 18 || b.len() == 15) && digitish(b"X*"),
        PiiKind::Uscc => b.len() == 18 && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'*'),
        PiiKind::Mobile | PiiKind::Landline => {
            (7..=14).contains(&b.len()) && digit_count >= 7 && digitish(b"+()*")
        }
        PiiKind::BankCard => (12..=19).contains(&b.len()) && digitish(b"*"),
        PiiKind::Passport => {
            (8..=11).contains(&b.len())
                && b[0].is_ascii_uppercase()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'*')
        }
        PiiKind::LicencePlate => value
            .chars()
            .next()
            .is_some_and(|c| PLATE_PROVINCES.contains(c)),
        PiiKind::Email => value.contains('@'),
        PiiKind::IpAddress => {
            value.contains(['.', ':'])
                && value
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || ".:*/".contains(c))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matched_values_ignore_width_case_and_spacing() {
        assert_eq!(
            match_key("９１３７０１００ＭＡ３Ｃ　ｘ"),
            match_key("913701 00ma3cX")
        );
        assert_eq!(match_key(" 37010219900101123x "), "37010219900101123x");
        assert_eq!(match_key("37010219900101123X"), "37010219900101123x");
        assert_ne!(match_key("济南 甲公司"), match_key("济南乙公司"));
    }

    #[test]
    fn wire_names_round_trip_and_labels_exist() {
        for &kind in PiiKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<PiiKind>(&json).unwrap(), kind);
            assert_eq!(PiiKind::parse(kind.as_str()), Some(kind));
            assert!(!kind.label(Lang::Zh).is_empty() && !kind.label(Lang::En).is_empty());
        }
        assert_eq!(PiiKind::ALL.len(), 16);
        assert_eq!(PiiKind::parse("phone"), None);
        assert_eq!(PiiKind::BankCard.to_string(), "bank_card");
        assert_eq!(PiiKind::Health.label(Lang::Zh), "医疗健康信息");
    }

    #[test]
    fn sensitive_kinds_follow_pipl_28() {
        let sensitive: Vec<PiiKind> = PiiKind::ALL
            .iter()
            .copied()
            .filter(|k| k.is_sensitive())
            .collect();
        assert_eq!(
            sensitive,
            [
                PiiKind::ResidentId,
                PiiKind::BankCard,
                PiiKind::Passport,
                PiiKind::Coordinates,
                PiiKind::Religion,
                PiiKind::Health,
            ]
        );
    }

    #[test]
    fn normalisation() {
        let cases = [
            ("  １３８１２３４５６７８ ", "13812345678"),
            ("\u{3000}ＡＢＣ－１２３\u{3000}", "ABC-123"),
            ("（0531）88881234", "(0531)88881234"),
            ("zhang＠example．com", "zhang@example.com"),
            ("110105—19491231", "110105-19491231"),
            ("\u{feff}plain", "plain"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalise_value(raw), want, "{raw:?}");
        }
        assert!(matches!(normalise_value(" ascii "), Cow::Borrowed("ascii")));
    }

    #[test]
    fn compact_drops_separators_inside_numbers_only() {
        let cases = [
            ("138 1234 5678", "13812345678"),
            ("138-1234-5678", "13812345678"),
            ("1101 0519  4912 3100 2X", "11010519491231002X"),
            ("-13812345678", "-13812345678"),
            ("+86 138", "+86138"),
            ("(0531) 8888", "(0531) 8888"),
        ];
        for (raw, want) in cases {
            assert_eq!(compact(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn values() {
        use PiiKind::*;
        let cases: &[(&str, Option<PiiKind>)] = &[
            // GB 11643: the standard's examples, lower-case x, full-width, separators.
            ("11010519491231002X", Some(ResidentId)),
            ("11010519491231002x", Some(ResidentId)),
            ("１１０１０５１９４９１２３１００２Ｘ", Some(ResidentId)),
            ("110105 19491231 002X", Some(ResidentId)),
            ("440524188001010014", Some(ResidentId)),
            ("110105194912310021", None),
            // Valid check digit (asserted below), but region 20 does not exist.
            ("200105194912310021", None),
            ("110105491231002", Some(ResidentId)),
            ("110105491331002", None),
            ("110105051231002", None),
            ("91350100M000100Y43", Some(Uscc)),
            ("91350100M000100Y44", None),
            ("13812345678", Some(Mobile)),
            ("+86 138 1234 5678", Some(Mobile)),
            ("0086-13812345678", Some(Mobile)),
            ("13812345678.0", Some(Mobile)),
            ("12812345678", None),
            ("1381234567", None),
            ("0531-88881234", Some(Landline)),
            ("(0531)8888123", Some(Landline)),
            ("010-62345678-8001", Some(Landline)),
            ("021 6888 8888转123", Some(Landline)),
            ("+86 531 8888 1234", Some(Landline)),
            ("010-1234567", None),
            ("0531-08881234", None),
            ("400-123-4567", None),
            ("6222021234567890128", Some(BankCard)),
            ("6222 0212 3456 7890 128", Some(BankCard)),
            ("6222021234567890127", None),
            ("8888888888888888", None),
            ("2221000000000009", Some(BankCard)),
            ("2023010120231231", None),
            ("zhang.san+gov@example.com.cn", Some(Email)),
            ("张三@例子.中国", Some(Email)),
            ("zhang@localhost", None),
            ("@example.com", None),
            ("鲁A12345", Some(LicencePlate)),
            ("鲁A·D12345", Some(LicencePlate)),
            ("粤B12345D", Some(LicencePlate)),
            ("京A1234警", Some(LicencePlate)),
            ("鲁I12345", None),
            ("京ICP备12345678号", None),
            ("E12345678", Some(Passport)),
            ("EA1234567", Some(Passport)),
            ("C12345678", Some(Passport)),
            ("H1234567801", Some(Passport)),
            ("E1234567", None),
            ("192.168.1.1", Some(IpAddress)),
            ("2001:db8::1", Some(IpAddress)),
            ("10.0.0.0/8", Some(IpAddress)),
            ("256.1.1.1", None),
            ("192.168.001.010", Some(IpAddress)),
            ("1.2.3", None),
            ("117.123456,36.654321", Some(Coordinates)),
            ("36.6543, 117.1234", Some(Coordinates)),
            ("POINT(117.1234 36.6543)", Some(Coordinates)),
            ("北纬36.6512°", Some(Coordinates)),
            ("117.12,36.65", None),
            ("117.123456", None),
            ("12,345.6789", None),
            ("2023-01-15", None),
            ("20230115", None),
            ("250001", None),
            ("", None),
            ("无", None),
        ];
        assert_eq!(check_resident_id("200105194912310021"), Ok(()));
        for (raw, want) in cases {
            assert_eq!(recognise_value(raw), *want, "{raw:?}");
        }
    }

    // Every recogniser slices strings; none may panic on a char boundary or a short value.
    #[test]
    fn odd_input_never_panics() {
        let pieces = [
            "北纬", "°", "1", "0", ".", ",", "@", "(", ")", "+86", "X", "鲁", "A", "-", " ", "转",
            "POINT", "𝟙", "ｅ", "8",
        ];
        let bases = [
            "",
            "117.1234,",
            "1101051949123",
            "0531-",
            "E123456",
            "6222",
            "91350100",
        ];
        for base in bases {
            for a in pieces {
                for b in pieces {
                    for c in pieces {
                        let v = format!("{base}{a}{b}{c}");
                        let _ = recognise_value(&v);
                        let _ = recognise_header(&v);
                        let _ = propose_column(&v, [v.as_str()]);
                    }
                }
            }
        }
    }

    #[test]
    fn coordinates_need_a_header_when_bare() {
        assert!(!is_coordinates("117.123456", false));
        assert!(is_coordinates("117.123456", true));
        assert!(is_coordinates("36.6512", true));
        assert!(!is_coordinates("36.65", true));
        assert!(!is_coordinates("150.3456", true));
        assert!(!is_coordinates("-117.1234,36.6543", false));
        assert!(is_coordinates("36.6512°N 117.1201°E", false));
        assert!(!is_coordinates("36.6512°S 117.1201°E", false));
    }

    #[test]
    fn headers() {
        use PiiKind::*;
        let cases: &[(&str, Option<PiiKind>)] = &[
            ("姓名", Some(Name)),
            ("联系人", Some(Name)),
            ("xm", Some(Name)),
            ("Name", Some(Name)),
            ("contact_name", Some(Name)),
            ("单位名称", None),
            ("企业名称", None),
            ("user_name", None),
            ("联系人职务", None),
            ("身份证号", Some(ResidentId)),
            ("证件号码", Some(ResidentId)),
            ("sfzh", Some(ResidentId)),
            ("idCardNo", Some(ResidentId)),
            ("证件类型", None),
            ("身份证地址", Some(Address)),
            ("id", None),
            ("联系电话", Some(Mobile)),
            ("联系人电话", Some(Mobile)),
            ("固定电话", Some(Landline)),
            ("咨询电话", None),
            ("地址", Some(Address)),
            ("家庭住址", Some(Address)),
            ("地址编码", None),
            ("注册地址", None),
            ("IP地址", Some(IpAddress)),
            ("邮箱地址", Some(Email)),
            ("出生日期", Some(BirthDate)),
            ("民族", Some(Ethnicity)),
            ("民族乡名称", None),
            ("宗教信仰", Some(Religion)),
            ("宗教活动场所", None),
            ("健康状况", Some(Health)),
            ("疾病预防控制中心", None),
            ("银行卡号", Some(BankCard)),
            ("用户账号", None),
            ("电子邮箱", Some(Email)),
            ("车牌号", Some(LicencePlate)),
            ("号牌颜色", None),
            ("护照号码", Some(Passport)),
            ("经纬度", Some(Coordinates)),
            ("longitude", Some(Coordinates)),
            ("坐标系", None),
            ("统一社会信用代码", Some(Uscc)),
        ];
        for (header, want) in cases {
            assert_eq!(recognise_header(header), *want, "{header:?}");
        }
    }

    fn ids() -> Vec<String> {
        // Bodies of real shape; the check digit is computed, not guessed.
        (0..10)
            .map(|i| {
                let body = format!("37010219850315{i:03}");
                let body = &body[..17];
                (0..=9)
                    .map(|d| format!("{body}{d}"))
                    .chain(std::iter::once(format!("{body}X")))
                    .find(|c| check_resident_id(c).is_ok())
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn column_of_valid_ids_under_its_header_is_high_confidence() {
        let ids = ids();
        let p = propose_column("身份证号码", ids.iter().map(String::as_str)).unwrap();
        assert_eq!(p.kind, PiiKind::ResidentId);
        assert_eq!(
            p.evidence,
            Evidence::HeaderAndValues {
                matched: 10,
                examined: 10
            }
        );
        assert_eq!(p.confidence, Confidence::High);
        assert!((p.share - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn values_alone_propose_and_placeholders_are_not_examined() {
        let mut values: Vec<String> = ids();
        values.extend(["无", "", "  ", "-", "null"].map(String::from));
        let p = propose_column("字段1", values.iter().map(String::as_str)).unwrap();
        assert_eq!(p.kind, PiiKind::ResidentId);
        assert_eq!(p.examined, 10);
        assert_eq!(
            p.evidence,
            Evidence::Values {
                matched: 10,
                examined: 10
            }
        );
        assert_eq!(p.confidence, Confidence::High);
    }

    #[test]
    fn ids_with_typos_under_an_id_header_still_propose() {
        let typos: Vec<String> = ids()
            .iter()
            .map(|id| {
                let last = if id.ends_with('0') { '1' } else { '0' };
                format!("{}{last}", &id[..17])
            })
            .collect();
        let p = propose_column("公民身份号码", typos.iter().map(String::as_str)).unwrap();
        assert_eq!(p.kind, PiiKind::ResidentId);
        assert_eq!(p.evidence, Evidence::Header);
        assert_eq!(p.confidence, Confidence::Medium);
        assert_eq!(p.share, 0.0);
        // Without the header the same values say nothing.
        assert_eq!(
            propose_column("编号", typos.iter().map(String::as_str)),
            None
        );
        // Under the header, values of another shape leave it at low confidence.
        let p = propose_column("身份证号", ["见附件", "另行提供"]).unwrap();
        assert_eq!(
            (p.kind, p.confidence),
            (PiiKind::ResidentId, Confidence::Low)
        );
    }

    #[test]
    fn below_threshold_proposes_nothing() {
        // Three phones in ten: a remarks column, not a phone column.
        let values = [
            "13812345678",
            "13912345678",
            "15012345678",
            "已办结",
            "待审核",
            "已办结",
            "退回",
            "已办结",
            "待审核",
            "已办结",
        ];
        assert_eq!(propose_column("备注", values), None);
    }

    #[test]
    fn mixed_phone_column_counts_mobiles_and_landlines_together() {
        let values = [
            "13812345678",
            "0531-88881234",
            "15012345678",
            "0531-86661234",
            "不详",
        ];
        let p = propose_column("联系电话", values).unwrap();
        assert_eq!(p.kind, PiiKind::Mobile);
        assert_eq!(
            p.evidence,
            Evidence::HeaderAndValues {
                matched: 4,
                examined: 4
            }
        );
        let landlines = ["0531-88881234", "0531-86661234", "13812345678"];
        let p = propose_column("电话", landlines).unwrap();
        assert_eq!(p.kind, PiiKind::Landline);
    }

    #[test]
    fn blank_columns_propose_only_by_header() {
        let blanks = ["", " ", "无", "—"];
        assert_eq!(propose_column("备注", blanks), None);
        let p = propose_column("姓名", blanks).unwrap();
        assert_eq!(
            (p.kind, p.evidence, p.examined),
            (PiiKind::Name, Evidence::Header, 0)
        );
        let p = propose_column("手机号码", blanks).unwrap();
        assert_eq!((p.kind, p.confidence), (PiiKind::Mobile, Confidence::Low));
    }

    #[test]
    fn bare_coordinates_count_under_a_coordinate_header_only() {
        let lon = ["117.123456", "117.023411", "116.998720", "117.201034"];
        let p = propose_column("经度", lon).unwrap();
        assert_eq!(p.kind, PiiKind::Coordinates);
        assert_eq!(p.confidence, Confidence::High);
        // The same numbers as amounts in 万元 are not a location.
        assert_eq!(propose_column("合同金额（万元）", lon), None);
        // Two decimals under a coordinate header: the header is kept, weakly.
        let p = propose_column("纬度", ["36.65", "36.66"]).unwrap();
        assert_eq!(
            (p.evidence, p.confidence),
            (Evidence::Header, Confidence::Low)
        );
    }

    #[test]
    fn values_win_over_a_header_naming_another_kind() {
        let values = ["13812345678", "13912345678", "15012345678"];
        let p = propose_column("联系人", values).unwrap();
        assert_eq!(p.kind, PiiKind::Mobile);
        assert_eq!(
            p.evidence,
            Evidence::Values {
                matched: 3,
                examined: 3
            }
        );
        assert_eq!(p.confidence, Confidence::Medium);
    }

    #[test]
    fn proposal_serialises_with_tagged_evidence() {
        let p = propose_column("手机", ["13812345678"]).unwrap();
        let json = serde_json::to_value(p).unwrap();
        assert_eq!(json["kind"], "mobile");
        assert_eq!(json["evidence"]["source"], "header_and_values");
        assert_eq!(json["evidence"]["matched"], 1);
        assert_eq!(json["confidence"], "high");
    }
}
