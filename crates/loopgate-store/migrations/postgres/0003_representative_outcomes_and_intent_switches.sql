-- Which labelled outcomes may feed a policy's threshold bound, whether Loopgate's own model
-- made the proposal, and kill switches scoped to one intent of a label policy.

-- TRUE when people labelled the item for a reason independent of its content (the audit coin,
-- an audit, shadow mode, a policy-wide kill switch, an irreversible action); FALSE when the item
-- reached people because of how it scored. Earlier outcomes count as representative, as they
-- did then.
ALTER TABLE outcomes ADD COLUMN representative BOOLEAN NOT NULL DEFAULT TRUE;
-- TRUE when Loopgate's own model made the proposal: the bound then re-scores the labelled texts
-- out of fold instead of trusting the score the proposal was made with.
ALTER TABLE outcomes ADD COLUMN embedded BOOLEAN NOT NULL DEFAULT FALSE;

-- The scope of a kill switch: the whole policy (intent '') or one proposed label.
ALTER TABLE kill_switches ADD COLUMN intent TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE kill_switches DROP CONSTRAINT kill_switches_pkey;
ALTER TABLE kill_switches ADD PRIMARY KEY (workspace, policy, intent);

-- loopgate_append (0002) records the two new outcome columns too.
DROP FUNCTION loopgate_append(text, text, text[], int8[], text[], text[], text[], text[], text[],
                              text[], text[], text[], text[], text[], text[], float8[], bool[],
                              float8[], text[], text[], text[], int8[]);
CREATE FUNCTION loopgate_append(
    p_workspace      text,
    p_workspace_json text,
    p_tail           text[],
    p_at             int8[],
    p_item_id        text[],
    p_actor_id       text[],
    p_actor_name     text[],
    p_actor_role     text[],
    p_action         text[],
    p_from           text[],
    p_to             text[],
    p_detail         text[],
    o_policy         text[],
    o_item_id        text[],
    o_source         text[],
    o_score          float8[],
    o_correct        bool[],
    o_inclusion      float8[],
    o_text           text[],
    o_proposed       text[],
    o_label          text[],
    o_recorded_at    int8[],
    o_representative bool[],
    o_embedded       bool[]
) RETURNS int8 LANGUAGE plpgsql AS $$
DECLARE
    head_seq  int8;
    head_hash text;
    next_hash text;
    i         int;
BEGIN
    SELECT seq, hash INTO head_seq, head_hash
      FROM audit_heads WHERE workspace = p_workspace FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_heads (workspace, seq, hash) VALUES (p_workspace, 0, repeat('0', 64))
            ON CONFLICT (workspace) DO NOTHING;
        SELECT seq, hash INTO head_seq, head_hash
          FROM audit_heads WHERE workspace = p_workspace FOR UPDATE;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_tail, 1), 0) LOOP
        next_hash := encode(sha256(convert_to(
            '["' || head_hash || '",' || p_workspace_json || ',' || (head_seq + 1)::text || ','
                || p_tail[i] || ']',
            'UTF8')), 'hex');
        INSERT INTO audit_log (workspace, seq, at, item_id, actor_id, actor_name, actor_role, action,
                               from_state, to_state, detail, prev_hash, hash)
        VALUES (p_workspace, head_seq + 1, p_at[i], p_item_id[i], p_actor_id[i], p_actor_name[i],
                p_actor_role[i], p_action[i], p_from[i], p_to[i], p_detail[i], head_hash, next_hash);
        head_seq := head_seq + 1;
        head_hash := next_hash;
    END LOOP;
    IF coalesce(array_length(p_tail, 1), 0) > 0 THEN
        UPDATE audit_heads SET seq = head_seq, hash = head_hash WHERE workspace = p_workspace;
    END IF;
    INSERT INTO outcomes (workspace, policy, item_id, source, score, correct, inclusion, text,
                          proposed, label, recorded_at, representative, embedded)
    SELECT p_workspace, * FROM UNNEST(o_policy, o_item_id, o_source, o_score, o_correct,
                                      o_inclusion, o_text, o_proposed, o_label, o_recorded_at,
                                      o_representative, o_embedded)
    ON CONFLICT (workspace, policy, item_id, source) DO NOTHING;
    RETURN head_seq;
END;
$$;
