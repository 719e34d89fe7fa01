//! Who may do what: roles scoped to an organisation and/or a region (R9.3). Every
//! endpoint asks one of these functions; none decides on its own.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, ErrorCode};
use crate::region::region_contains;
use crate::types::{OrgKind, Role};

/// One role held by a person, with its scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoleGrant {
    pub role: Role,
    /// The organisation the role acts for (providers, department users, authorities).
    pub org_id: Option<i64>,
    /// The region the role covers, with every region below it (authorities, auditors).
    pub region_code: Option<String>,
}

/// An authenticated caller and everything they may act as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub grants: Vec<RoleGrant>,
    /// Set when the caller uses an API token scoped to this one data grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_scope: Option<i64>,
}

impl Principal {
    pub fn has_role(&self, role: Role) -> bool {
        self.grants.iter().any(|g| g.role == role)
    }

    fn has_org_role(&self, roles: &[Role], org_id: i64) -> bool {
        self.grants
            .iter()
            .any(|g| roles.contains(&g.role) && g.org_id == Some(org_id))
    }

    fn has_region_role(&self, roles: &[Role], region: &str) -> bool {
        self.grants.iter().any(|g| {
            roles.contains(&g.role)
                && g.region_code
                    .as_deref()
                    .is_some_and(|scope| region_contains(scope, region))
        })
    }

    /// The provider organisations this person edits the catalog of.
    pub fn provider_orgs(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self
            .grants
            .iter()
            .filter(|g| matches!(g.role, Role::ProviderAdmin | Role::ProviderReviewer))
            .filter_map(|g| g.org_id)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The regions in which this person reviews as the authority.
    pub fn authority_regions(&self) -> Vec<String> {
        self.grants
            .iter()
            .filter(|g| g.role == Role::AuthorityAdmin)
            .filter_map(|g| g.region_code.clone())
            .collect()
    }

    /// Whether this person is the authority over `region` (or a region containing it).
    pub fn is_authority_over(&self, region: &str) -> bool {
        self.has_region_role(&[Role::AuthorityAdmin], region)
    }

    /// Whether this person oversees `region` as its authority or auditor.
    pub fn oversees_region(&self, region: &str) -> bool {
        self.has_region_role(&[Role::AuthorityAdmin, Role::Auditor], region)
    }

    /// Regions whose unpublished catalog this person may read (authority or auditor).
    pub fn oversight_regions(&self) -> Vec<String> {
        self.grants
            .iter()
            .filter(|g| matches!(g.role, Role::AuthorityAdmin | Role::Auditor))
            .filter_map(|g| g.region_code.clone())
            .collect()
    }
}

/// Where a catalog entry belongs, for the checks below.
#[derive(Debug, Clone, Copy)]
pub struct EntryScope<'a> {
    pub provider_org_id: i64,
    pub provider_region: &'a str,
}

/// A provider's data administrators write its catalog, and nobody else's.
pub fn can_edit_entry(p: &Principal, s: EntryScope<'_>) -> bool {
    p.has_org_role(&[Role::ProviderAdmin], s.provider_org_id)
}

/// A provider's data administrators or reviewers send its entries to the authority.
pub fn can_submit_entry(p: &Principal, s: EntryScope<'_>) -> bool {
    p.has_org_role(
        &[Role::ProviderAdmin, Role::ProviderReviewer],
        s.provider_org_id,
    )
}

/// The authority of the provider's region, or of a region above it, approves
/// (审核后纳入总目录, SD-BIGDATA §16, SX-BIGDATA §22).
pub fn can_review_entry(p: &Principal, s: EntryScope<'_>) -> bool {
    p.has_region_role(&[Role::AuthorityAdmin], s.provider_region)
}

/// The authority withdraws published entries; a provider may discard what was never
/// published, but adjusting the published open list needs the authority (SD-OPEN §10).
pub fn can_withdraw_entry(p: &Principal, s: EntryScope<'_>, ever_published: bool) -> bool {
    can_review_entry(p, s) || (!ever_published && can_edit_entry(p, s))
}

/// Who may read an entry's unpublished working copy and its whole history.
pub fn can_view_working_copy(p: &Principal, s: EntryScope<'_>) -> bool {
    can_submit_entry(p, s)
        || p.has_region_role(&[Role::AuthorityAdmin, Role::Auditor], s.provider_region)
}

/// The whole audit log is read by the system administrator and by the auditors and
/// authority administrators of a province (SD-BIGDATA §33: 全流程审计).
pub fn can_read_whole_audit(p: &Principal) -> bool {
    p.has_role(Role::SystemAdmin)
        || p.grants.iter().any(|g| {
            matches!(g.role, Role::Auditor | Role::AuthorityAdmin)
                && g.region_code
                    .as_deref()
                    .is_some_and(|r| r.ends_with("0000"))
        })
}

/// The audit entries about one catalog entry (who used it, when, under which grant) are
/// read by its provider's administrators and by the auditors and authority of its region.
pub fn can_read_entry_audit(p: &Principal, s: EntryScope<'_>) -> bool {
    can_read_whole_audit(p)
        || can_edit_entry(p, s)
        || p.has_region_role(&[Role::AuthorityAdmin, Role::Auditor], s.provider_region)
}

/// The system administrator, or the authority of the region, registers organisations.
pub fn can_manage_orgs_in(p: &Principal, region: &str) -> bool {
    p.has_role(Role::SystemAdmin) || p.has_region_role(&[Role::AuthorityAdmin], region)
}

/// The system administrator manages accounts; an authority grants roles inside its region.
pub fn can_grant_in(p: &Principal, region: &str, role: Role) -> bool {
    p.has_role(Role::SystemAdmin)
        || (role != Role::SystemAdmin && p.has_region_role(&[Role::AuthorityAdmin], region))
}

