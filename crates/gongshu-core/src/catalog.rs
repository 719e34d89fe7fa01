//! The catalog entry (政务信息资源目录 / 公共数据目录 entry): its national core metadata,
//! its validation, the grade cap on its open type, code assignment and its workflow.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, ErrorCode, FieldError};
use crate::types::{
    CategoryClass, DatasetStatus, Domain, Grade, ItemType, OpenType, ResourceFormat, ShareMethod,
    ShareType, UpdateCycle,
};
use crate::validate::char_len;

/// 信息资源分类: 类 / 项 / 目 / 细目. Together they form the category code, the first
/// part of the resource code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// 类: basic (1), theme (2) or department (3).
    pub class: CategoryClass,
    /// 项: two digits.
    pub item: String,
    /// 目: three digits.
    pub catalog: String,
    /// 细目: three digits, optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Category {
    /// 分类码, e.g. "301002" or "301002001".
    pub fn code(&self) -> String {
        let mut s = String::with_capacity(9);
        s.push(self.class.digit());
        s.push_str(&self.item);
        s.push_str(&self.catalog);
        if let Some(d) = &self.detail {
            s.push_str(d);
        }
        s
    }
}

/// 信息项: one column or field of the resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataItem {
    pub name: String,
    #[serde(rename = "type")]
    pub item_type: ItemType,
    #[serde(default)]
    pub length: u32,
    #[serde(default)]
    pub description: String,
    pub grade: Grade,
    /// 一数一源: the provider declares itself the authoritative source of this item's
    /// values. The platform flags an item that several providers claim.
    #[serde(default, skip_serializing_if = "is_false")]
    pub source: bool,
    /// 值域: the codes the item may take (e.g. 男, 女, 未说明), when it is a coded item.
    /// Quality checks count the values outside it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// The key under which data items of different entries are the same item: names that
/// differ only in width, case or spacing ("ＩＤ号码", "id 号码") are one item.
pub fn item_key(name: &str) -> String {
    crate::pii::match_key(name)
}

/// What a provider writes about a resource: everything of the catalog entry except what
/// the platform assigns (id, code, provider, status, version, dates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetDraft {
    /// 信息资源名称.
    pub title: String,
    /// 信息资源摘要.
    pub summary: String,
    /// 信息资源分类.
    pub category: Category,
    /// 信息资源格式 (the kind).
    pub format: ResourceFormat,
    /// The concrete file formats, e.g. `["csv", "xlsx"]`.
    #[serde(default)]
    pub file_formats: Vec<String>,
    /// 信息项.
    #[serde(default)]
    pub items: Vec<DataItem>,
    pub share_type: ShareType,
    #[serde(default)]
    pub share_condition: String,
    pub share_method: ShareMethod,
    pub open_type: OpenType,
    #[serde(default)]
    pub open_condition: String,
    /// 法律、法规和规章依据: required for any restricted share or open type.
    #[serde(default)]
    pub legal_basis: String,
    pub update_cycle: UpdateCycle,
    /// 关联资源代码.
    #[serde(default)]
    pub related_codes: Vec<String>,
    #[serde(default)]
    pub domains: Vec<Domain>,
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Security grade of the entry as a whole; at least the highest grade of its items.
    pub grade: Grade,
    #[serde(default)]
    pub contact: String,
    /// Licence or terms of use of the data.
    #[serde(default)]
    pub license: String,
    /// The provider's declaration that the resource holds classified information (涉密).
    /// Classified data can never enter the catalog (SX-BIGDATA §22), so `true` is refused.
    #[serde(default)]
    pub classified: bool,
    /// Opened only through de-identification, whatever the grade allows: set when a
    /// 不予开放 entry is opened on the strength of a de-identified version (SD-OPEN §8).
    #[serde(default)]
    pub deidentify: bool,
}

pub const MAX_TITLE: usize = 200;
pub const MAX_SUMMARY: usize = 2000;
pub const MAX_TEXT: usize = 1000;
pub const MAX_SHORT: usize = 200;
pub const MAX_ITEMS: usize = 1000;
pub const MAX_ITEM_NAME: usize = 100;
pub const MAX_ITEM_DESCRIPTION: usize = 500;
/// Codes in one item's code list (值域).
pub const MAX_CODES: usize = 500;
pub const MAX_LIST: usize = 50;
pub const MAX_KEYWORD: usize = 30;

