//! Changes of a published entry's open and share types (SD-OPEN §8, §10, §20(四);
//! SX-BIGDATA §28, §31): toward more open the provider decides and the change applies at
//! once; toward less open (or less shared) the authority of the provider's region must
//! approve, and until it does nothing changes. 不予开放 data opens only de-identified or
//! with the rights holder's recorded consent. The grade cap holds on every change.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::{DatasetDraft, GradeCapPolicy, MAX_TEXT};
use crate::types::{OpenType, ShareType};
use crate::{Error, ErrorCode, FieldError};

/// What allows a 不予开放 entry to open (SD-OPEN §8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OpeningBasis {
    /// The data is opened only de-identified: the entry is marked so, and the access
    /// gate serves it through de-identification, never raw.
    Deidentified,
    /// The rights holder consented; the consent is recorded with the change.
    Consent {
        /// Who consented (the natural or legal person the data concerns).
        holder: String,
        /// The consent document: its number, or where it is filed.
        document: String,
        #[schema(value_type = String, format = Date)]
        given_on: NaiveDate,
    },
}

/// A provider's change of the open or share type of a published entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeChangeInput {
    pub open_type: Option<OpenType>,
    /// The new open condition; the current one is kept when absent.
    pub open_condition: Option<String>,
    pub share_type: Option<ShareType>,
    /// The new share condition; the current one is kept when absent.
    pub share_condition: Option<String>,
    /// Why: required for every change, recorded in the history.
    #[serde(default)]
    pub reason: String,
    /// The law, regulation or rule relied on; required toward less open or less shared,
    /// and it becomes the entry's legal basis.
    #[serde(default)]
    pub legal_basis: String,
    /// Required to open a 不予开放 entry.
    pub opening_basis: Option<OpeningBasis>,
}

/// Who decides a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeRoute {
    /// Toward more open or more shared: the provider decides, the change applies at once.
    Immediate,
    /// Toward less open or less shared: the authority must approve first.
    Authority,
}

impl ChangeRoute {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Immediate => "immediate",
            Self::Authority => "authority",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Immediate, Self::Authority]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Where a change request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeState {
    /// Waiting for the authority.
    Pending,
    /// In effect: applied at once, or approved and applied.
    Applied,
    /// Refused by the authority, with reasons.
    Refused,
    /// Withdrawn by the provider before a decision.
    Withdrawn,
}

impl ChangeState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Applied => "applied",
            Self::Refused => "refused",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Applied, Self::Refused, Self::Withdrawn]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

