//! The audit trail: every state change is one entry, and entries form a SHA-256 hash chain per
//! workspace, so that altering or removing any entry is detectable by [`ChainVerifier`].
//!
//! An entry's hash covers its predecessor's hash and all of its own fields, serialised as one
//! JSON array. The first entry of a workspace links to [`GENESIS`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::clock::{Timestamp, to_millis};
use crate::item::Actor;
use crate::types::{ItemId, PrincipalId, WorkspaceId, string_enum};

/// The `prev_hash` of a workspace's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

string_enum!(
    /// What happened. Stable names; new actions are only ever added.
    AuditAction {
        /// An agent submitted an item and the pipeline routed it.
        Submitted => "submitted",
        /// A reviewer leased an item.
        Claimed => "claimed",
        /// A lease lapsed and the item went back to its queue.
        LeaseExpired => "lease_expired",
        /// A reviewer approved (final, or awaiting a second person).
        Approved => "approved",
        /// A reviewer approved an edited payload (final, or awaiting a second person).
        Edited => "edited",
        /// A reviewer rejected.
        Rejected => "rejected",
        /// A reviewer escalated to a higher role.
        Escalated => "escalated",
        /// A second person confirmed the first one's approval.
        Confirmed => "confirmed",
        /// A second person sent the first one's approval back to review.
        SentBack => "sent_back",
        /// A policy was created or replaced.
        PolicyPut => "policy_put",
        /// An API key was created.
        KeyCreated => "key_created",
        /// An API key was revoked.
        KeyRevoked => "key_revoked",
        /// A workspace decision code was defined.
        CodeDefined => "code_defined",
        /// A person's account was created or its password set.
        AccountSet => "account_set",
        /// A policy's kill switch was tripped: every item goes to people.
        KillSwitchTripped => "kill_switch_tripped",
        /// A policy's kill switch was reset by a lead.
        KillSwitchReset => "kill_switch_reset",
        /// A quality reviewer leased an auto-approved item's audit.
        AuditClaimed => "audit_claimed",
        /// An auto-approved item was audited: escaped or not.
        Audited => "audited",
        /// A policy's derived thresholds or calibrator changed.
        ThresholdsChanged => "thresholds_changed",
    }
);

/// Who acted, in the role they acted in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditActor {
    /// The principal; `None` for Loopgate itself (e.g. a lapsed lease).
    pub id: Option<PrincipalId>,
    /// The principal's name, or the worker's for Loopgate itself.
    pub name: String,
    /// `agent`, `triage`, `quality`, `sme`, `lead`, `admin` or `system`.
    pub role: String,
}

impl AuditActor {
    /// A principal acting in a role.
    pub fn person(actor: &Actor, role: impl Into<String>) -> Self {
        Self {
            id: Some(actor.id),
            name: actor.name.clone(),
            role: role.into(),
        }
    }

    /// Loopgate itself.
    pub fn system(name: &str) -> Self {
        Self {
            id: None,
            name: name.to_owned(),
            role: "system".to_owned(),
        }
    }
}

/// A state change, before it is placed in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// The item changed, if any.
    pub item_id: Option<ItemId>,
    /// Who changed it.
    pub actor: AuditActor,
    /// What happened.
    pub action: AuditAction,
    /// The state before (e.g. an item status), if any.
    pub from: Option<String>,
    /// The state after, if any.
    pub to: Option<String>,
    /// Before/after details and anything else worth keeping.
    pub detail: Value,
}

/// An entry of the chain, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// The workspace whose chain this is.
    pub workspace: WorkspaceId,
    /// Position in the workspace's chain, from 1, without gaps.
    pub seq: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The item changed, if any.
    pub item_id: Option<ItemId>,
    /// Who changed it.
    pub actor: AuditActor,
    /// What happened.
    pub action: String,
    /// The state before.
    pub from: Option<String>,
    /// The state after.
    pub to: Option<String>,
    /// Before/after details.
    #[schema(value_type = Object)]
    pub detail: Value,
    /// The previous entry's hash ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and every field above, hex.
    pub hash: String,
}

/// The last entry of a workspace's chain: where the next one links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The last `seq` (0 for an empty chain).
    pub seq: i64,
    /// The last hash ([`GENESIS`] for an empty chain).
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