/// What a grade allows (R6.1): the most open type, and whether opening needs
/// de-identification first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GradeCap {
    pub max_open: OpenType,
    pub deidentify: bool,
}

/// The grade → cap table. The authority of a province edits it; this default is what ships
/// (核心/重要/一般4 → 不予开放; 一般3-2 → at most 有条件开放 with de-identification; 一般1 → any).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GradeCapPolicy {
    pub caps: Vec<(Grade, GradeCap)>,
    /// The k of k-anonymity an open version must reach when its provider names
    /// quasi-identifiers: a smaller equivalence class keeps it from being served (GB/T
    /// 37964; 5 by default).
    #[serde(default = "default_k_threshold")]
    pub k_threshold: u32,
}

fn default_k_threshold() -> u32 {
    5
}

/// The largest k a province may require: beyond it no table of a few thousand rows
/// could be opened at all.
pub const MAX_K_THRESHOLD: u32 = 100;

impl Default for GradeCapPolicy {
    fn default() -> Self {
        let cap = |max_open, deidentify| GradeCap {
            max_open,
            deidentify,
        };
        Self {
            caps: vec![
                (Grade::Core, cap(OpenType::None, false)),
                (Grade::Important, cap(OpenType::None, false)),
                (Grade::General4, cap(OpenType::None, false)),
                (Grade::General3, cap(OpenType::Conditional, true)),
                (Grade::General2, cap(OpenType::Conditional, true)),
                (Grade::General1, cap(OpenType::Unconditional, false)),
            ],
            k_threshold: default_k_threshold(),
        }
    }
}

impl GradeCapPolicy {
    pub fn cap(&self, grade: Grade) -> GradeCap {
        self.caps
            .iter()
            .find(|(g, _)| *g == grade)
            .map(|(_, c)| *c)
            // A grade missing from an edited table is treated as closed, never as open.
            .unwrap_or(GradeCap {
                max_open: OpenType::None,
                deidentify: false,
            })
    }

    pub fn allows(&self, grade: Grade, open: OpenType) -> bool {
        open.rank() >= self.cap(grade).max_open.rank()
    }

    /// What makes an edited table unusable: every grade once; core data never opened
    /// (数据安全法 §21, stricter management of 国家核心数据); and no grade more open, or
    /// less protected, than a grade below it in sensitivity.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut e = Vec::new();
        for g in Grade::ALL {
            let n = self.caps.iter().filter(|(x, _)| x == g).count();
            if n != 1 {
                e.push(FieldError::new(
                    format!("caps.{}", g.as_str()),
                    if n == 0 { "required" } else { "duplicate" },
                    format!("“{}”应当且只能出现一次", g.label_zh()),
                    format!("{} must appear exactly once", g.label_en()),
                ));
            }
        }
        if !(1..=MAX_K_THRESHOLD).contains(&self.k_threshold) {
            e.push(FieldError::new(
                "k_threshold",
                "range",
                format!("k 值应在 1 至 {MAX_K_THRESHOLD} 之间"),
                format!("k must be between 1 and {MAX_K_THRESHOLD}"),
            ));
        }
        if self.cap(Grade::Core).max_open != OpenType::None {
            e.push(FieldError::new(
                "caps.core",
                "core_closed",
                "核心数据不得开放",
                "Core data is never opened",
            ));
        }
        let mut by_sensitivity: Vec<Grade> = Grade::ALL.to_vec();
        by_sensitivity.sort();
        for pair in by_sensitivity.windows(2) {
            let (lower, higher) = (self.cap(pair[0]), self.cap(pair[1]));
            let more_open = higher.max_open.rank() < lower.max_open.rank();
            let less_protected = higher.max_open == lower.max_open
                && lower.deidentify
                && !higher.deidentify
                && higher.max_open != OpenType::None;
            if more_open || less_protected {
                e.push(FieldError::new(
                    format!("caps.{}", pair[1].as_str()),
                    "order",
                    format!(
                        "“{}”的开放上限不得宽于“{}”",
                        pair[1].label_zh(),
                        pair[0].label_zh()
                    ),
                    format!(
                        "{} may not be opened more freely than {}",
                        pair[1].label_en(),
                        pair[0].label_en()
                    ),
                ));
            }
        }
        e
    }
}