impl AttributeChangeInput {
    /// The entry as it would be after the change, and who must decide it. Every problem
    /// is reported at once; the grade cap is checked on the result.
    pub fn apply_to(
        &self,
        current: &DatasetDraft,
        policy: &GradeCapPolicy,
    ) -> Result<(DatasetDraft, ChangeRoute), Error> {
        let mut next = current.clone();
        if let Some(t) = self.open_type {
            next.open_type = t;
        }
        if let Some(t) = self.share_type {
            next.share_type = t;
        }
        if let Some(c) = &self.open_condition {
            next.open_condition = c.trim().to_owned();
        }
        if let Some(c) = &self.share_condition {
            next.share_condition = c.trim().to_owned();
        }
        if !self.legal_basis.trim().is_empty() {
            next.legal_basis = self.legal_basis.trim().to_owned();
        }
        if next.open_type == OpenType::Unconditional {
            next.open_condition.clear();
        }
        if next.share_type == ShareType::Unconditional {
            next.share_condition.clear();
        }
        let less_open = next.open_type.rank() > current.open_type.rank();
        let less_shared = next.share_type.rank() > current.share_type.rank();
        let route = if less_open || less_shared {
            ChangeRoute::Authority
        } else {
            ChangeRoute::Immediate
        };

        let mut e = Vec::new();
        if next.open_type == current.open_type
            && next.share_type == current.share_type
            && next.open_condition == current.open_condition
            && next.share_condition == current.share_condition
        {
            e.push(FieldError::new(
                "open_type",
                "unchanged",
                "开放类型、共享类型及其条件均未改变",
                "Neither the open nor the share type (nor their conditions) changes",
            ));
        }
        let reason = self.reason.trim();
        if reason.is_empty() {
            e.push(FieldError::new(
                "reason",
                "required",
                "请说明变更理由",
                "State the reasons for the change",
            ));
        }
        for (field, value) in [("reason", reason), ("legal_basis", self.legal_basis.trim())] {
            if value.chars().count() > MAX_TEXT {
                e.push(FieldError::new(
                    field,
                    "too_long",
                    format!("不得超过{MAX_TEXT}个字符"),
                    format!("at most {MAX_TEXT} characters"),
                ));
            }
        }
        // SD-OPEN §10, SX-BIGDATA §31: a restriction cites the rule it rests on.
        if route == ChangeRoute::Authority && self.legal_basis.trim().is_empty() {
            e.push(FieldError::new(
                "legal_basis",
                "required",
                "向更不开放或更不共享方向变更，须注明法律、法规和规章依据",
                "A change toward less open or less shared must cite its legal basis",
            ));
        }
        let opens_closed = current.open_type == OpenType::None && next.open_type != OpenType::None;
        match (&self.opening_basis, opens_closed) {
            (None, true) => e.push(FieldError::new(
                "opening_basis",
                "required",
                "不予开放数据转为开放，须经脱敏处理或取得权利人同意（SD-OPEN §8）",
                "不予开放 data opens only de-identified or with the rights holder's consent (SD-OPEN §8)",
            )),
            (Some(_), false) => e.push(FieldError::new(
                "opening_basis",
                "not_applicable",
                "只有不予开放数据转为开放时才需说明开放依据",
                "An opening basis is given only when 不予开放 data opens",
            )),
            (Some(OpeningBasis::Deidentified), true) => next.deidentify = true,
            (Some(OpeningBasis::Consent { holder, document, .. }), true) => {
                for (field, value) in [
                    ("opening_basis.holder", holder),
                    ("opening_basis.document", document),
                ] {
                    if value.trim().is_empty() {
                        e.push(FieldError::new(
                            field,
                            "required",
                            "请写明同意的权利人及同意书",
                            "Name the consenting rights holder and the consent document",
                        ));
                    } else if value.chars().count() > 200 {
                        e.push(FieldError::new(
                            field,
                            "too_long",
                            "不得超过200个字符",
                            "at most 200 characters",
                        ));
                    }
                }
            }
            (None, false) => {}
        }
        // Closing an entry again drops a de-identification mark that only opening set.
        if next.open_type == OpenType::None {
            next.deidentify = false;
        }
        if let Err(err) = next.validate(policy) {
            match err.code {
                ErrorCode::Validation => e.extend(err.fields),
                _ => return Err(err),
            }
        }
        let mut seen = std::collections::HashSet::new();
        e.retain(|f| seen.insert((f.field.clone(), f.code)));
        if e.is_empty() {
            Ok((next, route))
        } else {
            Err(Error::validation(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::tests::sample;
    use crate::types::Grade;

    fn change(open: Option<OpenType>, share: Option<ShareType>) -> AttributeChangeInput {
        AttributeChangeInput {
            open_type: open,
            open_condition: Some("实名注册并签订协议".into()),
            share_type: share,
            share_condition: Some("用于法定职责".into()),
            reason: "调整".into(),
            legal_basis: "《山东省公共数据开放办法》第八条".into(),
            opening_basis: None,
        }
    }

    fn entry(open: OpenType, share: ShareType, grade: Grade) -> DatasetDraft {
        let mut d = sample();
        d.open_type = open;
        d.share_type = share;
        d.grade = grade;
        for i in &mut d.items {
            i.grade = grade;
        }
        d.legal_basis = "《山东省公共数据开放办法》".into();
        if open == OpenType::Conditional {
            d.open_condition = "实名注册".into();
        }
        if share == ShareType::Conditional {
            d.share_condition = "用于法定职责".into();
        }
        d
    }

    fn fields(r: Result<(DatasetDraft, ChangeRoute), Error>) -> Vec<String> {
        match r {
            Ok(_) => vec![],
            Err(e) => e
                .fields
                .into_iter()
                .map(|f| format!("{}:{}", f.field, f.code))
                .collect(),
        }
    }

    // SD-OPEN §8 / §20(四), SX-BIGDATA §31: who decides which direction.
    #[test]
    fn direction_decides_the_route() {
        use OpenType as O;
        use ShareType as S;
        let policy = GradeCapPolicy::default();
        let g1 = Grade::General1;
        let table = [
            // (current open, current share, new open, new share, route)
            (
                O::Conditional,
                S::Conditional,
                Some(O::Unconditional),
                None,
                ChangeRoute::Immediate,
            ),
            (
                O::Unconditional,
                S::Conditional,
                Some(O::Conditional),
                None,
                ChangeRoute::Authority,
            ),
            (
                O::Unconditional,
                S::Conditional,
                Some(O::None),
                None,
                ChangeRoute::Authority,
            ),
            (
                O::Conditional,
                S::Conditional,
                Some(O::None),
                None,
                ChangeRoute::Authority,
            ),
            (
                O::Conditional,
                S::Conditional,
                None,
                Some(S::Unconditional),
                ChangeRoute::Immediate,
            ),
            (
                O::Conditional,
                S::Unconditional,
                None,
                Some(S::Conditional),
                ChangeRoute::Authority,
            ),
            (
                O::Conditional,
                S::Conditional,
                None,
                Some(S::None),
                ChangeRoute::Authority,
            ),
            // One step more open and one less shared: the authority decides the whole.
            (
                O::Conditional,
                S::Unconditional,
                Some(O::Unconditional),
                Some(S::Conditional),
                ChangeRoute::Authority,
            ),
        ];
        for (i, (open, share, new_open, new_share, route)) in table.into_iter().enumerate() {
            let got = change(new_open, new_share).apply_to(&entry(open, share, g1), &policy);
            let (next, got_route) = got.unwrap_or_else(|e| panic!("row {i}: {e:?}"));
            assert_eq!(got_route, route, "row {i}");
            assert_eq!(next.open_type, new_open.unwrap_or(open), "row {i}");
            assert_eq!(next.share_type, new_share.unwrap_or(share), "row {i}");
        }
    }

    // SD-OPEN §8: 不予开放 opens only de-identified or with recorded consent.
    #[test]
    fn closed_data_opens_only_deidentified_or_with_consent() {
        let policy = GradeCapPolicy::default();
        let closed = entry(OpenType::None, ShareType::Conditional, Grade::General1);
        let mut c = change(Some(OpenType::Conditional), None);
        assert_eq!(
            fields(c.apply_to(&closed, &policy)),
            ["opening_basis:required"]
        );
        c.opening_basis = Some(OpeningBasis::Deidentified);
        let (next, route) = c.apply_to(&closed, &policy).unwrap();
        assert!(next.deidentify);
        assert_eq!(route, ChangeRoute::Immediate);
        c.opening_basis = Some(OpeningBasis::Consent {
            holder: " ".into(),
            document: "同意书〔2026〕3号".into(),
            given_on: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        });
        assert_eq!(
            fields(c.apply_to(&closed, &policy)),
            ["opening_basis.holder:required"]
        );
        c.opening_basis = Some(OpeningBasis::Consent {
            holder: "某某有限公司".into(),
            document: "同意书〔2026〕3号".into(),
            given_on: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        });
        let (next, _) = c.apply_to(&closed, &policy).unwrap();
        assert!(!next.deidentify);
        // A basis where none is needed is a mistake, not a no-op.
        let open = entry(
            OpenType::Conditional,
            ShareType::Conditional,
            Grade::General1,
        );
        let mut c = change(Some(OpenType::Unconditional), None);
        c.opening_basis = Some(OpeningBasis::Deidentified);
        assert_eq!(
            fields(c.apply_to(&open, &policy)),
            ["opening_basis:not_applicable"]
        );
    }

    // R6.1: no change opens above what the grade allows.
    #[test]
    fn the_grade_cap_holds_on_every_change() {
        let policy = GradeCapPolicy::default();
        let g3 = entry(
            OpenType::Conditional,
            ShareType::Conditional,
            Grade::General3,
        );
        let got = fields(change(Some(OpenType::Unconditional), None).apply_to(&g3, &policy));
        assert!(got.iter().any(|f| f.starts_with("open_type:")), "{got:?}");
        let important = entry(OpenType::None, ShareType::Conditional, Grade::Important);
        let mut c = change(Some(OpenType::Conditional), None);
        c.opening_basis = Some(OpeningBasis::Deidentified);
        let got = fields(c.apply_to(&important, &policy));
        assert!(got.iter().any(|f| f.starts_with("open_type:")), "{got:?}");
    }

    #[test]
    fn restrictions_need_reasons_and_legal_basis() {
        let policy = GradeCapPolicy::default();
        let open = entry(
            OpenType::Unconditional,
            ShareType::Unconditional,
            Grade::General1,
        );
        let mut c = change(Some(OpenType::Conditional), None);
        c.reason = " ".into();
        c.legal_basis = String::new();
        let mut open_no_basis = open.clone();
        open_no_basis.legal_basis.clear();
        assert_eq!(
            fields(c.apply_to(&open_no_basis, &policy)),
            ["reason:required", "legal_basis:required"]
        );
        let same = change(None, None);
        let mut same = same;
        same.open_condition = None;
        same.share_condition = None;
        assert_eq!(
            fields(same.apply_to(&open, &policy)),
            ["open_type:unchanged"]
        );
    }
}