impl AuditEntry {
    /// Places `event` after `head` in `workspace`'s chain, at time `at`.
    pub fn chain(
        head: &ChainHead,
        workspace: &WorkspaceId,
        at: Timestamp,
        event: AuditEvent,
    ) -> Self {
        let mut entry = Self {
            workspace: workspace.clone(),
            seq: head.seq + 1,
            at,
            item_id: event.item_id,
            actor: event.actor,
            action: event.action.as_str().to_owned(),
            from: event.from,
            to: event.to,
            detail: event.detail,
            prev_hash: head.hash.clone(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }

    /// The head this entry makes.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }

    /// The hash this entry should carry, from its fields: SHA-256, in hex, of the compact JSON
    /// array `[prev_hash, workspace, seq, at (ms), item_id, actor_id, actor_name, actor_role,
    /// action, from, to, detail]`.
    pub fn compute_hash(&self) -> String {
        link_hash(
            &self.prev_hash,
            &json_text(self.workspace.as_str()),
            self.seq,
            &self.hash_tail(),
        )
    }

    /// The JSON text of the hashed fields after `seq`, without brackets: everything of the hash
    /// input that does not depend on the entry's place in the chain. A store that links entries
    /// inside the database (where the head is locked) sends this and splices in the rest.
    pub fn hash_tail(&self) -> String {
        let detail = serde_json::to_string(&self.detail).expect("a JSON value always serialises");
        render_tail(
            self.at,
            self.item_id,
            &self.actor,
            &self.action,
            &self.from,
            &self.to,
            &detail,
        )
    }
}

/// The hash tail (see [`AuditEntry::hash_tail`]) of the given fields, `detail` being the compact
/// JSON text of the detail: it is the last element of the array, so it is appended as it is.
fn render_tail(
    at: Timestamp,
    item_id: Option<ItemId>,
    actor: &AuditActor,
    action: &str,
    from: &Option<String>,
    to: &Option<String>,
    detail: &str,
) -> String {
    let fields = (
        to_millis(at),
        item_id.map(|i| i.to_string()),
        actor.id.map(|i| i.to_string()),
        &actor.name,
        &actor.role,
        action,
        from,
        to,
    );
    let mut text = serde_json::to_string(&fields).expect("audit fields always serialise");
    // A compact JSON array: drop its brackets, then append the detail as its last element.
    text.pop();
    text.remove(0);
    text.reserve(detail.len() + 1);
    text.push(',');
    text.push_str(detail);
    text
}

/// An event with every part of its entry that does not depend on its place in the chain
/// already rendered: what a store prepares before it takes the chain head, so that linking the
/// event is one SHA-256 and the stored detail is serialised once.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    /// When it happened.
    pub at: Timestamp,
    /// The item changed, if any.
    pub item_id: Option<ItemId>,
    /// Who changed it.
    pub actor: AuditActor,
    /// What happened.
    pub action: AuditAction,
    /// The state before, if any.
    pub from: Option<String>,
    /// The state after, if any.
    pub to: Option<String>,
    /// The detail as compact JSON, exactly as a `serde_json::Value` of it writes itself (object
    /// keys sorted): the text a store keeps, and the text verification hashes again.
    pub detail_json: String,
    /// The entry's [`AuditEntry::hash_tail`].
    pub tail: String,
}

impl PreparedEvent {
    /// Renders `event`, happening at `at`.
    pub fn new(at: Timestamp, event: AuditEvent) -> Self {
        let detail_json =
            serde_json::to_string(&event.detail).expect("a JSON value always serialises");
        Self::rendered(
            at,
            event.item_id,
            event.actor,
            event.action,
            event.from,
            event.to,
            detail_json,
        )
    }

    /// An event whose detail is already JSON text; the text must be what a `serde_json::Value`
    /// of the detail writes (keys sorted), or the entry will not verify.
    pub fn rendered(
        at: Timestamp,
        item_id: Option<ItemId>,
        actor: AuditActor,
        action: AuditAction,
        from: Option<String>,
        to: Option<String>,
        detail_json: String,
    ) -> Self {
        let tail = render_tail(
            at,
            item_id,
            &actor,
            action.as_str(),
            &from,
            &to,
            &detail_json,
        );
        Self {
            at,
            item_id,
            actor,
            action,
            from,
            to,
            detail_json,
            tail,
        }
    }

    /// The head this event makes when linked after `head` in the chain of the workspace whose
    /// name, as JSON text, is `workspace_json` (see [`json_text`]): its `seq` and `hash`.
    pub fn link(&self, head: &ChainHead, workspace_json: &str) -> ChainHead {
        let seq = head.seq + 1;
        ChainHead {
            seq,
            hash: link_hash(&head.hash, workspace_json, seq, &self.tail),
        }
    }