fn required(errs: &mut Vec<FieldError>, field: &str, value: &str, zh: &str, en: &str) {
    if value.trim().is_empty() {
        errs.push(FieldError::new(
            field,
            "required",
            format!("请填写{zh}"),
            format!("{en} is required"),
        ));
    }
}

fn max_len(errs: &mut Vec<FieldError>, field: &str, value: &str, max: usize) {
    let n = char_len(value);
    if n > max {
        errs.push(FieldError::new(
            field,
            "too_long",
            format!("长度不得超过{max}个字符（当前{n}个）"),
            format!("must be at most {max} characters (got {n})"),
        ));
    }
}

fn digits(errs: &mut Vec<FieldError>, field: &str, value: &str, n: usize) {
    if value.len() != n || !value.bytes().all(|b| b.is_ascii_digit()) {
        errs.push(FieldError::new(
            field,
            "format",
            format!("应为{n}位数字"),
            format!("must be {n} digits"),
        ));
    }
}

fn has_control_chars(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
}

/// Whether `code` has the shape of a resource code: 分类码 (6 or 9 digits) "/" 顺序码 (6 digits).
pub fn is_resource_code(code: &str) -> bool {
    let Some((cat, seq)) = code.split_once('/') else {
        return false;
    };
    (cat.len() == 6 || cat.len() == 9)
        && seq.len() == 6
        && cat.bytes().chain(seq.bytes()).all(|b| b.is_ascii_digit())
}

/// The resource code the platform assigns: 分类码 "/" a six-digit 顺序码.
pub fn resource_code(category_code: &str, sequence: u32) -> String {
    format!("{category_code}/{sequence:06}")
}

impl DatasetDraft {
    /// Trims surrounding white space and drops empty list entries, so that what is stored
    /// is what a person meant.
    pub fn normalize(&mut self) {
        for s in [
            &mut self.title,
            &mut self.summary,
            &mut self.share_condition,
            &mut self.open_condition,
            &mut self.legal_basis,
            &mut self.contact,
            &mut self.license,
        ] {
            let t = s.trim();
            if t.len() != s.len() {
                *s = t.to_owned();
            }
        }
        for list in [
            &mut self.keywords,
            &mut self.related_codes,
            &mut self.file_formats,
        ] {
            for s in list.iter_mut() {
                *s = s.trim().to_owned();
            }
            list.retain(|s| !s.is_empty());
        }
        for f in &mut self.file_formats {
            f.make_ascii_lowercase();
        }
        self.domains.sort();
        self.domains.dedup();
        for item in &mut self.items {
            item.name = item.name.trim().to_owned();
            item.description = item.description.trim().to_owned();
            for c in &mut item.codes {
                *c = c.trim().to_owned();
            }
            item.codes.retain(|c| !c.is_empty());
        }
    }

