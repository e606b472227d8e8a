-- Which labelled outcomes may feed a policy's threshold bound, and kill switches scoped to one
-- intent of a label policy.

-- 1 when people labelled the item for a reason independent of its content (the audit coin, an
-- audit, shadow mode, a policy-wide kill switch, an irreversible action); 0 when the item
-- reached people because of how it scored. Outcomes recorded before this column existed count
-- as representative, as they did then.
ALTER TABLE outcomes ADD COLUMN representative INTEGER NOT NULL DEFAULT 1;
-- 1 when Loopgate's own model made the proposal: the bound then re-scores the labelled texts
-- out of fold instead of trusting the score the proposal was made with.
ALTER TABLE outcomes ADD COLUMN embedded INTEGER NOT NULL DEFAULT 0;

-- A tripped kill switch sends every item of its scope to people until a lead resets it. The
-- scope is the whole policy (intent '') or, for label policies, one proposed label.
CREATE TABLE kill_switches_scoped (
    workspace   TEXT NOT NULL,
    policy      TEXT NOT NULL,
    intent      TEXT NOT NULL DEFAULT '',
    tripped_at  INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    tripped_by  TEXT NOT NULL,
    PRIMARY KEY (workspace, policy, intent)
);
INSERT INTO kill_switches_scoped (workspace, policy, intent, tripped_at, reason, tripped_by)
    SELECT workspace, policy, '', tripped_at, reason, tripped_by FROM kill_switches;
DROP TABLE kill_switches;
ALTER TABLE kill_switches_scoped RENAME TO kill_switches;