    /// The entry this event became when linked after `prev`, making `linked` (see
    /// [`PreparedEvent::link`]); `detail` is the value `detail_json` renders.
    pub fn into_entry(
        self,
        workspace: &WorkspaceId,
        prev: ChainHead,
        linked: ChainHead,
        detail: Value,
    ) -> AuditEntry {
        AuditEntry {
            workspace: workspace.clone(),
            seq: linked.seq,
            at: self.at,
            item_id: self.item_id,
            actor: self.actor,
            action: self.action.as_str().to_owned(),
            from: self.from,
            to: self.to,
            detail,
            prev_hash: prev.hash,
            hash: linked.hash,
        }
    }
}

/// The hash of the entry at `seq` after one hashed `prev_hash`, given its workspace as JSON text
/// and its [`AuditEntry::hash_tail`]: SHA-256 over `[prev_hash,workspace,seq,tail]`, in hex.
pub fn link_hash(prev_hash: &str, workspace_json: &str, seq: i64, tail: &str) -> String {
    // Fed piece by piece: the input is never assembled in memory.
    let mut hasher = Sha256::new();
    hasher.update(b"[");
    hasher.update(json_text(prev_hash).as_bytes());
    hasher.update(b",");
    hasher.update(workspace_json.as_bytes());
    hasher.update(b",");
    hasher.update(seq.to_string().as_bytes());
    hasher.update(b",");
    hasher.update(tail.as_bytes());
    hasher.update(b"]");
    hex::encode(hasher.finalize())
}

/// `text` as a JSON string.
pub fn json_text(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serialises")
}

/// Why a chain failed verification, naming the first bad entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// An entry is missing before `seq` (removed, or written out of order).
    #[error("workspace {workspace}: entry {expected} is missing (next entry found is {found})")]
    Gap {
        /// The workspace.
        workspace: String,
        /// The seq that should have come next.
        expected: i64,
        /// The seq found instead.
        found: i64,
    },
    /// An entry does not link to its predecessor.
    #[error("workspace {workspace}: entry {seq} does not link to entry {}: its prev_hash differs", seq - 1)]
    BrokenLink {
        /// The workspace.
        workspace: String,
        /// The entry.
        seq: i64,
    },
    /// An entry's content does not match its hash: it was altered.
    #[error("workspace {workspace}: entry {seq} was altered: its content does not match its hash")]
    Altered {
        /// The workspace.
        workspace: String,
        /// The entry.
        seq: i64,
    },
    /// The chain ends before the recorded head: entries were removed from its end.
    #[error(
        "workspace {workspace}: the chain ends at entry {last} but the recorded head is entry {head}"
    )]
    Truncated {
        /// The workspace.
        workspace: String,
        /// The last entry found.
        last: i64,
        /// The head recorded.
        head: i64,
    },
}

/// Checks one workspace's chain entry by entry, without holding it in memory.
#[derive(Debug)]
pub struct ChainVerifier {
    workspace: WorkspaceId,
    head: ChainHead,
}

impl ChainVerifier {
    /// A verifier for `workspace`'s chain, starting from genesis.
    pub fn new(workspace: WorkspaceId) -> Self {
        Self {
            workspace,
            head: ChainHead::genesis(),
        }
    }

    /// Checks the next entry, in `seq` order.
    pub fn push(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        let ws = self.workspace.to_string();
        if entry.seq != self.head.seq + 1 {
            return Err(ChainBreak::Gap {
                workspace: ws,
                expected: self.head.seq + 1,
                found: entry.seq,
            });
        }
        if entry.prev_hash != self.head.hash {
            return Err(ChainBreak::BrokenLink {
                workspace: ws,
                seq: entry.seq,
            });
        }
        if entry.compute_hash() != entry.hash {
            return Err(ChainBreak::Altered {
                workspace: ws,
                seq: entry.seq,
            });
        }
        self.head = entry.head();
        Ok(())
    }