    /// Checks every rule of a catalog entry and returns all problems at once.
    pub fn validate(&self, policy: &GradeCapPolicy) -> Result<(), Error> {
        let mut e = Vec::new();
        required(&mut e, "title", &self.title, "信息资源名称", "Title");
        max_len(&mut e, "title", &self.title, MAX_TITLE);
        required(&mut e, "summary", &self.summary, "信息资源摘要", "Summary");
        max_len(&mut e, "summary", &self.summary, MAX_SUMMARY);
        for (field, value, max) in [
            ("share_condition", &self.share_condition, MAX_TEXT),
            ("open_condition", &self.open_condition, MAX_TEXT),
            ("legal_basis", &self.legal_basis, MAX_TEXT),
            ("contact", &self.contact, MAX_SHORT),
            ("license", &self.license, MAX_SHORT),
        ] {
            max_len(&mut e, field, value, max);
        }
        for (field, value) in [("title", &self.title), ("summary", &self.summary)] {
            if has_control_chars(value) {
                e.push(FieldError::new(
                    field,
                    "control_chars",
                    "不得包含控制字符",
                    "must not contain control characters",
                ));
            }
        }

        digits(&mut e, "category.item", &self.category.item, 2);
        digits(&mut e, "category.catalog", &self.category.catalog, 3);
        if let Some(d) = &self.category.detail {
            digits(&mut e, "category.detail", d, 3);
        }

        if self.classified {
            e.push(FieldError::new(
                "classified",
                "classified",
                "涉密数据不得纳入公共数据目录",
                "Classified data can never be entered in the catalog",
            ));
        }

        // R2.2 (SD-EGOV §22, SX-BIGDATA §31): a restriction must cite its legal basis.
        if (self.share_type.is_restricted() || self.open_type.is_restricted())
            && self.legal_basis.trim().is_empty()
        {
            e.push(FieldError::new(
                "legal_basis",
                "required",
                "有条件或不予共享/开放的资源必须注明法律、法规和规章依据",
                "A conditional or closed share/open type must cite its legal basis",
            ));
        }
        if self.share_type == ShareType::Conditional && self.share_condition.trim().is_empty() {
            e.push(FieldError::new(
                "share_condition",
                "required",
                "有条件共享须写明共享条件",
                "Conditional sharing needs its condition",
            ));
        }
        if self.open_type == OpenType::Conditional && self.open_condition.trim().is_empty() {
            e.push(FieldError::new(
                "open_condition",
                "required",
                "有条件开放须写明开放条件",
                "Conditional opening needs its condition",
            ));
        }

        // R6.1: the grade caps the open type.
        if !policy.allows(self.grade, self.open_type) {
            let cap = policy.cap(self.grade).max_open;
            e.push(FieldError::new(
                "open_type",
                "grade_cap",
                format!("{}的资源最多可{}", self.grade.label_zh(), cap.label_zh()),
                format!(
                    "a resource graded {} can be at most '{}'",
                    self.grade.as_str(),
                    cap.as_str()
                ),
            ));
        }

        if self.items.len() > MAX_ITEMS {
            e.push(FieldError::new(
                "items",
                "too_many",
                format!("信息项不得超过{MAX_ITEMS}个"),
                format!("at most {MAX_ITEMS} data items"),
            ));
        }
        let mut names = std::collections::HashSet::new();
        let mut highest_item = None;
        for (i, item) in self.items.iter().enumerate() {
            let f = |s: &str| format!("items[{i}].{s}");
            required(&mut e, &f("name"), &item.name, "信息项名称", "Item name");
            max_len(&mut e, &f("name"), &item.name, MAX_ITEM_NAME);
            max_len(
                &mut e,
                &f("description"),
                &item.description,
                MAX_ITEM_DESCRIPTION,
            );
            if item.codes.len() > MAX_CODES {
                e.push(FieldError::new(
                    f("codes"),
                    "too_many",
                    format!("值域不得超过{MAX_CODES}个代码"),
                    format!("at most {MAX_CODES} codes"),
                ));
            }
            let mut codes = std::collections::HashSet::new();
            for c in &item.codes {
                max_len(&mut e, &f("codes"), c, MAX_SHORT);
                if !codes.insert(c.as_str()) {
                    e.push(FieldError::new(
                        f("codes"),
                        "duplicate",
                        format!("值域中代码重复：{c}"),
                        format!("duplicate code: {c}"),
                    ));
                }
            }
            if !item.name.is_empty() && !names.insert(item.name.as_str()) {
                e.push(FieldError::new(
                    f("name"),
                    "duplicate",
                    format!("信息项名称重复：{}", item.name),
                    format!("duplicate item name: {}", item.name),
                ));
            }
            highest_item = highest_item.max(Some(item.grade));
        }
        if let Some(top) = highest_item
            && top > self.grade
        {
            e.push(FieldError::new(
                "grade",
                "below_items",
                format!("资源级别不得低于其信息项的最高级别（{}）", top.label_zh()),
                format!("the entry's grade must be at least its items' highest ({top})"),
            ));
        }

        for (field, list, max_each) in [
            ("keywords", &self.keywords, MAX_KEYWORD),
            ("file_formats", &self.file_formats, 20),
            ("related_codes", &self.related_codes, 20),
        ] {
            if list.len() > MAX_LIST {
                e.push(FieldError::new(
                    field,
                    "too_many",
                    format!("不得超过{MAX_LIST}项"),
                    format!("at most {MAX_LIST} entries"),
                ));
            }
            for (i, v) in list.iter().enumerate() {
                max_len(&mut e, &format!("{field}[{i}]"), v, max_each);
            }
        }
        for (i, code) in self.related_codes.iter().enumerate() {
            if !is_resource_code(code) {
                e.push(FieldError::new(
                    format!("related_codes[{i}]"),
                    "format",
                    "关联资源代码格式应为“分类码/顺序码”",
                    "a related code must look like 'category/sequence'",
                ));
            }
        }
        for (i, f) in self.file_formats.iter().enumerate() {
            if !f
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                e.push(FieldError::new(
                    format!("file_formats[{i}]"),
                    "format",
                    "文件格式应为扩展名，如 csv、xlsx",
                    "a file format is an extension such as csv or xlsx",
                ));
            }
        }
        if self.domains.len() > Domain::ALL.len() {
            e.push(FieldError::new(
                "domains",
                "too_many",
                "领域重复",
                "duplicate domains",
            ));
        }

