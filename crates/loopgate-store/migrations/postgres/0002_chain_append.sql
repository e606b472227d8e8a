-- Appends to a workspace's audit chain in one call, so the chain head is locked for one round
-- trip and the commit instead of several: locks the head (creating it for a new workspace), links
-- each entry to the one before, writes the entries and the new head, then records the outcomes
-- (under the same lock, so outcome ids increase in commit order).
--
-- An entry's hash is the one `loopgate_core::audit::AuditEntry::compute_hash` defines: SHA-256,
-- in hex, of the compact JSON array [prev_hash, workspace, seq, ...tail]. The caller sends the
-- workspace and each entry's tail as the JSON text Rust serialises (`hash_tail`); only the
-- previous hash (hex digits) and the sequence number (an integer) are spliced in here, and
-- neither needs escaping. Verification recomputes every hash in Rust, so a mismatch would show.
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
    o_recorded_at    int8[]
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
                          proposed, label, recorded_at)
    SELECT p_workspace, * FROM UNNEST(o_policy, o_item_id, o_source, o_score, o_correct,
                                      o_inclusion, o_text, o_proposed, o_label, o_recorded_at)
    ON CONFLICT (workspace, policy, item_id, source) DO NOTHING;
    RETURN head_seq;
END;
$$;
