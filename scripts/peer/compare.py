#!/usr/bin/env python3
"""Runs one labelling workload against Label Studio and Loopgate, and compares them per step.

The servers must be running already (`scripts/peer/run.sh` starts both, runs this, and stops
them). The workload, identical on both sides:

1. create a project: a Label Studio project with a single-choice config over the 77 BANKING77
   intents; a Loopgate `label` policy in shadow mode (every item goes to people, as every Label
   Studio task awaits annotation);
2. import N real tickets from BANKING77 with a model's prediction and its score, in requests of
   `--import-batch` tasks, one after another from one client;
3. K concurrent workers, each with its own account, loop until the queue is empty: fetch the next
   task (Label Studio `GET /api/projects/{id}/next`, Loopgate `POST /v1/reviews/claim`) and submit
   an annotation with the ticket's true intent (Label Studio `POST /api/tasks/{id}/annotations`,
   Loopgate `POST /v1/items/{id}/decision`: approve when the prediction was right, else edit).

Every request's latency is recorded; the servers' CPU time (user + system, from /proc) is read
before and after each step. Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import platform
import random
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

MODEL = "peer-sim"


# --- HTTP -----------------------------------------------------------------------------------


# How often a request answered with a 5xx (or 429) is sent: Label Studio on SQLite may answer
# 500 ("database is locked") when concurrent requests write; Loopgate answers 429 past a key's
# rate limit (2,000 requests/s by default, far above this workload).
RETRIES = 50


class HttpError(RuntimeError):
    pass


def error_text(parsed) -> str:
    """A short description of an error answer (JSON or an HTML page)."""
    text = json.dumps(parsed) if isinstance(parsed, (dict, list)) else str(parsed or "")
    if "database is locked" in text:
        return "database is locked"
    if "<html" in text.lower():
        return "an HTML error page (the server's log has the cause)"
    return " ".join(text.split())[:200]


class Client:
    """One keep-alive connection to a server, with an Authorization header."""

    def __init__(self, base: str, auth: str, timeout: float = 600.0):
        url = urllib.parse.urlsplit(base)
        self.host = url.hostname
        self.port = url.port
        self.auth = auth
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.errors: list[dict] = []

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def request(self, method: str, path: str, body=None, extra=None) -> tuple[int, object, float]:
        """Sends one request, with the `extra` headers; answers (status, parsed JSON or None,
        seconds)."""
        headers = {"Authorization": self.auth, "Accept": "application/json", **(extra or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            reused = self.conn is not None
            start = time.perf_counter()
            try:
                conn = self._connection()
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the server had closed: send again on a new one, once.
                self.close()
                if not reused or attempt == 2:
                    raise
        seconds = time.perf_counter() - start
        if response.will_close:
            self.close()
        parsed = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode(errors="replace")[:500]
        return response.status, parsed, seconds

    def call(self, name: str, method: str, path: str, body=None, ok=(200, 201), extra=None) -> tuple[int, object, float]:
        """A request that must answer one of `ok`. A 5xx or 429 answer is recorded in
        `self.errors` and the request sent again (up to RETRIES times, after a short pause); the
        seconds answered run from the first attempt to the last answer."""
        start = time.perf_counter()
        for attempt in range(1, RETRIES + 1):
            status, parsed, _ = self.request(method, path, body, extra)
            if (status < 500 and status != 429) or attempt == RETRIES:
                break
            self.errors.append({"request": name, "status": status, "error": error_text(parsed)})
            time.sleep(0.01 * attempt)
        seconds = time.perf_counter() - start
        if status not in ok:
            raise HttpError(f"{method} {path}: HTTP {status}: {str(parsed)[:800]}")
        return status, parsed, seconds

    def expect(self, method: str, path: str, body=None, ok=(200, 201), extra=None) -> tuple[object, float]:
        _, parsed, seconds = self.call(f"{method} {path}", method, path, body, ok, extra)
        return parsed, seconds

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --- measurements ---------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # After the command name: field 3 is the state, 4 the parent, 14 utime, 15 stime.
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process and all its live descendants (a pre-forking
    server's workers too), from /proc."""
    if not pid:
        return None
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                stats[int(entry)] = fields
                children.setdefault(int(fields[1]), []).append(int(entry))
    if pid not in stats:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            total += int(stats[p][11]) + int(stats[p][12])
        todo.extend(children.get(p, []))
    return total / ticks


