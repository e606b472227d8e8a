//! Small domain values parsed at the edge: probabilities, names, ids, lanes, roles and states.
//! A value of one of these types is valid by construction; nothing inside Loopgate re-checks it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A probability in `[0, 1]`. Parsing rejects NaN, infinities and anything outside the range.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "f64", into = "f64")]
#[schema(value_type = f64, minimum = 0.0, maximum = 1.0)]
pub struct Probability(f64);

impl Probability {
    /// Zero.
    pub const ZERO: Self = Self(0.0);
    /// One.
    pub const ONE: Self = Self(1.0);

    /// `Some` when `value` lies in `[0, 1]`.
    pub fn new(value: f64) -> Option<Self> {
        (value.is_finite() && (0.0..=1.0).contains(&value)).then_some(Self(value))
    }

    /// Clamps any finite number into `[0, 1]`; NaN becomes 0.
    pub fn clamped(value: f64) -> Self {
        if value.is_nan() {
            Self(0.0)
        } else {
            Self(value.clamp(0.0, 1.0))
        }
    }

    /// The value as a plain float.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Probability {
    type Error = String;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::new(value)
            .ok_or_else(|| format!("must be a probability between 0 and 1, got {value}"))
    }
}

impl From<Probability> for f64 {
    fn from(p: Probability) -> f64 {
        p.0
    }
}

impl fmt::Display for Probability {
    /// Honours the formatter's precision: `{:.4}` prints four decimals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A non-negative, finite amount of money or value, in the customer's currency units.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "f64", into = "f64")]
#[schema(value_type = f64, minimum = 0.0)]
pub struct Amount(f64);

impl Amount {
    /// `Some` when `value` is finite and not negative.
    pub fn new(value: f64) -> Option<Self> {
        (value.is_finite() && value >= 0.0).then_some(Self(value))
    }

    /// The value as a plain float.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Amount {
    type Error = String;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::new(value)
            .ok_or_else(|| format!("must be a finite amount of at least 0, got {value}"))
    }
}

impl From<Amount> for f64 {
    fn from(a: Amount) -> f64 {
        a.0
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String)]
        pub struct $name(String);

        impl $name {
            /// Parses a name: 1 to
            #[doc = stringify!($max)]
            /// characters from the allowed set.
            pub fn parse(value: &str) -> Result<Self, String> {
                let allowed: fn(char) -> bool = $allowed;
                if value.is_empty() || value.len() > $max {
                    return Err(format!(
                        "{} must be 1 to {} characters, got {}",
                        $what,
                        $max,
                        value.len()
                    ));
                }
                if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
                    return Err(format!(
                        "{} {:?} contains {:?}; use lowercase letters, digits, '.', '_' or '-'",
                        $what, value, bad
                    ));
                }
                Ok(Self(value.to_owned()))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
}

name_type!(
    /// A policy's name, e.g. `ticket.classify` or `action.refund`.
    PolicyName, "policy name", 64, is_name_char
);
name_type!(
    /// A workspace: the tenant every key, item, policy and audit entry belongs to.
    WorkspaceId, "workspace", 64, is_name_char
);

impl WorkspaceId {
    /// The workspace used when none is named.
    pub fn default_workspace() -> Self {
        Self("default".to_owned())
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = "uuid")]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id (UUID v7).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Identifies an item.
    ItemId
);
uuid_id!(
    /// Identifies one review (one person's decision on one item).
    ReviewId
);
uuid_id!(
    /// Identifies one lease: a claim of an item by one reviewer, until it expires.
    LeaseId
);
uuid_id!(
    /// Identifies a principal: an agent, a reviewer, a lead or an admin.
    PrincipalId
);
uuid_id!(
    /// Identifies an API key (not the secret itself).
    KeyId
);

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        // By hand: the derive does not see the wire names through the macro's literals.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value's wire name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!(
                        "unknown {} {:?}; expected one of: {}",
                        stringify!($name).to_lowercase(),
                        other,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// What kind of work an AI output is.
    Kind {
        /// A classification, e.g. a ticket's intent.
        Label => "label",
        /// A drafted reply to a customer.
        Reply => "reply",
        /// An action on an account, e.g. a refund.
        Action => "action",
    }
);

string_enum!(
    /// Whether the effect of an approved output can be undone.
    Risk {
        /// Can be undone; one person suffices.
        Reversible => "reversible",
        /// Cannot be undone; always reviewed, and two people must agree.
        Irreversible => "irreversible",
    }
);

string_enum!(
    /// How a policy treats the AI's proposals.
    Mode {
        /// Verdicts are automatic where the thresholds allow.
        Live => "live",
        /// The proposal is recorded but people decide everything.
        Shadow => "shadow",
    }
);