/// What a role must be attached to; refuses grants that make no sense, such as a provider
/// administrator of an authority or an auditor with no region.
pub fn check_grant_shape(
    role: Role,
    org_kind: Option<OrgKind>,
    region: Option<&str>,
) -> Result<(), Error> {
    let ok = match role {
        Role::SystemAdmin | Role::Registered => org_kind.is_none(),
        Role::ProviderAdmin | Role::ProviderReviewer => org_kind == Some(OrgKind::Provider),
        Role::DeptUser => org_kind.is_some(),
        Role::AuthorityAdmin => org_kind == Some(OrgKind::Authority),
        Role::Auditor => org_kind.is_none() && region.is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::Validation,
            format!("角色“{}”的授权范围不正确", role.label_zh()),
            format!("the scope given for role {role} does not fit it"),
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn person(grants: &[(Role, Option<i64>, Option<&str>)]) -> Principal {
        Principal {
            user_id: 1,
            username: "t".into(),
            grants: grants
                .iter()
                .map(|(role, org_id, region)| RoleGrant {
                    role: *role,
                    org_id: *org_id,
                    region_code: region.map(str::to_owned),
                })
                .collect(),
            grant_scope: None,
        }
    }

    const ZIBO_ENTRY: EntryScope<'static> = EntryScope {
        provider_org_id: 7,
        provider_region: "370300",
    };

    // R9.3 and SD-BIGDATA §16: each role against an entry of provider 7 in 淄博 (370300).
    #[test]
    fn role_table_for_one_entry() {
        use Role::*;
        // (who, edit, submit, review, view working copy)
        let table: &[(&str, Principal, [bool; 4])] = &[
            (
                "own provider admin",
                person(&[(ProviderAdmin, Some(7), None)]),
                [true, true, false, true],
            ),
            (
                "own reviewer",
                person(&[(ProviderReviewer, Some(7), None)]),
                [false, true, false, true],
            ),
            (
                "other provider",
                person(&[(ProviderAdmin, Some(8), None)]),
                [false, false, false, false],
            ),
            (
                "province authority",
                person(&[(AuthorityAdmin, Some(1), Some("370000"))]),
                [false, false, true, true],
            ),
            (
                "Zibo authority",
                person(&[(AuthorityAdmin, Some(2), Some("370300"))]),
                [false, false, true, true],
            ),
            (
                "Jinan authority",
                person(&[(AuthorityAdmin, Some(3), Some("370100"))]),
                [false, false, false, false],
            ),
            (
                "county authority",
                person(&[(AuthorityAdmin, Some(4), Some("370303"))]),
                [false, false, false, false],
            ),
            (
                "auditor of the province",
                person(&[(Auditor, None, Some("370000"))]),
                [false, false, false, true],
            ),
            (
                "system admin",
                person(&[(SystemAdmin, None, None)]),
                [false, false, false, false],
            ),
            (
                "department user",
                person(&[(DeptUser, Some(7), None)]),
                [false, false, false, false],
            ),
            (
                "registered user",
                person(&[(Registered, None, None)]),
                [false, false, false, false],
            ),
        ];
        for (who, p, [edit, submit, review, view]) in table {
            assert_eq!(can_edit_entry(p, ZIBO_ENTRY), *edit, "{who} edit");
            assert_eq!(can_submit_entry(p, ZIBO_ENTRY), *submit, "{who} submit");
            assert_eq!(can_review_entry(p, ZIBO_ENTRY), *review, "{who} review");
            assert_eq!(can_view_working_copy(p, ZIBO_ENTRY), *view, "{who} view");
        }
    }

    // SD-OPEN §10: withdrawing from the published list needs the authority.
    #[test]
    fn withdrawal() {
        let provider = person(&[(Role::ProviderAdmin, Some(7), None)]);
        let authority = person(&[(Role::AuthorityAdmin, Some(2), Some("370300"))]);
        assert!(can_withdraw_entry(&provider, ZIBO_ENTRY, false));
        assert!(!can_withdraw_entry(&provider, ZIBO_ENTRY, true));
        assert!(can_withdraw_entry(&authority, ZIBO_ENTRY, true));
    }

    #[test]
    fn grants_are_scoped() {
        let authority = person(&[(Role::AuthorityAdmin, Some(2), Some("370300"))]);
        assert!(can_grant_in(&authority, "370303", Role::ProviderAdmin));
        assert!(!can_grant_in(&authority, "370100", Role::ProviderAdmin));
        assert!(!can_grant_in(&authority, "370300", Role::SystemAdmin));
        assert!(can_manage_orgs_in(&authority, "370302"));
        assert!(!can_manage_orgs_in(&authority, "370000"));
        let admin = person(&[(Role::SystemAdmin, None, None)]);
        assert!(can_grant_in(&admin, "610000", Role::SystemAdmin));
    }

    #[test]
    fn grant_shapes() {
        use OrgKind::*;
        use Role::*;
        let cases = [
            (ProviderAdmin, Some(Provider), None, true),
            (ProviderAdmin, Some(Authority), None, false),
            (ProviderAdmin, None, None, false),
            (AuthorityAdmin, Some(Authority), Some("370000"), true),
            (AuthorityAdmin, Some(Provider), Some("370000"), false),
            (Auditor, None, Some("370000"), true),
            (Auditor, None, None, false),
            (SystemAdmin, None, None, true),
            (SystemAdmin, Some(Provider), None, false),
            (DeptUser, Some(Provider), None, true),
        ];
        for (role, kind, region, ok) in cases {
            assert_eq!(
                check_grant_shape(role, kind, region).is_ok(),
                ok,
                "{role} {kind:?}"
            );
        }
    }
}