        if e.is_empty() {
            Ok(())
        } else {
            Err(Error::validation(e))
        }
    }
}

/// A step in the life of a catalog entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The provider changes the working copy.
    Edit,
    /// The provider sends the working copy for approval.
    Submit,
    /// The provider takes a submission back to edit it.
    Recall,
    /// The authority approves: the working copy becomes the published version.
    Approve,
    /// The authority sends it back with reasons.
    Reject,
    /// The entry leaves the catalog; every version stays on record.
    Withdraw,
}

/// The workflow of R2.3: draft → submitted → published (by the authority) → edited as a new
/// draft while the published version keeps serving → … → withdrawn.
pub fn next_status(current: DatasetStatus, step: Step) -> Result<DatasetStatus, Error> {
    use DatasetStatus::*;
    let next = match (current, step) {
        (Draft | Published | Withdrawn, Step::Edit) => Some(Draft),
        (Draft, Step::Submit) => Some(Submitted),
        (Submitted, Step::Recall | Step::Reject) => Some(Draft),
        (Submitted, Step::Approve) => Some(Published),
        (Draft | Submitted | Published, Step::Withdraw) => Some(Withdrawn),
        _ => None,
    };
    next.ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidState,
            format!("当前状态（{}）下不能执行此操作", current.label_zh()),
            format!(
                "This step is not allowed while the entry is {}",
                current.as_str()
            ),
        )
    })
}

#[cfg(test)]
pub(crate) mod tests {
    #[test]
    fn an_edited_cap_table_keeps_every_grade_and_the_order() {
        use super::{GradeCap, GradeCapPolicy};
        use crate::types::OpenType;
        assert!(GradeCapPolicy::default().problems().is_empty());
        // A table stored before k was part of it reads with the default k.
        let mut stored = serde_json::to_value(GradeCapPolicy::default()).unwrap();
        stored.as_object_mut().unwrap().remove("k_threshold");
        let read: GradeCapPolicy = serde_json::from_value(stored).unwrap();
        assert_eq!(read.k_threshold, 5);
        for (k, ok) in [(0, false), (1, true), (100, true), (101, false)] {
            let p = GradeCapPolicy {
                k_threshold: k,
                ..GradeCapPolicy::default()
            };
            assert_eq!(p.problems().is_empty(), ok, "k = {k}");
        }
        let codes = |p: &GradeCapPolicy| -> Vec<(String, &'static str)> {
            p.problems()
                .into_iter()
                .map(|f| (f.field, f.code))
                .collect()
        };
        // Stricter for general data: allowed.
        let mut stricter = GradeCapPolicy::default();
        stricter.caps[5].1 = GradeCap {
            max_open: OpenType::Conditional,
            deidentify: true,
        };
        assert_eq!(codes(&stricter), []);
        // General 3 opened without conditions while general 2 needs them: refused.
        let mut looser = GradeCapPolicy::default();
        looser.caps[3].1.max_open = OpenType::Unconditional;
        assert_eq!(codes(&looser), [("caps.general3".to_owned(), "order")]);
        let mut open_core = GradeCapPolicy::default();
        open_core.caps[0].1.max_open = OpenType::Conditional;
        assert!(codes(&open_core).contains(&("caps.core".to_owned(), "core_closed")));
        let mut missing = GradeCapPolicy::default();
        missing.caps.pop();
        assert!(codes(&missing).contains(&("caps.general1".to_owned(), "required")));
    }

    use super::*;

