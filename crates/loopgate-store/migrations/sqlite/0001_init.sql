-- Loopgate's embedded schema. Items, reviews and policies keep their full JSON document in `doc`
-- or `spec`; the other columns are copies of the fields that queries filter and sort on.
-- Timestamps are Unix milliseconds.

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL
);

CREATE TABLE principals (
    id              TEXT PRIMARY KEY,
    workspace       TEXT NOT NULL REFERENCES workspaces(id),
    name            TEXT NOT NULL,
    access          TEXT NOT NULL,
    reviewer_roles  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (workspace, name)
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    principal_id  TEXT NOT NULL REFERENCES principals(id),
    workspace     TEXT NOT NULL,
    secret_hash   BLOB NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);

CREATE TABLE decision_codes (
    workspace    TEXT NOT NULL,
    code         TEXT NOT NULL,
    description  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace, code)
);

CREATE TABLE policies (
    workspace      TEXT NOT NULL,
    name           TEXT NOT NULL,
    version        INTEGER NOT NULL,
    spec           TEXT NOT NULL,
    lease_seconds  INTEGER,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (workspace, name)
);

CREATE TABLE policy_versions (
    workspace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    spec        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (workspace, name, version)
);

CREATE TABLE items (
    id                TEXT PRIMARY KEY,
    workspace         TEXT NOT NULL,
    policy            TEXT NOT NULL,
    status            TEXT NOT NULL,
    -- 1 while queued or awaiting confirmation: what a claim may take.
    claimable         INTEGER NOT NULL,
    required_role     INTEGER,
    lane              INTEGER,
    -- The deadline a claim orders by: first review until first claimed, then resolution.
    due_at            INTEGER,
    -- The first person of a two-person approval, who may not confirm it.
    proposer          TEXT,
    lease_expires_at  INTEGER,
    customer_id       TEXT NOT NULL,
    submitted_by      TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    doc               TEXT NOT NULL
);
CREATE INDEX items_claim ON items (workspace, lane, due_at) WHERE claimable = 1;
CREATE INDEX items_leases ON items (lease_expires_at) WHERE status = 'in_review';
CREATE INDEX items_customer ON items (workspace, customer_id, id);
CREATE INDEX items_by_workspace ON items (workspace, id);
CREATE INDEX items_by_submitter ON items (workspace, submitted_by, id);

CREATE TABLE reviews (
    id           TEXT PRIMARY KEY,
    item_id      TEXT NOT NULL REFERENCES items(id),
    workspace    TEXT NOT NULL,
    reviewer_id  TEXT NOT NULL,
    decided_at   INTEGER NOT NULL,
    doc          TEXT NOT NULL
);
CREATE INDEX reviews_item ON reviews (item_id, decided_at);

CREATE TABLE idempotency_keys (
    workspace     TEXT NOT NULL,
    principal_id  TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    item_id       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (workspace, principal_id, key)
);

CREATE TABLE audit_log (
    workspace   TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    item_id     TEXT,
    actor_id    TEXT,
    actor_name  TEXT NOT NULL,
    actor_role  TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_state  TEXT,
    to_state    TEXT,
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (workspace, seq)
);
CREATE INDEX audit_by_item ON audit_log (item_id, seq) WHERE item_id IS NOT NULL;

-- The last entry of each workspace's chain: lets verification notice a truncated tail.
CREATE TABLE audit_heads (
    workspace  TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL,
    hash       TEXT NOT NULL
);

-- The audit log is append-only.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