    /// Ends verification against the head the store recorded; returns the number of entries.
    pub fn finish(self, recorded: Option<&ChainHead>) -> Result<i64, ChainBreak> {
        if let Some(head) = recorded
            && (head.seq != self.head.seq || head.hash != self.head.hash)
        {
            return Err(ChainBreak::Truncated {
                workspace: self.workspace.to_string(),
                last: self.head.seq,
                head: head.seq,
            });
        }
        Ok(self.head.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_millis;
    use serde_json::json;

    fn chain(n: usize) -> Vec<AuditEntry> {
        let ws = WorkspaceId::default_workspace();
        let mut head = ChainHead::genesis();
        (0..n)
            .map(|i| {
                let e = AuditEntry::chain(
                    &head,
                    &ws,
                    from_millis(1_700_000_000_000 + i as i64).unwrap(),
                    AuditEvent {
                        item_id: Some(ItemId::new()),
                        actor: AuditActor::system("test"),
                        action: AuditAction::Claimed,
                        from: Some("queued".into()),
                        to: Some("in_review".into()),
                        detail: json!({"i": i, "nested": {"b": 1, "a": [1.5, null]}}),
                    },
                );
                head = e.head();
                e
            })
            .collect()
    }

    fn verify(entries: &[AuditEntry], head: Option<&ChainHead>) -> Result<i64, ChainBreak> {
        let mut v = ChainVerifier::new(WorkspaceId::default_workspace());
        for e in entries {
            v.push(e)?;
        }
        v.finish(head)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let entries = chain(5);
        assert_eq!(verify(&entries, Some(&entries[4].head())), Ok(5));
        assert_eq!(entries[0].prev_hash, GENESIS);
    }

    #[test]
    fn an_altered_entry_is_named() {
        let mut entries = chain(5);
        entries[2].detail = json!({"i": 99});
        assert!(matches!(
            verify(&entries, None),
            Err(ChainBreak::Altered { seq: 3, .. })
        ));
    }

    #[test]
    fn a_removed_entry_is_named() {
        let mut entries = chain(5);
        entries.remove(1);
        assert!(matches!(
            verify(&entries, None),
            Err(ChainBreak::Gap {
                expected: 2,
                found: 3,
                ..
            })
        ));
    }

    #[test]
    fn a_rehashed_forgery_breaks_the_next_link() {
        let mut entries = chain(5);
        entries[2].actor.name = "mallory".into();
        entries[2].hash = entries[2].compute_hash();
        assert!(matches!(
            verify(&entries, None),
            Err(ChainBreak::BrokenLink { seq: 4, .. })
        ));
    }

    #[test]
    fn a_truncated_tail_is_caught_by_the_recorded_head() {
        let entries = chain(5);
        let head = entries[4].head();
        assert!(matches!(
            verify(&entries[..3], Some(&head)),
            Err(ChainBreak::Truncated {
                last: 3,
                head: 5,
                ..
            })
        ));
    }

    #[test]
    fn a_prepared_event_links_to_the_same_hash_as_its_entry() {
        let ws = WorkspaceId::default_workspace();
        let mut head = ChainHead::genesis();
        for e in chain(3) {
            let event = AuditEvent {
                item_id: e.item_id,
                actor: e.actor.clone(),
                action: e.action.parse().unwrap(),
                from: e.from.clone(),
                to: e.to.clone(),
                detail: e.detail.clone(),
            };
            let prepared = PreparedEvent::new(e.at, event);
            assert_eq!(prepared.tail, e.hash_tail());
            assert_eq!(
                serde_json::from_str::<Value>(&prepared.detail_json).unwrap(),
                e.detail
            );
            let linked = prepared.link(&head, &json_text(ws.as_str()));
            assert_eq!(linked, e.head());
            assert_eq!(
                prepared.into_entry(&ws, head, linked.clone(), e.detail.clone()),
                e
            );
            head = linked;
        }
    }

    #[test]
    fn hashes_survive_a_json_round_trip() {
        for e in chain(3) {
            let back: AuditEntry =
                serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
            assert_eq!(back.compute_hash(), e.hash);
        }
    }

    #[test]
    fn the_hash_input_is_the_compact_json_array_of_every_field() {
        for e in chain(3) {
            let fields = (
                &e.prev_hash,
                e.workspace.as_str(),
                e.seq,
                to_millis(e.at),
                e.item_id.map(|i| i.to_string()),
                e.actor.id.map(|i| i.to_string()),
                &e.actor.name,
                &e.actor.role,
                &e.action,
                &e.from,
                &e.to,
                &e.detail,
            );
            let bytes = serde_json::to_vec(&fields).unwrap();
            assert_eq!(e.hash, hex::encode(Sha256::digest(&bytes)));
        }
    }
}
