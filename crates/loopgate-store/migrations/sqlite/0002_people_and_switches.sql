-- Reviewer accounts sign in with a password (argon2 hash), browser sessions, and kill switches.

CREATE TABLE passwords (
    principal_id  TEXT PRIMARY KEY REFERENCES principals(id),
    hash          TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- A session is known by the SHA-256 of its cookie secret; the secret itself is never stored.
CREATE TABLE sessions (
    secret_hash   BLOB PRIMARY KEY,
    principal_id  TEXT NOT NULL REFERENCES principals(id),
    csrf_token    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- A tripped kill switch sends every item of its policy to people until a lead resets it.
CREATE TABLE kill_switches (
    workspace   TEXT NOT NULL,
    policy      TEXT NOT NULL,
    tripped_at  INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    tripped_by  TEXT NOT NULL,
    PRIMARY KEY (workspace, policy)
);