string_enum!(
    /// Priority lane of a queued item. P0 is the most urgent.
    Lane {
        /// Most urgent.
        P0 => "P0",
        /// Normal.
        P1 => "P1",
        /// Least urgent.
        P2 => "P2",
    }
);

impl Lane {
    /// 0 for P0, 1 for P1, 2 for P2: smaller is more urgent.
    pub fn rank(self) -> u8 {
        match self {
            Lane::P0 => 0,
            Lane::P1 => 1,
            Lane::P2 => 2,
        }
    }

    /// The inverse of [`Lane::rank`].
    pub fn from_rank(rank: u8) -> Option<Self> {
        Self::ALL.get(usize::from(rank)).copied()
    }
}

string_enum!(
    /// A reviewer role. Roles are ordered: an SME may handle anything a quality reviewer may,
    /// and a quality reviewer anything a triage reviewer may.
    Role {
        /// Fast approve / reject / escalate.
        Triage => "triage",
        /// Edits drafts, scores rubrics, chooses decision codes.
        Quality => "quality",
        /// Subject-matter expert for escalated, high-risk or regulated items.
        Sme => "sme",
    }
);

impl Role {
    /// The role an escalation moves to, or `None` from the highest role.
    pub fn next(self) -> Option<Self> {
        match self {
            Role::Triage => Some(Role::Quality),
            Role::Quality => Some(Role::Sme),
            Role::Sme => None,
        }
    }

    /// Position in the escalation order: triage 0, quality 1, sme 2.
    pub fn rank(self) -> u8 {
        match self {
            Role::Triage => 0,
            Role::Quality => 1,
            Role::Sme => 2,
        }
    }

    /// The inverse of [`Role::rank`].
    pub fn from_rank(rank: u8) -> Option<Self> {
        Self::ALL.get(usize::from(rank)).copied()
    }
}

string_enum!(
    /// Where an item is in its journey. See `lifecycle` for the transitions.
    Status {
        /// Waiting in a queue for a reviewer of the required role.
        Queued => "queued",
        /// Leased to one reviewer until the lease expires.
        InReview => "in_review",
        /// Approved or edited by one person; waits for a second, different person.
        AwaitingConfirmation => "awaiting_confirmation",
        /// Final: a person approved the proposal.
        Approved => "approved",
        /// Final: a person approved an edited version of the proposal.
        Edited => "edited",
        /// Final: a person rejected the proposal.
        Rejected => "rejected",
        /// Final: confident enough to pass without a person.
        AutoApproved => "auto_approved",
        /// Final: too unlikely to be right to show anyone.
        AutoRejected => "auto_rejected",
    }
);

impl Status {
    /// True for the states an item never leaves.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Approved
                | Status::Edited
                | Status::Rejected
                | Status::AutoApproved
                | Status::AutoRejected
        )
    }
}

string_enum!(
    /// The step of human review an item is at.
    Stage {
        /// First-line review.
        Triage => "triage",
        /// Quality review: edits, rubric, codes.
        Quality => "quality",
        /// Expert review.
        Sme => "sme",
        /// A second person confirms the first one's approval.
        Confirm => "confirm",
    }
);

impl From<Role> for Stage {
    fn from(role: Role) -> Self {
        match role {
            Role::Triage => Stage::Triage,
            Role::Quality => Stage::Quality,
            Role::Sme => Stage::Sme,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_rejects_values_outside_unit_interval() {
        assert!(Probability::new(0.0).is_some());
        assert!(Probability::new(1.0).is_some());
        assert!(Probability::new(1.0001).is_none());
        assert!(Probability::new(-0.1).is_none());
        assert!(Probability::new(f64::NAN).is_none());
        let err = serde_json::from_str::<Probability>("1.5").unwrap_err();
        assert!(err.to_string().contains("between 0 and 1"), "{err}");
    }

    #[test]
    fn names_accept_dotted_lowercase_and_refuse_the_rest() {
        assert!(PolicyName::parse("action.refund").is_ok());
        assert!(PolicyName::parse("").is_err());
        assert!(PolicyName::parse("Action").is_err());
        assert!(PolicyName::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn roles_escalate_in_order_and_stop_at_sme() {
        assert_eq!(Role::Triage.next(), Some(Role::Quality));
        assert_eq!(Role::Quality.next(), Some(Role::Sme));
        assert_eq!(Role::Sme.next(), None);
    }

    #[test]
    fn enums_round_trip_through_their_wire_names() {
        for lane in Lane::ALL {
            assert_eq!(lane.as_str().parse::<Lane>().unwrap(), *lane);
            assert_eq!(Lane::from_rank(lane.rank()), Some(*lane));
        }
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>().unwrap(), *status);
        }
        assert!("nope".parse::<Status>().unwrap_err().contains("queued"));
    }
}