@dataclass
class Step:
    ops: int = 0
    seconds: float = 0.0
    cpu: float | None = None
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)

    def add(self, name: str, seconds: float):
        self.latencies.setdefault(name, []).append(seconds)

    def summary(self) -> dict:
        out = {
            "ops": self.ops,
            "seconds": round(self.seconds, 4),
            "per_second": round(self.ops / self.seconds, 2) if self.seconds else None,
            "server_cpu_seconds": None if self.cpu is None else round(self.cpu, 3),
            "server_cpu_us_per_op": None
            if self.cpu is None or not self.ops
            else round(self.cpu / self.ops * 1e6, 1),
            "latency_ms": {},
            "server_errors": len(self.errors),
            "server_errors_by_kind": {},
        }
        for e in self.errors:
            kind = f"{e['request']}: HTTP {e['status']} {e['error']}"
            out["server_errors_by_kind"][kind] = out["server_errors_by_kind"].get(kind, 0) + 1
        for name, values in self.latencies.items():
            out["latency_ms"][name] = {
                "count": len(values),
                "p50": round(percentile(values, 50) * 1000, 3),
                "p99": round(percentile(values, 99) * 1000, 3),
                "max": round(max(values) * 1000, 3),
            }
        return out


class Timed:
    """Measures wall time and server CPU of a step."""

    def __init__(self, step: Step, pid: int | None):
        self.step, self.pid = step, pid

    def __enter__(self):
        self.cpu0 = cpu_seconds(self.pid)
        self.t0 = time.perf_counter()
        return self.step

    def __exit__(self, *exc):
        self.step.seconds = time.perf_counter() - self.t0
        cpu1 = cpu_seconds(self.pid)
        if self.cpu0 is not None and cpu1 is not None:
            self.step.cpu = cpu1 - self.cpu0
        return False


# --- the workload ---------------------------------------------------------------------------


@dataclass
class Ticket:
    ref: int
    text: str
    truth: str
    predicted: str
    score: float


def load_tickets(path: str, labels: list[str], n: int, seed: int, accuracy: float) -> list[Ticket]:
    """N tickets sampled from the CSV, each with a simulated model's prediction and score."""
    with open(path, newline="") as f:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(f)]
    rng = random.Random(seed)
    order = list(range(len(rows)))
    rng.shuffle(order)
    tickets = []
    for i in range(n):
        text, truth = rows[order[i % len(order)]]
        if rng.random() < accuracy:
            predicted, score = truth, round(rng.uniform(0.55, 0.99), 4)
        else:
            predicted = rng.choice([label for label in labels if label != truth])
            score = round(rng.uniform(0.15, 0.85), 4)
        tickets.append(Ticket(i, text, truth, predicted, score))
    return tickets


def chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def run_workers(k: int, work) -> tuple[list[dict], list[BaseException]]:
    """Runs work(i) on k threads at once; answers their results and errors."""
    results: list[dict] = [{} for _ in range(k)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(k)

    def body(i: int):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as e:  # noqa: BLE001 - reported after the run
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def run_review(review, server_pid, k: int, work) -> list[dict]:
    """Runs k workers of `work` under the server's timer and adds their counts and latencies
    (next task, submit, round trip) to `review`; raises the first worker's error."""
    with Timed(review, server_pid):
        results, errors = run_workers(k, work)
    if errors:
        raise errors[0]
    for r in results:
        review.ops += r["done"]
        review.errors += r["errors"]
        for s in r["fetch"]:
            review.add("next task", s)
        for s in r["submit"]:
            review.add("submit annotation", s)
        for s in r["trips"]:
            review.add("round trip", s)
    return results


def label_config(labels: list[str]) -> str:
    choices = "\n".join(f'    <Choice value="{label}"/>' for label in labels)
    return (
        "<View>\n"
        '  <Text name="text" value="$text"/>\n'
        '  <Choices name="intent" toName="text" choice="single" showInLine="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>"
    )


def choice(label: str) -> list[dict]:
    return [{"from_name": "intent", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def run_label_studio(args, tickets: list[Ticket], labels: list[str]) -> dict:
    admin = Client(args.ls_url, f"Token {args.ls_admin_token}")
    create, imported, review = Step(), Step(), Step()

    # 1. The project.
    with Timed(create, args.ls_pid):
        project, seconds = admin.expect(
            "POST",
            "/api/projects/",
            {"title": "BANKING77 peer benchmark", "label_config": label_config(labels), "maximum_annotations": 1},
        )
    create.ops = 1
    create.add("create project", seconds)
    create.errors, admin.errors = admin.errors, []
    pid = project["id"]

    # 2. The tasks, with predictions and scores.
    with Timed(imported, args.ls_pid):
        for batch in chunks(tickets, args.import_batch):
            tasks = [
                {
                    "data": {"text": t.text, "ref": t.ref},
                    "predictions": [{"model_version": MODEL, "score": t.score, "result": choice(t.predicted)}],
                }
                for t in batch
            ]
            answer, seconds = admin.expect("POST", f"/api/projects/{pid}/import", tasks, ok=(201,))
            imported.add("import request", seconds)
            imported.ops += answer.get("task_count", 0)
    imported.errors, admin.errors = admin.errors, []
    if imported.ops != len(tickets):
        raise HttpError(f"Label Studio imported {imported.ops} tasks, not {len(tickets)}")

    # 3. K workers: next task, then an annotation, until nothing is left.
    truth = {t.ref: t.truth for t in tickets}

    def worker(i: int) -> dict:
        client = Client(args.ls_url, f"Token {args.ls_worker_tokens[i]}")
        done, fetch, submit, trips, tasks = 0, [], [], [], []
        while True:
            t0 = time.perf_counter()
            status, task, seconds = client.call("next task", "GET", f"/api/projects/{pid}/next", ok=(200, 404))
            fetch.append(seconds)
            if status == 404:
                break
            label = truth[task["data"]["ref"]]
            _, _, seconds = client.call(
                "submit annotation",
                "POST",
                f"/api/tasks/{task['id']}/annotations/",
                {"result": choice(label), "lead_time": 1.0},
                ok=(201,),
            )
            submit.append(seconds)
            trips.append(time.perf_counter() - t0)
            tasks.append(task["id"])
            done += 1
            if args.limit_seconds and time.perf_counter() - started > args.limit_seconds:
                break
        client.close()
        return {"done": done, "fetch": fetch, "submit": submit, "trips": trips, "tasks": tasks, "errors": client.errors}

    started = time.perf_counter()
    results = run_review(review, args.ls_pid, args.workers, worker)

    # Checks: every task annotated exactly once.
    submitted = [task for r in results for task in r["tasks"]]
    info, _ = admin.expect("GET", f"/api/projects/{pid}/")
    checks = {
        "tasks": info.get("task_number"),
        "tasks_with_annotations": info.get("num_tasks_with_annotations"),
        "annotations": info.get("total_annotations_number"),
        "annotations_submitted": len(submitted),
        "tasks_annotated_twice_by_workers": len(submitted) - len(set(submitted)),
        "per_worker": [r["done"] for r in results],
    }
    # A task handed to two workers at once gets two annotations: Label Studio's behaviour, reported
    # (tasks_annotated_twice_by_workers), not a failure of the run.
    checks["ok"] = (
        checks["tasks"] == len(tickets)
        and checks["tasks_with_annotations"] == len(tickets)
        and checks["annotations"] == len(submitted)
    )
    admin.close()
    return {
        "create": create.summary(),
        "import": imported.summary(),
        "review": review.summary(),
        "checks": checks,
    }


def run_loopgate(args, tickets: list[Ticket], labels: list[str]) -> dict:
    admin = Client(args.lg_url, f"Bearer {args.lg_admin_key}")
    create, imported, review = Step(), Step(), Step()

    # Keys: one agent (imports), one reviewer per worker. Like Label Studio's accounts, they are
    # made before the clock starts.
    def key(name: str, role: str, roles: list[str]) -> str:
        answer, _ = admin.expect(
            "POST", "/v1/keys", {"name": name, "role": role, "reviewer_roles": roles}, ok=(201,)
        )
        return answer["key"]

    agent = Client(args.lg_url, f"Bearer {key('peer-agent', 'agent', [])}")
    reviewer_keys = [key(f"peer-reviewer-{i + 1}", "reviewer", ["triage"]) for i in range(args.workers)]

    # 1. The project: a label policy in shadow mode, so that every item goes to people.
    policy = "banking77.peer"
    with Timed(create, args.lg_pid):
        _, seconds = admin.expect(
            "POST",
            "/v1/policies",
            {
                "name": policy,
                "kind": "label",
                "mode": "shadow",
                "thresholds": {"approve_at": 0.9, "reject_below": 0.0},
                "validators": {"required_fields": ["label"]},
                "description": "BANKING77 peer benchmark: every item to people",
            },
            ok=(201,),
        )
    create.ops = 1
    create.add("create project", seconds)
    create.errors, admin.errors = admin.errors, []

    # 2. The items, with the model's label and confidence.
    with Timed(imported, args.lg_pid):
        for batch in chunks(tickets, args.import_batch):
            items = [
                {
                    "policy": policy,
                    "input": {"text": t.text, "ref": t.ref},
                    "customer": {"id": f"customer-{t.ref % 500}"},
                    "proposal": {
                        "kind": "label",
                        "payload": {"label": t.predicted},
                        "confidence": t.score,
                        "model": MODEL,
                    },
                }
                for t in batch
            ]
            # An importer needs each item's id and status, as Label Studio answers a count.
            answer, seconds = agent.expect(
                "POST", "/v1/items:batch", {"items": items}, ok=(201,), extra={"Prefer": "return=minimal"}
            )
            imported.add("import request", seconds)
            queued = [i for i in answer["items"] if i["status"] == "queued"]
            if len(queued) != len(batch):
                raise HttpError(f"Loopgate queued {len(queued)} of {len(batch)} items; the policy should queue all")
            imported.ops += len(answer["items"])
    imported.errors, agent.errors = agent.errors, []

    # 3. K workers: claim, then decide, until nothing is left.
    truth = {t.ref: t.truth for t in tickets}

    def worker(i: int) -> dict:
        client = Client(args.lg_url, f"Bearer {reviewer_keys[i]}")
        done, fetch, submit, trips, items, outcomes = 0, [], [], [], [], {}
        while True:
            t0 = time.perf_counter()
            status, claimed, seconds = client.call("next task", "POST", "/v1/reviews/claim", ok=(200, 204))
            fetch.append(seconds)
            if status == 204:
                break
            item = claimed["item"]
            label = truth[item["input"]["ref"]]
            lease = item["lease"]["id"]
            if item["proposal"]["payload"]["label"] == label:
                decision = {"lease_id": lease, "decision": "approve"}
            else:
                decision = {"lease_id": lease, "decision": "edit", "edited_payload": {"label": label}}
            _, answer, seconds = client.call(
                "submit annotation", "POST", f"/v1/items/{item['id']}/decision", decision, ok=(200,)
            )
            submit.append(seconds)
            trips.append(time.perf_counter() - t0)
            items.append(item["id"])
            outcomes[answer["status"]] = outcomes.get(answer["status"], 0) + 1
            done += 1
            if args.limit_seconds and time.perf_counter() - started > args.limit_seconds:
                break
        client.close()
        return {
            "done": done,
            "fetch": fetch,
            "submit": submit,
            "trips": trips,
            "items": items,
            "outcomes": outcomes,
            "errors": client.errors,
        }

    started = time.perf_counter()
    results = run_review(review, args.lg_pid, args.workers, worker)

    # Checks: every item decided, exactly once, none left waiting.
    decided = [i for r in results for i in r["items"]]
    statuses: dict[str, int] = {}
    before = None
    while True:
        query = f"/v1/items?policy={policy}&limit=500" + (f"&before={before}" if before else "")
        page, _ = admin.expect("GET", query)
        for it in page["items"]:
            statuses[it["status"]] = statuses.get(it["status"], 0) + 1
        before = page.get("next_before")
        if not before:
            break
    outcomes: dict[str, int] = {}
    for r in results:
        for name, count in r["outcomes"].items():
            outcomes[name] = outcomes.get(name, 0) + count
    final = statuses.get("approved", 0) + statuses.get("edited", 0)
    checks = {
        "items": sum(statuses.values()),
        "statuses": statuses,
        "decisions": len(decided),
        "items_decided_twice_by_workers": len(decided) - len(set(decided)),
        "decision_answers": outcomes,
        "per_worker": [r["done"] for r in results],
    }
    checks["ok"] = (
        checks["items"] == len(tickets)
        and final == len(tickets)
        and len(decided) == len(tickets)
        and checks["items_decided_twice_by_workers"] == 0
    )
    admin.close()
    agent.close()
    return {
        "create": create.summary(),
        "import": imported.summary(),
        "review": review.summary(),
        "checks": checks,
    }


# --- the report -----------------------------------------------------------------------------


def fmt(x, digits=1) -> str:
    if x is None:
        return "–"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:,.1f}"
    return f"{x:,.{max(digits, 2)}f}"


def ratio(a, b) -> str:
    """a / b as `12.3×`."""
    if a is None or b is None or b == 0:
        return "–"
    r = a / b
    return f"{r:,.0f}×" if r >= 100 else f"{r:,.1f}×"


def render(report: dict) -> str:
    ls, lg, meta = report["label_studio"], report["loopgate"], report["meta"]
    n, k = meta["tasks"], meta["workers"]

    def lat(side, step, name, p):
        return side[step]["latency_ms"].get(name, {}).get(p)

    rows = []
    # Create project: one request; the ratio compares its duration.
    rows.append(
        (
            "1. create project: ms (one request)",
            fmt(lat(ls, "create", "create project", "p50")),
            fmt(lat(lg, "create", "create project", "p50")),
            ratio(lat(ls, "create", "create project", "p50"), lat(lg, "create", "create project", "p50")),
        )
    )
    rows.append(
        (
            f"2. import {n:,} tasks with predictions: tasks/s",
            fmt(ls["import"]["per_second"]),
            fmt(lg["import"]["per_second"]),
            "**" + ratio(lg["import"]["per_second"], ls["import"]["per_second"]) + "**",
        )
    )
    rows.append(
        (
            f"   import: wall time, s",
            fmt(ls["import"]["seconds"]),
            fmt(lg["import"]["seconds"]),
            "",
        )
    )
    for p in ("p50", "p99"):
        rows.append(
            (
                f"   import: request {p}, ms ({meta['import_batch']:,} tasks a request)",
                fmt(lat(ls, "import", "import request", p)),
                fmt(lat(lg, "import", "import request", p)),
                ratio(lat(ls, "import", "import request", p), lat(lg, "import", "import request", p)),
            )
        )
    rows.append(
        (
            "   import: server CPU, µs per task",
            fmt(ls["import"]["server_cpu_us_per_op"]),
            fmt(lg["import"]["server_cpu_us_per_op"]),
            ratio(ls["import"]["server_cpu_us_per_op"], lg["import"]["server_cpu_us_per_op"]),
        )
    )
    rows.append(("   import: 5xx or 429 answers (each retried)", str(ls["import"]["server_errors"]), str(lg["import"]["server_errors"]), ""))
    rows.append(
        (
            f"3. next task + submit, {k} workers: round trips/s",
            fmt(ls["review"]["per_second"]),
            fmt(lg["review"]["per_second"]),
            "**" + ratio(lg["review"]["per_second"], ls["review"]["per_second"]) + "**",
        )
    )
    rows.append(("   next + submit: wall time, s", fmt(ls["review"]["seconds"]), fmt(lg["review"]["seconds"]), ""))
    for name in ("next task", "submit annotation", "round trip"):
        for p in ("p50", "p99"):
            rows.append(
                (
                    f"   {name}: {p}, ms",
                    fmt(lat(ls, "review", name, p)),
                    fmt(lat(lg, "review", name, p)),
                    ratio(lat(ls, "review", name, p), lat(lg, "review", name, p)),
                )
            )
    rows.append(
        (
            "   next + submit: server CPU, µs per round trip",
            fmt(ls["review"]["server_cpu_us_per_op"]),
            fmt(lg["review"]["server_cpu_us_per_op"]),
            ratio(ls["review"]["server_cpu_us_per_op"], lg["review"]["server_cpu_us_per_op"]),
        )
    )

    rows.append(("   next + submit: 5xx or 429 answers (each retried)", str(ls["review"]["server_errors"]), str(lg["review"]["server_errors"]), ""))

    lines = [
        f"# Loopgate side by side with Label Studio",
        "",
        f"Workload: {n:,} BANKING77 tickets (`train.csv`, seed {meta['seed']}) with a simulated model's "
        f"prediction and score; imported {meta['import_batch']:,} a request from one client; "
        f"{k} concurrent workers, each with its own account, fetch the next task and submit an annotation "
        "until the queue is empty.",
        "",
        f"- Label Studio {meta['ls_version']}, SQLite, server mode: **{meta['ls_mode']}**.",
        f"- Loopgate {meta['lg_version']}, `loopgate serve` (embedded SQLite), policy in shadow mode "
        "(every item to people); fetch = `POST /v1/reviews/claim`, submit = `POST /v1/items/{id}/decision`.",
        f"- Both servers and this client on the same machine ({meta['cpus']} CPUs, load average "
        f"{meta['loadavg_before']} before the run); run at {meta['started']}.",
        "",
        "| step | Label Studio | Loopgate | Loopgate ÷ Label Studio |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += [
        "",
        "Ratios: throughput is Loopgate's divided by Label Studio's; for times (latencies, CPU) it is "
        "Label Studio's divided by Loopgate's, so above 1× means Loopgate is faster either way.",
        "",
    ]
    imp = lg["import"]["per_second"] / ls["import"]["per_second"] if ls["import"]["per_second"] else None
    rev = lg["review"]["per_second"] / ls["review"]["per_second"] if ls["review"]["per_second"] else None
    lines += [
        "| target of issue 7 | measured | met? |",
        "|---|---:|---|",
        f"| import ≥ 50× | {ratio(lg['import']['per_second'], ls['import']['per_second'])} | "
        f"{'yes' if imp and imp >= 50 else 'no'} |",
        f"| next task + submit ≥ 20× | {ratio(lg['review']['per_second'], ls['review']['per_second'])} | "
        f"{'yes' if rev and rev >= 20 else 'no'} |",
        "",
        "5xx or 429 answers by kind: Label Studio "
        + json.dumps({**ls["import"]["server_errors_by_kind"], **ls["review"]["server_errors_by_kind"]})
        + "; Loopgate "
        + json.dumps({**lg["import"]["server_errors_by_kind"], **lg["review"]["server_errors_by_kind"]})
        + ". A request answered with a 5xx or 429 is sent again by this client (up to "
        + str(RETRIES)
        + " times); its latency runs from the first attempt to the answer that counted. "
        "Label Studio also retries inside the server: on SQLite its DatabaseIsLockedRetryMiddleware "
        "answers a request that hit \"database is locked\" by sleeping 1 s (then 1.5 s, ...) and running "
        "it again, invisible to the client but in its latency (`label-studio-errors.txt` counts them).",
        "",
        "Checks:",
        f"- Label Studio: {ls['checks']['tasks']} tasks, {ls['checks']['tasks_with_annotations']} with an "
        f"annotation, {ls['checks']['annotations']} annotations, "
        f"{ls['checks']['tasks_annotated_twice_by_workers']} tasks handed to two workers at once (so annotated twice); per worker "
        f"{ls['checks']['per_worker']}: {'ok' if ls['checks']['ok'] else 'NOT OK'}.",
        f"- Loopgate: {lg['checks']['items']} items, statuses {lg['checks']['statuses']}, "
        f"{lg['checks']['items_decided_twice_by_workers']} items handed to two workers; per worker "
        f"{lg['checks']['per_worker']}: {'ok' if lg['checks']['ok'] else 'NOT OK'}.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", "-n", type=int, default=2000)
    p.add_argument("--workers", "-k", type=int, default=4)
    p.add_argument("--import-batch", type=int, default=1000, help="tasks per import request (Loopgate's maximum is 1000)")
    p.add_argument("--data", required=True, help="BANKING77 train.csv")
    p.add_argument("--categories", required=True, help="BANKING77 categories.json")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--model-accuracy", type=float, default=0.82, help="share of right predictions")
    p.add_argument("--ls-url", required=True)
    p.add_argument("--ls-admin-token", required=True)
    p.add_argument("--ls-worker-tokens", required=True, help="comma-separated, one per worker")
    p.add_argument("--ls-pid", type=int)
    p.add_argument("--ls-version", default="?")
    p.add_argument("--ls-mode", default="?")
    p.add_argument("--lg-url", required=True)
    p.add_argument("--lg-admin-key", required=True)
    p.add_argument("--lg-pid", type=int)
    p.add_argument("--lg-version", default="?")
    p.add_argument("--only", choices=["both", "label-studio", "loopgate"], default="both")
    p.add_argument("--limit-seconds", type=float, default=0, help="stop workers after this long (0: drain)")
    p.add_argument("--out", required=True, help="directory for report.md and report.json")
    args = p.parse_args()
    args.ls_worker_tokens = args.ls_worker_tokens.split(",")
    if len(args.ls_worker_tokens) < args.workers:
        p.error("--ls-worker-tokens needs one token per worker")
    if not 1 <= args.import_batch <= 1000:
        p.error("--import-batch must be 1 to 1000")

    with open(args.categories) as f:
        labels = json.load(f)
    tickets = load_tickets(args.data, labels, args.tasks, args.seed, args.model_accuracy)
    meta = {
        "tasks": args.tasks,
        "workers": args.workers,
        "import_batch": args.import_batch,
        "seed": args.seed,
        "model_accuracy": args.model_accuracy,
        "ls_version": args.ls_version,
        "ls_mode": args.ls_mode,
        "lg_version": args.lg_version,
        "cpus": os.cpu_count(),
        "loadavg_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
    }
    report = {"meta": meta}
    t0 = time.perf_counter()
    if args.only in ("both", "label-studio"):
        print(f"Label Studio: {args.tasks} tasks, {args.workers} workers ...", file=sys.stderr, flush=True)
        report["label_studio"] = run_label_studio(args, tickets, labels)
        print(f"  done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    t1 = time.perf_counter()
    if args.only in ("both", "loopgate"):
        print(f"Loopgate: {args.tasks} tasks, {args.workers} workers ...", file=sys.stderr, flush=True)
        report["loopgate"] = run_loopgate(args, tickets, labels)
        print(f"  done in {time.perf_counter() - t1:.1f} s", file=sys.stderr, flush=True)
    meta["loadavg_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    meta["run_seconds"] = round(time.perf_counter() - t0, 1)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    if "label_studio" in report and "loopgate" in report:
        text = render(report)
        with open(os.path.join(args.out, "report.md"), "w") as f:
            f.write(text)
        print(text)
        ok = report["label_studio"]["checks"]["ok"] and report["loopgate"]["checks"]["ok"]
    else:
        print(json.dumps(report, indent=2))
        ok = all(report[s]["checks"]["ok"] for s in ("label_studio", "loopgate") if s in report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
