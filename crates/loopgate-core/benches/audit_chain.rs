//! Cost of the audit hash chain: appending one entry (`AuditEntry::chain`: canonical JSON of the
//! fields and SHA-256) with the detail a submitted item records, and verifying a chain of 1,000
//! such entries with `ChainVerifier`. Criterion reports entries per second.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use loopgate_core::clock::from_millis;
use loopgate_core::{
    AuditAction, AuditActor, AuditEntry, AuditEvent, ChainHead, ChainVerifier, ItemId, WorkspaceId,
};
use serde_json::json;

/// The shape of a `submitted` entry: the routed item's snapshot, band, confidence and reasons.
fn event() -> AuditEvent {
    AuditEvent {
        item_id: Some(ItemId::new()),
        actor: AuditActor::system("support-bot"),
        action: AuditAction::Submitted,
        from: Some("received".into()),
        to: Some("queued".into()),
        detail: json!({
            "policy": "reply.draft", "policy_version": 3,
            "after": {"status": "queued", "stage": "first_review", "required_role": "triage",
                      "lane": "P2", "lease": null, "pending_outcome": null, "proposer": null},
            "band": "review",
            "confidence": {"raw": 0.72, "calibrated": 0.68, "calibrator": "platt"},
            "reasons": [
                {"step": "band", "code": "between_thresholds",
                 "message": "calibrated confidence 0.68 is between reject_below 0.3 and approve_at 0.9"},
                {"step": "lane", "code": "default_lane", "message": "lane P2, role triage (policy default)"}
            ]
        }),
    }
}

fn chain(n: usize) -> (Vec<AuditEntry>, ChainHead) {
    let ws = WorkspaceId::default_workspace();
    let t0 = from_millis(1_795_478_400_000).expect("in range");
    let mut head = ChainHead::genesis();
    let entries = (0..n)
        .map(|i| {
            let e = AuditEntry::chain(
                &head,
                &ws,
                t0 + chrono::Duration::milliseconds(i as i64),
                event(),
            );
            head = e.head();
            e
        })
        .collect();
    (entries, head)
}

fn bench(c: &mut Criterion) {
    let ws = WorkspaceId::default_workspace();
    let at = from_millis(1_795_478_400_000).expect("in range");
    let (entries, head) = chain(1_000);

    let mut group = c.benchmark_group("audit_chain");
    group.throughput(Throughput::Elements(1));
    group.bench_function("append", |b| {
        b.iter_batched(
            event,
            |e| AuditEntry::chain(black_box(&head), &ws, at, e),
            BatchSize::SmallInput,
        )
    });
    group.throughput(Throughput::Elements(entries.len() as u64));
    group.bench_function("verify_1000", |b| {
        b.iter(|| {
            let mut verifier = ChainVerifier::new(ws.clone());
            for e in &entries {
                verifier.push(black_box(e)).expect("intact");
            }
            verifier.finish(Some(&head)).expect("complete")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