    pub(crate) fn sample() -> DatasetDraft {
        DatasetDraft {
            title: "济南市企业登记注册信息".into(),
            summary: "全市各类市场主体的登记注册基本信息。".into(),
            category: Category {
                class: CategoryClass::Department,
                item: "01".into(),
                catalog: "002".into(),
                detail: None,
            },
            format: ResourceFormat::Spreadsheet,
            file_formats: vec!["csv".into()],
            items: vec![DataItem {
                name: "企业名称".into(),
                item_type: ItemType::Character,
                length: 200,
                description: String::new(),
                grade: Grade::General1,
                source: false,
                codes: Vec::new(),
            }],
            share_type: ShareType::Unconditional,
            share_condition: String::new(),
            share_method: ShareMethod::PlatformInterface,
            open_type: OpenType::Unconditional,
            open_condition: String::new(),
            legal_basis: String::new(),
            update_cycle: UpdateCycle::Daily,
            related_codes: vec![],
            domains: vec![Domain::MarketRegulation],
            keywords: vec!["企业".into()],
            grade: Grade::General1,
            contact: String::new(),
            license: String::new(),
            classified: false,
            deidentify: false,
        }
    }

    fn field_codes(d: &DatasetDraft) -> Vec<(String, &'static str)> {
        match d.validate(&GradeCapPolicy::default()) {
            Ok(()) => vec![],
            Err(e) => e.fields.into_iter().map(|f| (f.field, f.code)).collect(),
        }
    }

    /// SD-BIGDATA §20, SX-BIGDATA §24: metadata quality names what is missing.
    #[test]
    fn metadata_quality_scores_what_the_entry_says() {
        // The sample: a short summary, one undescribed item, one keyword, no contact
        // or licence; unrestricted, so no legal basis is needed.
        let q = sample().metadata_quality();
        let earned: Vec<(&str, u32)> = q.checks.iter().map(|c| (c.code, c.earned)).collect();
        assert_eq!(
            earned,
            [
                ("summary", 0),
                ("items", 20),
                ("item_descriptions", 0),
                ("keywords", 0),
                ("domains", 10),
                ("legal_basis", 15),
                ("contact", 0),
                ("license", 0),
                ("file_formats", 5),
            ]
        );
        assert_eq!(q.score, 50);
        assert_eq!(q.checks.iter().map(|c| c.weight).sum::<u32>(), 100);

        let mut full = sample();
        full.summary =
            "全市各类市场主体的登记注册基本信息，包括名称、统一社会信用代码、住所和经营范围。"
                .into();
        full.items[0].description = "市场主体登记的名称".into();
        full.keywords.push("登记".into());
        full.contact = "0531-12345678".into();
        full.license = "CC BY 4.0".into();
        assert_eq!(full.metadata_quality().score, 100);
        // Restricted without a legal basis loses that check.
        full.open_type = OpenType::Conditional;
        assert_eq!(full.metadata_quality().score, 85);
        // Half the items described earns half of that check.
        full.legal_basis = "《山东省公共数据开放办法》第八条".into();
        full.items.push(DataItem {
            description: String::new(),
            ..full.items[0].clone()
        });
        assert_eq!(full.metadata_quality().score, 95);
    }

    #[test]
    fn a_complete_entry_is_valid() {
        assert!(field_codes(&sample()).is_empty());
    }

    // R6.1 (SD-BIGDATA §33-36, GB/T 43697): every grade × open type against the default cap.
    #[test]
    fn grade_caps_open_type() {
        use OpenType::*;
        let table = [
            (Grade::Core, [false, false, true]),
            (Grade::Important, [false, false, true]),
            (Grade::General4, [false, false, true]),
            (Grade::General3, [false, true, true]),
            (Grade::General2, [false, true, true]),
            (Grade::General1, [true, true, true]),
        ];
        let policy = GradeCapPolicy::default();
        for (grade, allowed) in table {
            for (open, want) in [Unconditional, Conditional, None].into_iter().zip(allowed) {
                assert_eq!(policy.allows(grade, open), want, "{grade} {open}");
                let mut d = sample();
                d.grade = grade;
                d.items[0].grade = grade;
                d.open_type = open;
                d.open_condition = "限科研用途".into();
                d.legal_basis = "《山东省公共数据开放办法》第八条".into();
                let capped = field_codes(&d).iter().any(|(_, c)| *c == "grade_cap");
                assert_eq!(capped, !want, "{grade} {open}");
            }
        }
        assert!(policy.cap(Grade::General3).deidentify);
    }

    #[test]
    fn an_edited_policy_missing_a_grade_closes_it() {
        let policy = GradeCapPolicy {
            caps: vec![],
            k_threshold: 5,
        };
        assert!(!policy.allows(Grade::General1, OpenType::Unconditional));
        assert!(policy.allows(Grade::General1, OpenType::None));
    }

