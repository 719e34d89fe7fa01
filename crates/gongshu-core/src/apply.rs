//! Applications for conditionally open data (有条件开放, SD-OPEN §14) and a department's
//! requests for conditionally shared data (有条件共享, SD-EGOV §23): who may move one from
//! which state to which, and what it must say.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldError;
use crate::access::{GrantKind, GrantMode};

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
    /// A sharing request whose refusal the requesting department disputes: the
    /// authority arbitrates (SD-EGOV §23).
    Disputed,
    /// The authority upheld the refusal.
    Upheld,
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
            Self::Disputed => "disputed",
            Self::Upheld => "upheld",
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
            Self::Disputed,
            Self::Upheld,
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
    /// The requesting department disputes a refusal of its sharing request.
    Dispute,
    /// The authority upholds the disputed refusal.
    Uphold,
    /// The authority overturns the disputed refusal: the data is shared.
    Overturn,
}

impl ApplicationAction {
    pub const ALL: [Self; 8] = [
        Self::PassCheck,
        Self::ReturnCheck,
        Self::Approve,
        Self::Refuse,
        Self::Withdraw,
        Self::Dispute,
        Self::Uphold,
        Self::Overturn,
    ];
}

/// The state an action leads to, if this party may take it in this state. Opening ends
/// in an agreement both sides accept; sharing is in force once approved, and a refusal
/// may be disputed before the authority once.
pub fn next_state(
    kind: GrantKind,
    state: ApplicationState,
    action: ApplicationAction,
    party: Party,
) -> Option<ApplicationState> {
    use ApplicationAction as A;
    use ApplicationState as S;
    match (kind, state, action, party) {
        (_, S::FormalCheck, A::PassCheck, Party::Authority) => Some(S::WithProvider),
        (_, S::FormalCheck, A::ReturnCheck, Party::Authority) => Some(S::Returned),
        (GrantKind::Open, S::WithProvider, A::Approve, Party::Provider) => Some(S::Approved),
        (GrantKind::Share, S::WithProvider, A::Approve, Party::Provider) => Some(S::InForce),
        (_, S::WithProvider, A::Refuse, Party::Provider) => Some(S::Refused),
        (
            GrantKind::Open,
            S::FormalCheck | S::WithProvider | S::Approved,
            A::Withdraw,
            Party::Applicant,
        )
        | (
            GrantKind::Share,
            S::FormalCheck | S::WithProvider | S::Disputed,
            A::Withdraw,
            Party::Applicant,
        ) => Some(S::Withdrawn),
        (GrantKind::Share, S::Refused, A::Dispute, Party::Applicant) => Some(S::Disputed),
        (GrantKind::Share, S::Disputed, A::Uphold, Party::Authority) => Some(S::Upheld),
        (GrantKind::Share, S::Disputed, A::Overturn, Party::Authority) => Some(S::InForce),
        _ => None,
    }
}

/// Whether the action must state its reasons: refusals, returns, disputes and the
/// authority's arbitration (SD-OPEN §14, SD-EGOV §23).
pub fn needs_reason(action: ApplicationAction) -> bool {
    !matches!(
        action,
        ApplicationAction::PassCheck | ApplicationAction::Approve | ApplicationAction::Withdraw
    )
}

/// What the applicant submits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationInput {
    /// `open` (a registered user, SD-OPEN §14; the default) or `share` (a department
    /// user for their department, SD-EGOV §23).
    #[serde(default = "open_kind")]
    pub kind: GrantKind,
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
    /// The applicant signs the security pledge (安全承诺书); required to open data.
    #[serde(default)]
    pub pledge_accepted: bool,
    /// The statutory duty the shared data serves (法定职责); required to share data.
    #[serde(default)]
    pub legal_duty: String,
}

