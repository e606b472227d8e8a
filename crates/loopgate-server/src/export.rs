//! Training data out: one JSON line per item people decided, in a shape ready for fine-tuning.

use loopgate_core::{Item, Review, Status};
use serde_json::{Value, json};

/// The export record of a decided item.
pub fn record(item: &Item, reviews: &[Review]) -> Value {
    let final_payload = item.outcome.as_ref().and_then(|o| o.payload.clone());
    let preference = (item.status == Status::Edited)
        .then(|| json!({"chosen": final_payload, "rejected": item.proposal.payload}));
    json!({
        "item_id": item.id,
        "policy": item.policy,
        "policy_version": item.policy_version,
        "kind": item.proposal.kind,
        "input": item.input,
        "customer_id": item.customer.id,
        "proposal": {
            "payload": item.proposal.payload,
            "confidence": item.proposal.confidence,
            "model": item.proposal.model,
            "model_version": item.proposal.model_version,
        },
        "status": item.status,
        "final_payload": final_payload,
        "proposal_correct": item.status == Status::Approved,
        "decided_at": item.outcome.as_ref().map(|o| o.decided_at),
        "reviews": reviews.iter().map(|r| json!({
            "reviewer": r.reviewer.name,
            "role": r.role,
            "stage": r.stage,
            "decision": r.decision,
            "codes": r.codes,
            "rubric": r.rubric,
            "edited_payload": r.edited_payload,
            "diff": r.diff,
            "rationale": r.rationale,
            "time_on_task_ms": r.time_on_task_ms,
        })).collect::<Vec<_>>(),
        "preference": preference,
    })
}
