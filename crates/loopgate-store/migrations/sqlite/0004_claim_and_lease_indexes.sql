-- Indexes that keep claims fast however deep the queue is.
--
-- A claim takes the first claimable item by (lane, due_at, id). The old index ended at due_at,
-- so every claim sorted all items sharing the first deadline (a batch shares one) and read each
-- row for its role and proposer; this one is in claim order and carries both filters.
DROP INDEX items_claim;
CREATE INDEX items_claim_order ON items (workspace, lane, due_at, id, required_role, proposer)
    WHERE claimable = 1;

-- Every claim first returns the workspace's lapsed leases to their queues. With only the global
-- lease index, the planner preferred an index on the workspace alone and scanned all its items.
CREATE INDEX items_leases_by_workspace ON items (workspace, lease_expires_at)
    WHERE status = 'in_review';