    // R2.2: SD-EGOV §22, SX-BIGDATA §31 — restrictions must cite a legal basis.
    #[test]
    fn restrictions_need_legal_basis_and_conditions() {
        let cases = [
            (ShareType::Unconditional, OpenType::Unconditional, vec![]),
            (
                ShareType::Conditional,
                OpenType::Unconditional,
                vec!["legal_basis", "share_condition"],
            ),
            (
                ShareType::None,
                OpenType::Unconditional,
                vec!["legal_basis"],
            ),
            (
                ShareType::Unconditional,
                OpenType::Conditional,
                vec!["legal_basis", "open_condition"],
            ),
        ];
        for (share, open, want) in cases {
            let mut d = sample();
            d.share_type = share;
            d.open_type = open;
            let got: Vec<String> = field_codes(&d).into_iter().map(|(f, _)| f).collect();
            assert_eq!(got, want, "{share} {open}");
        }
    }

    // SX-BIGDATA §22: classified data can never be entered.
    #[test]
    fn classified_data_is_refused() {
        let mut d = sample();
        d.classified = true;
        assert_eq!(field_codes(&d), vec![("classified".into(), "classified")]);
    }

    #[test]
    fn field_problems_are_all_reported() {
        let mut d = sample();
        d.title = "   ".into();
        d.summary = "x".repeat(MAX_SUMMARY + 1);
        d.category.item = "1".into();
        d.items.push(d.items[0].clone());
        d.items[1].grade = Grade::General3;
        d.related_codes = vec!["bad".into()];
        let got = field_codes(&d);
        for want in [
            ("title", "required"),
            ("summary", "too_long"),
            ("category.item", "format"),
            ("items[1].name", "duplicate"),
            ("grade", "below_items"),
            ("related_codes[0]", "format"),
        ] {
            assert!(
                got.iter().any(|(f, c)| f == want.0 && *c == want.1),
                "{want:?} missing from {got:?}"
            );
        }
    }

    #[test]
    fn code_lists_are_trimmed_and_checked() {
        let mut d = sample();
        d.items[0].codes = vec![" 男 ".into(), "".into(), "女".into()];
        d.items[0].source = true;
        d.normalize();
        assert_eq!(d.items[0].codes, ["男", "女"]);
        assert!(field_codes(&d).is_empty());
        let json = serde_json::to_value(&d.items[0]).unwrap();
        assert_eq!(json["source"], true);
        assert_eq!(json["codes"][1], "女");
        // Older documents without the fields read as "not the source, any value".
        let old: DataItem =
            serde_json::from_str(r#"{"name":"x","type":"character","grade":"general1"}"#).unwrap();
        assert!(!old.source && old.codes.is_empty());

        d.items[0].codes = vec!["男".into(), "男".into(), "x".repeat(MAX_SHORT + 1)];
        let got = field_codes(&d);
        assert!(
            got.contains(&("items[0].codes".into(), "duplicate")),
            "{got:?}"
        );
        assert!(
            got.contains(&("items[0].codes".into(), "too_long")),
            "{got:?}"
        );
        d.items[0].codes = (0..=MAX_CODES).map(|i| i.to_string()).collect();
        assert!(field_codes(&d).contains(&("items[0].codes".into(), "too_many")));
    }

    #[test]
    fn normalize_trims_and_drops_empties() {
        let mut d = sample();
        d.title = "  标题 ".into();
        d.keywords = vec![" 企业 ".into(), "  ".into()];
        d.file_formats = vec!["CSV".into()];
        d.normalize();
        assert_eq!(d.title, "标题");
        assert_eq!(d.keywords, vec!["企业"]);
        assert_eq!(d.file_formats, vec!["csv"]);
    }

    #[test]
    fn codes() {
        let c = sample().category;
        assert_eq!(c.code(), "301002");
        assert_eq!(resource_code(&c.code(), 7), "301002/000007");
        for (code, ok) in [
            ("301002/000007", true),
            ("301002001/000007", true),
            ("301002/7", false),
            ("30100/000007", false),
            ("301002-000007", false),
        ] {
            assert_eq!(is_resource_code(code), ok, "{code}");
        }
    }

    // R2.3: SD-BIGDATA §16, SX-BIGDATA §22 — the catalog workflow.
    #[test]
    fn workflow_transitions() {
        use DatasetStatus::*;
        use Step::*;
        let table = [
            (Draft, Edit, Some(Draft)),
            (Draft, Submit, Some(Submitted)),
            (Draft, Approve, None),
            (Submitted, Edit, None),
            (Submitted, Recall, Some(Draft)),
            (Submitted, Approve, Some(Published)),
            (Submitted, Reject, Some(Draft)),
            (Published, Edit, Some(Draft)),
            (Published, Submit, None),
            (Published, Withdraw, Some(Withdrawn)),
            (Withdrawn, Withdraw, None),
            (Withdrawn, Edit, Some(Draft)),
            (Withdrawn, Approve, None),
        ];
        for (from, step, want) in table {
            assert_eq!(next_status(from, step).ok(), want, "{from} {step:?}");
        }
    }
}

/// One check of an entry's metadata quality (SD-BIGDATA §20, SX-BIGDATA §24): what it
/// asks, its weight in the score, and how much of it the entry earns.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MetadataCheck {
    /// Stable code: `summary`, `items`, `item_descriptions`, `keywords`, `domains`,
    /// `legal_basis`, `contact`, `license`, `file_formats`.
    pub code: &'static str,
    pub weight: u32,
    /// Points earned, 0 to `weight`.
    pub earned: u32,
    pub message_zh: String,
    pub message_en: String,
}

