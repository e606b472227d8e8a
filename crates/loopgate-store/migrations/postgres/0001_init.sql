-- Loopgate's PostgreSQL schema: the same tables as the embedded SQLite schema, so both backends
-- keep the same records. Items, reviews and policies keep their full JSON document in `doc` or
-- `spec` as text, byte for byte as written (audit hashes are computed over exact JSON text, and
-- JSONB would reorder keys); the other columns are copies of the fields that queries filter and
-- sort on. Timestamps are Unix milliseconds, as in SQLite, so both backends compare and order
-- times identically. Identifiers and names use the "C" collation: byte order, as SQLite sorts.

CREATE TABLE workspaces (
    id          TEXT COLLATE "C" PRIMARY KEY,
    created_at  BIGINT NOT NULL
);

CREATE TABLE principals (
    id              TEXT COLLATE "C" PRIMARY KEY,
    workspace       TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    name            TEXT COLLATE "C" NOT NULL,
    access          TEXT NOT NULL,
    reviewer_roles  TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (workspace, name)
);

CREATE TABLE api_keys (
    id            TEXT COLLATE "C" PRIMARY KEY,
    principal_id  TEXT COLLATE "C" NOT NULL REFERENCES principals(id),
    workspace     TEXT COLLATE "C" NOT NULL,
    secret_hash   BYTEA NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace, created_at);

CREATE TABLE decision_codes (
    workspace    TEXT COLLATE "C" NOT NULL,
    code         TEXT COLLATE "C" NOT NULL,
    description  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace, code)
);

CREATE TABLE policies (
    workspace      TEXT COLLATE "C" NOT NULL,
    name           TEXT COLLATE "C" NOT NULL,
    version        INTEGER NOT NULL,
    spec           TEXT NOT NULL,
    lease_seconds  BIGINT,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (workspace, name)
);

CREATE TABLE policy_versions (
    workspace   TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    version     INTEGER NOT NULL,
    spec        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (workspace, name, version)
);

CREATE TABLE items (
    id                TEXT COLLATE "C" PRIMARY KEY,
    workspace         TEXT COLLATE "C" NOT NULL,
    policy            TEXT COLLATE "C" NOT NULL,
    status            TEXT NOT NULL,
    -- True while queued or awaiting confirmation: what a claim may take.
    claimable         BOOLEAN NOT NULL,
    required_role     SMALLINT,
    lane              SMALLINT,
    -- The deadline a claim orders by: first review until first claimed, then resolution.
    due_at            BIGINT,
    -- The first person of a two-person approval, who may not confirm it.
    proposer          TEXT COLLATE "C",
    lease_expires_at  BIGINT,
    customer_id       TEXT COLLATE "C" NOT NULL,
    submitted_by      TEXT COLLATE "C" NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    doc               TEXT NOT NULL
);
CREATE INDEX items_claim ON items (workspace, lane, due_at, id) WHERE claimable;
CREATE INDEX items_leases ON items (lease_expires_at) WHERE status = 'in_review';
CREATE INDEX items_customer ON items (workspace, customer_id, id);
CREATE INDEX items_by_workspace ON items (workspace, id);
CREATE INDEX items_by_submitter ON items (workspace, submitted_by, id);
CREATE INDEX items_decided ON items (workspace, id) WHERE status IN ('approved', 'edited', 'rejected');

CREATE TABLE reviews (
    id           TEXT COLLATE "C" PRIMARY KEY,
    item_id      TEXT COLLATE "C" NOT NULL REFERENCES items(id),
    workspace    TEXT COLLATE "C" NOT NULL,
    reviewer_id  TEXT COLLATE "C" NOT NULL,
    decided_at   BIGINT NOT NULL,
    doc          TEXT NOT NULL
);
CREATE INDEX reviews_item ON reviews (item_id, decided_at);
CREATE INDEX reviews_by_time ON reviews (workspace, decided_at);

