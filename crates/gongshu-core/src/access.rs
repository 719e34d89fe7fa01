//! The access gate: the single place that decides what a caller may have of a catalog
//! entry and in which form. Every path that lets data or metadata leave the platform asks
//! `decide` first and logs the decision (design.md, "Access gate").

use serde::Serialize;
use utoipa::ToSchema;

use crate::authz::{EntryScope, Principal, can_edit_entry, can_view_working_copy};
use crate::catalog::GradeCapPolicy;
use crate::types::{Grade, OpenType};

/// What the caller wants to do with the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessMode {
    /// Read its catalog metadata (list, detail, search, count, feeds).
    Metadata,
    /// See the first rows on the dataset page.
    Preview,
    /// Download files.
    Download,
    /// Read rows through the data-service API.
    Api,
    /// Query it with SQL.
    Sql,
}

/// Why access was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// The entry is not published and the caller has no part in it: answer as if it did
    /// not exist, so that drafts never leak, not even their existence.
    NotVisible,
    /// 有条件开放: needs an approved application and grant.
    NeedsGrant,
    /// 不予开放, or the grade forbids opening.
    Closed,
}

/// The form in which the caller receives the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "view", content = "reason")]
pub enum View {
    Raw,
    Deidentified,
    AggregateOnly,
    Denied(DenyReason),
}

/// The facts about an entry the gate decides on.
#[derive(Debug, Clone, Copy)]
pub struct EntryFacts<'a> {
    pub scope: EntryScope<'a>,
    pub published: bool,
    pub open_type: OpenType,
    pub grade: Grade,
}

pub fn decide(
    caller: Option<&Principal>,
    entry: EntryFacts<'_>,
    mode: AccessMode,
    policy: &GradeCapPolicy,
) -> View {
    let manages = caller.is_some_and(|p| can_view_working_copy(p, entry.scope));
    if mode == AccessMode::Metadata {
        return if entry.published || manages {
            View::Raw
        } else {
            View::Denied(DenyReason::NotVisible)
        };
    }
    if !entry.published && !manages {
        return View::Denied(DenyReason::NotVisible);
    }
    // The provider always reads its own data as it holds it.
    if caller.is_some_and(|p| can_edit_entry(p, entry.scope)) {
        return View::Raw;
    }
    if !entry.published {
        return View::Denied(DenyReason::NotVisible);
    }
    let cap = policy.cap(entry.grade);
    // The effective open type is the stricter of the declared one and the grade's cap.
    let effective = if entry.open_type.rank() >= cap.max_open.rank() {
        entry.open_type
    } else {
        cap.max_open
    };
    match effective {
        OpenType::Unconditional if cap.deidentify => View::Deidentified,
        OpenType::Unconditional => View::Raw,
        OpenType::Conditional => View::Denied(DenyReason::NeedsGrant),
        OpenType::None => View::Denied(DenyReason::Closed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::tests::person;
    use crate::types::Role;

    fn facts(published: bool, open_type: OpenType, grade: Grade) -> EntryFacts<'static> {
        EntryFacts {
            scope: EntryScope {
                provider_org_id: 7,
                provider_region: "370300",
            },
            published,
            open_type,
            grade,
        }
    }

    // Design "Access gate": principal × publication × open type × grade × mode.
    #[test]
    fn decision_table() {
        use AccessMode::*;
        use DenyReason::*;
        use OpenType::{Conditional, Unconditional};
        let owner = person(&[(Role::ProviderAdmin, Some(7), None)]);
        let stranger = person(&[(Role::Registered, None, None)]);
        let authority = person(&[(Role::AuthorityAdmin, Some(2), Some("370300"))]);
        let policy = GradeCapPolicy::default();
        let g1 = Grade::General1;
        let table: &[(Option<&Principal>, EntryFacts<'_>, AccessMode, View)] = &[
            (None, facts(true, Unconditional, g1), Metadata, View::Raw),
            (
                None,
                facts(false, Unconditional, g1),
                Metadata,
                View::Denied(NotVisible),
            ),
            (
                Some(&stranger),
                facts(false, Unconditional, g1),
                Metadata,
                View::Denied(NotVisible),
            ),
            (
                Some(&owner),
                facts(false, Unconditional, g1),
                Metadata,
                View::Raw,
            ),
            (
                Some(&authority),
                facts(false, Unconditional, g1),
                Metadata,
                View::Raw,
            ),
            (None, facts(true, Unconditional, g1), Download, View::Raw),
            (
                None,
                facts(false, Unconditional, g1),
                Download,
                View::Denied(NotVisible),
            ),
            (
                None,
                facts(true, Conditional, Grade::General3),
                Api,
                View::Denied(NeedsGrant),
            ),
            (
                None,
                facts(true, OpenType::None, Grade::Important),
                Sql,
                View::Denied(Closed),
            ),
            (
                Some(&owner),
                facts(true, OpenType::None, Grade::Important),
                Download,
                View::Raw,
            ),
            (
                Some(&owner),
                facts(false, OpenType::None, Grade::Core),
                Preview,
                View::Raw,
            ),
            (
                Some(&authority),
                facts(false, Unconditional, g1),
                Download,
                View::Denied(NotVisible),
            ),
            // A stale open type above the grade's cap is still capped at access time.
            (
                None,
                facts(true, Unconditional, Grade::General4),
                Download,
                View::Denied(Closed),
            ),
            (
                None,
                facts(true, Unconditional, Grade::General2),
                Download,
                View::Denied(NeedsGrant),
            ),
        ];
        for (i, (caller, entry, mode, want)) in table.iter().enumerate() {
            assert_eq!(decide(*caller, *entry, *mode, &policy), *want, "row {i}");
        }
    }
}
