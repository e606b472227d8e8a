-- The learning loop: labelled outcomes of the AI's proposals, each policy's learned state
-- (calibrator, certified thresholds, escape monitor), audits of auto-approved items, and the
-- embedded model.

-- One row per human judgement of a proposal: a final review, or an audit.
CREATE TABLE outcomes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace    TEXT NOT NULL,
    policy       TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    -- review: decided by people; shadow: decided by people while the policy was in shadow mode;
    -- audit: an auto-approved item, sampled and judged afterwards.
    source       TEXT NOT NULL,
    score        REAL NOT NULL,
    correct      INTEGER NOT NULL,
    -- The probability that this item was labelled at all (1 for reviews, the audit rate for
    -- audits), for inverse-probability weighting.
    inclusion    REAL NOT NULL,
    -- For label policies: the text, the label the AI proposed, and the label people settled on.
    text         TEXT,
    proposed     TEXT,
    label        TEXT,
    recorded_at  INTEGER NOT NULL,
    UNIQUE (workspace, policy, item_id, source)
);
CREATE INDEX outcomes_by_policy ON outcomes (workspace, policy, id);

CREATE TABLE policy_state (
    workspace   TEXT NOT NULL,
    policy      TEXT NOT NULL,
    state       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (workspace, policy)
);

CREATE TABLE audits (
    id                TEXT PRIMARY KEY,
    workspace         TEXT NOT NULL,
    policy            TEXT NOT NULL,
    item_id           TEXT NOT NULL REFERENCES items(id),
    probability       REAL NOT NULL,
    status            TEXT NOT NULL,
    lease_id          TEXT,
    holder_id         TEXT,
    lease_expires_at  INTEGER,
    escaped           INTEGER,
    decided_by        TEXT,
    created_at        INTEGER NOT NULL,
    decided_at        INTEGER
);
CREATE INDEX audits_open ON audits (workspace, status, created_at);
CREATE INDEX audits_by_policy ON audits (workspace, policy, status);

CREATE TABLE models (
    workspace      TEXT NOT NULL,
    policy         TEXT NOT NULL,
    bytes          BLOB NOT NULL,
    -- The last outcome id the model has learned from.
    through_id     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (workspace, policy)
);