CREATE TABLE idempotency_keys (
    workspace     TEXT COLLATE "C" NOT NULL,
    principal_id  TEXT COLLATE "C" NOT NULL,
    key           TEXT COLLATE "C" NOT NULL,
    request_hash  TEXT NOT NULL,
    item_id       TEXT COLLATE "C" NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (workspace, principal_id, key)
);

CREATE TABLE audit_log (
    workspace   TEXT COLLATE "C" NOT NULL,
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    item_id     TEXT COLLATE "C",
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

-- The last entry of each workspace's chain. Every transaction that appends to a chain locks its
-- head row first (and last: after all its other work), so the entries of a workspace are
-- appended one transaction at a time, whichever server writes them; it also lets verification
-- notice a truncated tail.
CREATE TABLE audit_heads (
    workspace  TEXT COLLATE "C" PRIMARY KEY,
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL
);

-- The audit log is append-only: updates, deletes and truncation are refused.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- People sign in with a password (argon2 hash); the hash is the only thing kept.
CREATE TABLE passwords (
    principal_id  TEXT COLLATE "C" PRIMARY KEY REFERENCES principals(id),
    hash          TEXT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- A session is known by the SHA-256 of its cookie secret; the secret itself is never stored.
CREATE TABLE sessions (
    secret_hash   BYTEA PRIMARY KEY,
    principal_id  TEXT COLLATE "C" NOT NULL REFERENCES principals(id),
    csrf_token    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- A tripped kill switch sends every item of its policy to people until a lead resets it.
CREATE TABLE kill_switches (
    workspace   TEXT COLLATE "C" NOT NULL,
    policy      TEXT COLLATE "C" NOT NULL,
    tripped_at  BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    tripped_by  TEXT NOT NULL,
    PRIMARY KEY (workspace, policy)
);

-- One row per human judgement of a proposal: a final review, or an audit. Ids are drawn while
-- the workspace's chain head is locked, so within a workspace they increase in commit order
-- and a reader that has seen id N has seen every outcome below N.
CREATE TABLE outcomes (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace    TEXT COLLATE "C" NOT NULL,
    policy       TEXT COLLATE "C" NOT NULL,
    item_id      TEXT COLLATE "C" NOT NULL,
    -- review: decided by people; shadow: decided by people while the policy was in shadow mode;
    -- audit: an auto-approved item, sampled and judged afterwards.
    source       TEXT NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    correct      BOOLEAN NOT NULL,
    -- The probability that this item was labelled at all (1 for reviews, the audit rate for
    -- audits), for inverse-probability weighting.
    inclusion    DOUBLE PRECISION NOT NULL,
    -- For label policies: the text, the label the AI proposed, and the label people settled on.
    text         TEXT,
    proposed     TEXT,
    label        TEXT,
    recorded_at  BIGINT NOT NULL,
    UNIQUE (workspace, policy, item_id, source)
);
CREATE INDEX outcomes_by_policy ON outcomes (workspace, policy, id);

CREATE TABLE policy_state (
    workspace   TEXT COLLATE "C" NOT NULL,
    policy      TEXT COLLATE "C" NOT NULL,
    state       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (workspace, policy)
);

CREATE TABLE audits (
    id                TEXT COLLATE "C" PRIMARY KEY,
    workspace         TEXT COLLATE "C" NOT NULL,
    policy            TEXT COLLATE "C" NOT NULL,
    item_id           TEXT COLLATE "C" NOT NULL REFERENCES items(id),
    probability       DOUBLE PRECISION NOT NULL,
    status            TEXT NOT NULL,
    lease_id          TEXT,
    holder_id         TEXT,
    lease_expires_at  BIGINT,
    escaped           BOOLEAN,
    decided_by        TEXT,
    created_at        BIGINT NOT NULL,
    decided_at        BIGINT
);
CREATE INDEX audits_open ON audits (workspace, status, created_at);
CREATE INDEX audits_by_policy ON audits (workspace, policy, created_at);

CREATE TABLE models (
    workspace      TEXT COLLATE "C" NOT NULL,
    policy         TEXT COLLATE "C" NOT NULL,
    bytes          BYTEA NOT NULL,
    -- The last outcome id the model has learned from.
    through_id     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (workspace, policy)
);
