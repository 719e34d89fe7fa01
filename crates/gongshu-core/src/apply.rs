//! Applications for conditionally open data (有条件开放, SD-OPEN §14): who may move an
//! application from which state to which, and what an application must say.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldError;
use crate::access::GrantMode;

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationState {
    /// Waiting for the authority's formal check (形式审查).
    FormalCheck,
    /// Waiting for the provider's decision.
    WithProvider,
    /// Approved: the open-use agreement waits for both sides to accept it.
    Approved,
    /// The agreement is accepted by both sides and the grant is in force.
    InForce,
    /// Refused by the provider, with reasons.
    Refused,
    /// Returned by the authority's formal check, with reasons.
    Returned,
    /// Withdrawn by the applicant before it came into force.
    Withdrawn,
}

impl ApplicationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FormalCheck => "formal_check",
            Self::WithProvider => "with_provider",
            Self::Approved => "approved",
            Self::InForce => "in_force",
            Self::Refused => "refused",
            Self::Returned => "returned",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::FormalCheck,
            Self::WithProvider,
            Self::Approved,
            Self::InForce,
            Self::Refused,
            Self::Returned,
            Self::Withdrawn,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Someone still has to act on it.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::FormalCheck | Self::WithProvider | Self::Approved
        )
    }
}

/// Who acts on an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Applicant,
    /// The big-data authority of the provider's region.
    Authority,
    /// The entry's provider.
    Provider,
}

/// What a party does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationAction {
    /// The authority finds the application complete and forwards it.
    PassCheck,
    /// The authority sends it back, with reasons.
    ReturnCheck,
    Approve,
    Refuse,
    Withdraw,
}

/// The state an action leads to, if this party may take it in this state.
pub fn next_state(
    state: ApplicationState,
    action: ApplicationAction,
    party: Party,
) -> Option<ApplicationState> {
    use ApplicationAction as A;
    use ApplicationState as S;
    match (state, action, party) {
        (S::FormalCheck, A::PassCheck, Party::Authority) => Some(S::WithProvider),
        (S::FormalCheck, A::ReturnCheck, Party::Authority) => Some(S::Returned),
        (S::WithProvider, A::Approve, Party::Provider) => Some(S::Approved),
        (S::WithProvider, A::Refuse, Party::Provider) => Some(S::Refused),
        (S::FormalCheck | S::WithProvider | S::Approved, A::Withdraw, Party::Applicant) => {
            Some(S::Withdrawn)
        }
        _ => None,
    }
}

/// Whether the action must state its reasons (a refusal or a return, SD-OPEN §14).
pub fn needs_reason(action: ApplicationAction) -> bool {
    matches!(
        action,
        ApplicationAction::Refuse | ApplicationAction::ReturnCheck
    )
}

/// What the applicant submits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationInput {
    pub dataset_id: i64,
    /// The data items wanted (信息项 names); empty for all.
    #[serde(default)]
    pub items: Vec<String>,
    /// 用途.
    pub purpose: String,
    /// 应用场景.
    pub scenario: String,
    /// How the data will be kept safe (安全保障措施).
    pub security_measures: String,
    pub modes: Vec<GrantMode>,
    /// Days of use wanted, from coming into force (at most five years).
    pub period_days: u32,
    /// The applicant signs the security pledge (安全承诺书).
    pub pledge_accepted: bool,
}

/// The longest period an application may ask for, in days.
pub const MAX_PERIOD_DAYS: u32 = 5 * 366;

impl ApplicationInput {
    /// Problems with the application itself; the item names are checked against the
    /// entry by the caller.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        let mut text = |field: &str, value: &str, max: usize, zh: &str| {
            let n = value.trim().chars().count();
            if n == 0 || n > max {
                out.push(FieldError::new(
                    field,
                    "length",
                    format!("请填写{zh}（不超过{max}字）"),
                    format!("{field} is required, at most {max} characters"),
                ));
            }
        };
        text("purpose", &self.purpose, 2000, "用途");
        text("scenario", &self.scenario, 2000, "应用场景");
        text(
            "security_measures",
            &self.security_measures,
            4000,
            "安全保障措施",
        );
        if self.modes.is_empty() {
            out.push(FieldError::new(
                "modes",
                "required",
                "请至少选择一种使用方式",
                "choose at least one way of access",
            ));
        }
        if self.period_days == 0 || self.period_days > MAX_PERIOD_DAYS {
            out.push(FieldError::new(
                "period_days",
                "range",
                format!("使用期限应在1至{MAX_PERIOD_DAYS}天之间"),
                format!("period_days must be between 1 and {MAX_PERIOD_DAYS}"),
            ));
        }
        if !self.pledge_accepted {
            out.push(FieldError::new(
                "pledge_accepted",
                "required",
                "须签署安全承诺书",
                "the security pledge must be signed",
            ));
        }
        if self.items.len() > 500 {
            out.push(FieldError::new(
                "items",
                "length",
                "信息项最多500个",
                "at most 500 items",
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApplicationAction as A;
    use ApplicationState as S;

    // SD-OPEN §14: the authority checks form, the provider decides, the applicant may
    // withdraw until it is in force; nobody else moves it, and nothing moves it back.
    #[test]
    fn transitions() {
        let all_states = [
            S::FormalCheck,
            S::WithProvider,
            S::Approved,
            S::InForce,
            S::Refused,
            S::Returned,
            S::Withdrawn,
        ];
        let all_actions = [
            A::PassCheck,
            A::ReturnCheck,
            A::Approve,
            A::Refuse,
            A::Withdraw,
        ];
        let allowed = [
            (
                S::FormalCheck,
                A::PassCheck,
                Party::Authority,
                S::WithProvider,
            ),
            (
                S::FormalCheck,
                A::ReturnCheck,
                Party::Authority,
                S::Returned,
            ),
            (S::WithProvider, A::Approve, Party::Provider, S::Approved),
            (S::WithProvider, A::Refuse, Party::Provider, S::Refused),
            (S::FormalCheck, A::Withdraw, Party::Applicant, S::Withdrawn),
            (S::WithProvider, A::Withdraw, Party::Applicant, S::Withdrawn),
            (S::Approved, A::Withdraw, Party::Applicant, S::Withdrawn),
        ];
        for state in all_states {
            for action in all_actions {
                for party in [Party::Applicant, Party::Authority, Party::Provider] {
                    let want = allowed
                        .iter()
                        .find(|(s, a, p, _)| (*s, *a, *p) == (state, action, party))
                        .map(|(_, _, _, to)| *to);
                    assert_eq!(
                        next_state(state, action, party),
                        want,
                        "{state:?} {action:?} by {party:?}"
                    );
                }
            }
            assert_eq!(ApplicationState::parse(state.as_str()), Some(state));
        }
        assert!(needs_reason(A::Refuse) && needs_reason(A::ReturnCheck));
        assert!(!needs_reason(A::Approve));
    }

    #[test]
    fn an_application_says_what_for_and_signs_the_pledge() {
        let good = ApplicationInput {
            dataset_id: 1,
            items: vec![],
            purpose: "研究".into(),
            scenario: "学术论文".into(),
            security_measures: "专机存储".into(),
            modes: vec![GrantMode::Api],
            period_days: 365,
            pledge_accepted: true,
        };
        assert!(good.problems().is_empty());
        let bad = ApplicationInput {
            purpose: " ".into(),
            modes: vec![],
            period_days: 0,
            pledge_accepted: false,
            ..good
        };
        let fields: Vec<_> = bad.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            ["purpose", "modes", "period_days", "pledge_accepted"]
        );
    }
}
