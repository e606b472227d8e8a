//! Every request body the API parses, from arbitrary bytes: the server's own JSON parsing (syntax,
//! depth limit, field paths) into each request type, then what the handlers do next with a body
//! that parsed — a submission's checks and its verdict under a policy that parsed from the same
//! bytes, a policy's validation, a decision's diff. Nothing may panic; every refusal is an
//! `ApiError` with a client (4xx) status.

#![no_main]

use libfuzzer_sys::fuzz_target;
use loopgate_core::verdict;
use loopgate_core::{
    DecisionRequest, PayloadDiff, PolicySpec, Submission, Uncalibrated, VerdictContext,
};
use loopgate_server::extract::parse_json;
use loopgate_server::routes::codes::DecisionCode;
use loopgate_server::routes::keys::CreateKey;
use loopgate_server::routes::learning::{AuditVerdict, KillSwitchRequest, WhatIfRequest};
use loopgate_server::routes::reviews::ClaimBody;
use serde_json::Value;

/// Parses as the API does; a refusal must be the client's fault.
fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    match parse_json::<T>(bytes) {
        Ok(value) => Some(value),
        Err(e) => {
            assert!(
                e.code.status().is_client_error(),
                "{:?}: {}",
                e.code,
                e.message
            );
            None
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    let submission = parse::<Submission>(bytes);
    if let Some(s) = &submission {
        let _ = s.check();
    }
    if let Some(spec) = parse::<PolicySpec>(bytes)
        && let Ok(policy) = spec.validate()
    {
        let fallback = || {
            parse::<Submission>(br#"{"policy": "p", "input": {"text": "t"}, "customer": {"id": "c"}, "proposal": {"kind": "reply", "payload": {}, "confidence": 0.5}}"#)
        };
        if let Some(s) = submission.clone().or_else(fallback) {
            let ctx = VerdictContext {
                now: chrono::DateTime::from_timestamp(1_795_478_400, 0).expect("in range"),
                calibrator: &Uncalibrated,
                kill_switch: None,
                novelty: None,
                thresholds: None,
            };
            let _ = verdict::decide(&policy, &s, &ctx);
        }
    }
    if let Some(request) = parse::<DecisionRequest>(bytes)
        && let Some(edited) = &request.edited_payload
    {
        let before = submission.map_or(Value::Null, |s| s.proposal.payload);
        let _ = PayloadDiff::between(&before, edited);
    }
    let _ = parse::<Value>(bytes);
    let _ = parse::<ClaimBody>(bytes);
    let _ = parse::<DecisionCode>(bytes);
    let _ = parse::<CreateKey>(bytes);
    let _ = parse::<WhatIfRequest>(bytes);
    let _ = parse::<KillSwitchRequest>(bytes);
    let _ = parse::<AuditVerdict>(bytes);
});