/// An entry's metadata quality: a score out of 100 and the checks behind it, the
/// failing ones telling the provider what to add.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MetadataQuality {
    pub score: u32,
    pub checks: Vec<MetadataCheck>,
}

/// Summaries shorter than this say too little for a user to know what the data is.
pub const SUMMARY_ENOUGH: usize = 30;

impl DatasetDraft {
    /// How complete the entry's metadata is. The weights favour what a user needs to
    /// find and understand the data (summary, data items) and what the rules require
    /// (the legal basis of a restricted entry).
    pub fn metadata_quality(&self) -> MetadataQuality {
        let all = |ok: bool, weight: u32| if ok { weight } else { 0 };
        let described = self
            .items
            .iter()
            .filter(|i| !i.description.trim().is_empty())
            .count();
        let restricted = self.open_type != OpenType::Unconditional
            || self.share_type != ShareType::Unconditional;
        let summary_chars = self.summary.trim().chars().count();
        let check = |code, weight, earned, zh: String, en: String| MetadataCheck {
            code,
            weight,
            earned,
            message_zh: zh,
            message_en: en,
        };
        let checks = vec![
            check(
                "summary",
                15,
                all(summary_chars >= SUMMARY_ENOUGH, 15),
                format!("摘要不少于{SUMMARY_ENOUGH}字（现为{summary_chars}字）"),
                format!("A summary of at least {SUMMARY_ENOUGH} characters (now {summary_chars})"),
            ),
            check(
                "items",
                20,
                all(!self.items.is_empty(), 20),
                "列出信息项".into(),
                "Data items declared".into(),
            ),
            check(
                "item_descriptions",
                10,
                if self.items.is_empty() {
                    0
                } else {
                    (10 * described / self.items.len()) as u32
                },
                format!("每个信息项都有描述（{described}/{}）", self.items.len()),
                format!(
                    "Every data item described ({described}/{})",
                    self.items.len()
                ),
            ),
            check(
                "keywords",
                10,
                all(self.keywords.len() >= 2, 10),
                "至少两个关键词".into(),
                "At least two keywords".into(),
            ),
            check(
                "domains",
                10,
                all(!self.domains.is_empty(), 10),
                "标明所属领域".into(),
                "A domain named".into(),
            ),
            check(
                "legal_basis",
                15,
                all(!restricted || !self.legal_basis.trim().is_empty(), 15),
                "有条件或不予开放、共享的，写明法律法规依据".into(),
                "The legal basis of a restricted entry".into(),
            ),
            check(
                "contact",
                10,
                all(!self.contact.trim().is_empty(), 10),
                "提供联系方式".into(),
                "A contact".into(),
            ),
            check(
                "license",
                5,
                all(!self.license.trim().is_empty(), 5),
                "写明使用许可或条款".into(),
                "A licence or terms of use".into(),
            ),
            check(
                "file_formats",
                5,
                all(!self.file_formats.is_empty(), 5),
                "写明文件格式".into(),
                "File formats named".into(),
            ),
        ];
        MetadataQuality {
            score: checks.iter().map(|c| c.earned).sum(),
            checks,
        }
    }
}