fn open_kind() -> GrantKind {
    GrantKind::Open
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
        if self.kind == GrantKind::Share {
            text("legal_duty", &self.legal_duty, 2000, "所依据的法定职责");
        }
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
        if self.kind == GrantKind::Open && !self.pledge_accepted {
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

    // SD-OPEN §14 and SD-EGOV §23: the authority checks form, the provider decides, a
    // department may dispute a refused sharing request once and the authority decides;
    // the applicant may withdraw until it is in force; nobody else moves it.
    #[test]
    fn transitions() {
        use GrantKind::{Open, Share};
        let all_states = [
            S::FormalCheck,
            S::WithProvider,
            S::Approved,
            S::InForce,
            S::Refused,
            S::Returned,
            S::Withdrawn,
            S::Disputed,
            S::Upheld,
        ];
        let all_actions = [
            A::PassCheck,
            A::ReturnCheck,
            A::Approve,
            A::Refuse,
            A::Withdraw,
            A::Dispute,
            A::Uphold,
            A::Overturn,
        ];
        let both = |s, a, p, to| [(Open, s, a, p, to), (Share, s, a, p, to)];
        let mut allowed = Vec::new();
        allowed.extend(both(
            S::FormalCheck,
            A::PassCheck,
            Party::Authority,
            S::WithProvider,
        ));
        allowed.extend(both(
            S::FormalCheck,
            A::ReturnCheck,
            Party::Authority,
            S::Returned,
        ));
        allowed.extend(both(
            S::WithProvider,
            A::Refuse,
            Party::Provider,
            S::Refused,
        ));
        allowed.extend(both(
            S::FormalCheck,
            A::Withdraw,
            Party::Applicant,
            S::Withdrawn,
        ));
        allowed.extend(both(
            S::WithProvider,
            A::Withdraw,
            Party::Applicant,
            S::Withdrawn,
        ));
        allowed.extend([
            (
                Open,
                S::WithProvider,
                A::Approve,
                Party::Provider,
                S::Approved,
            ),
            (
                Open,
                S::Approved,
                A::Withdraw,
                Party::Applicant,
                S::Withdrawn,
            ),
            (
                Share,
                S::WithProvider,
                A::Approve,
                Party::Provider,
                S::InForce,
            ),
            (Share, S::Refused, A::Dispute, Party::Applicant, S::Disputed),
            (Share, S::Disputed, A::Uphold, Party::Authority, S::Upheld),
            (
                Share,
                S::Disputed,
                A::Overturn,
                Party::Authority,
                S::InForce,
            ),
            (
                Share,
                S::Disputed,
                A::Withdraw,
                Party::Applicant,
                S::Withdrawn,
            ),
        ]);
        for kind in [Open, Share] {
            for state in all_states {
                for action in all_actions {
                    for party in [Party::Applicant, Party::Authority, Party::Provider] {
                        let want = allowed
                            .iter()
                            .find(|(k, s, a, p, _)| {
                                (*k, *s, *a, *p) == (kind, state, action, party)
                            })
                            .map(|(_, _, _, _, to)| *to);
                        assert_eq!(
                            next_state(kind, state, action, party),
                            want,
                            "{kind:?} {state:?} {action:?} by {party:?}"
                        );
                    }
                }
                assert_eq!(ApplicationState::parse(state.as_str()), Some(state));
            }
        }
        assert!(needs_reason(A::Refuse) && needs_reason(A::ReturnCheck));
        assert!(needs_reason(A::Dispute) && needs_reason(A::Uphold) && needs_reason(A::Overturn));
        assert!(!needs_reason(A::Approve) && !needs_reason(A::Withdraw));
    }

    #[test]
    fn an_application_says_what_for_and_signs_the_pledge() {
        let good = ApplicationInput {
            kind: GrantKind::Open,
            dataset_id: 1,
            items: vec![],
            purpose: "研究".into(),
            scenario: "学术论文".into(),
            security_measures: "专机存储".into(),
            modes: vec![GrantMode::Api],
            period_days: 365,
            pledge_accepted: true,
            legal_duty: String::new(),
        };
        assert!(good.problems().is_empty());
        // A department shares for a statutory duty and signs no pledge.
        let share = ApplicationInput {
            kind: GrantKind::Share,
            pledge_accepted: false,
            ..good.clone()
        };
        let fields: Vec<_> = share.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["legal_duty"]);
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
