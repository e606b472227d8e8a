//! Who may do what. A principal — an agent program or a person — holds one access role, and
//! people who review also hold reviewer roles.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::item::Actor;
use crate::types::{PrincipalId, Role, WorkspaceId, string_enum};

string_enum!(
    /// The access role of an API key or account.
    AccessRole {
        /// A program: submits items and reads its own.
        Agent => "agent",
        /// A person who reviews items in their reviewer roles.
        Reviewer => "reviewer",
        /// A queue lead: reviews in every role, manages policies and decision codes.
        Lead => "lead",
        /// Manages everything, including keys.
        Admin => "admin",
    }
);

/// Something a principal may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Submit items.
    SubmitItems,
    /// Read items they submitted.
    ReadOwnItems,
    /// Read every item of the workspace, with its audit trail.
    ReadAllItems,
    /// Claim and decide items.
    Review,
    /// Read policies.
    ReadPolicies,
    /// Create and replace policies, define decision codes.
    ManagePolicies,
    /// Create, list and revoke keys.
    ManageKeys,
}

/// An authenticated principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Principal {
    /// Unique id.
    pub id: PrincipalId,
    /// Its workspace; it sees nothing outside it.
    pub workspace: WorkspaceId,
    /// Unique within the workspace.
    pub name: String,
    /// Its access role.
    pub access: AccessRole,
    /// Reviewer roles held (reviewers only; leads and admins hold every role).
    pub reviewer_roles: Vec<Role>,
}

impl Principal {
    /// Whether the principal holds `permission`.
    pub fn can(&self, permission: Permission) -> bool {
        use Permission::*;
        match self.access {
            AccessRole::Agent => matches!(permission, SubmitItems | ReadOwnItems),
            AccessRole::Reviewer => {
                matches!(permission, ReadOwnItems | ReadAllItems | ReadPolicies)
                    || (permission == Review && !self.reviewer_roles.is_empty())
            }
            AccessRole::Lead => !matches!(permission, ManageKeys | SubmitItems),
            AccessRole::Admin => true,
        }
    }

    /// The reviewer roles the principal may act in.
    pub fn effective_roles(&self) -> Vec<Role> {
        match self.access {
            AccessRole::Agent => Vec::new(),
            AccessRole::Reviewer => self.reviewer_roles.clone(),
            AccessRole::Lead | AccessRole::Admin => Role::ALL.to_vec(),
        }
    }

    /// The principal as an actor in records.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id,
            name: self.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(access: AccessRole, roles: &[Role]) -> Principal {
        Principal {
            id: PrincipalId::new(),
            workspace: WorkspaceId::default_workspace(),
            name: "p".into(),
            access,
            reviewer_roles: roles.to_vec(),
        }
    }

    #[test]
    fn agents_submit_and_read_their_own_only() {
        let a = principal(AccessRole::Agent, &[]);
        assert!(a.can(Permission::SubmitItems) && a.can(Permission::ReadOwnItems));
        assert!(!a.can(Permission::ReadAllItems) && !a.can(Permission::Review));
        assert!(!a.can(Permission::ManagePolicies) && !a.can(Permission::ManageKeys));
    }

    #[test]
    fn reviewers_review_but_do_not_manage() {
        let r = principal(AccessRole::Reviewer, &[Role::Triage]);
        assert!(r.can(Permission::Review) && r.can(Permission::ReadAllItems));
        assert!(!r.can(Permission::ManagePolicies) && !r.can(Permission::SubmitItems));
        assert!(!principal(AccessRole::Reviewer, &[]).can(Permission::Review));
    }

    #[test]
    fn leads_manage_policies_admins_everything() {
        let l = principal(AccessRole::Lead, &[]);
        assert!(l.can(Permission::ManagePolicies) && l.can(Permission::Review));
        assert!(!l.can(Permission::ManageKeys));
        assert_eq!(l.effective_roles(), Role::ALL);
        assert!(principal(AccessRole::Admin, &[]).can(Permission::ManageKeys));
    }
}
