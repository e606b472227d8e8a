// Loopgate workspace: keyboard shortcuts, live SLA countdowns, live queue, edit diff preview.
// No framework: the server renders every page; this file only adds speed.
(function () {
  "use strict";
  const csrf = document.body.dataset.csrf || "";
  const page = document.body.dataset.page || "";

  // --- SLA countdowns -----------------------------------------------------------------
  function fmt(ms) {
    const neg = ms < 0;
    let s = Math.floor(Math.abs(ms) / 1000);
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const t = (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
    return neg ? "breached " + t + " ago" : t;
  }
  function tick() {
    const now = Date.now();
    document.querySelectorAll(".sla[data-due]").forEach(function (el) {
      const due = Number(el.dataset.due);
      if (!due) return;
      const left = due - now;
      el.textContent = fmt(left);
      el.classList.toggle("breached", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 5 * 60 * 1000);
      const row = el.closest("tr");
      if (row && left < 0) row.classList.add("breached");
    });
  }
  tick();
  setInterval(tick, 1000);

  // --- help -----------------------------------------------------------------------------
  const help = document.getElementById("help");
  function showHelp(open) { if (help) { help.hidden = !open; if (open) help.querySelector("button").focus(); } }
  document.querySelectorAll("[data-help]").forEach(function (b) { b.addEventListener("click", function () { showHelp(true); }); });
  document.querySelectorAll("[data-help-close]").forEach(function (b) { b.addEventListener("click", function () { showHelp(false); }); });

  function typing(e) {
    const t = e.target;
    return t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && t.type !== "checkbox") || t.tagName === "SELECT");
  }
  function post(path) {
    const form = document.createElement("form");
    form.method = "post"; form.action = path;
    const input = document.createElement("input");
    input.type = "hidden"; input.name = "csrf"; input.value = csrf;
    form.appendChild(input); document.body.appendChild(form); form.submit();
  }

  // --- queue: selection, live rows ------------------------------------------------------
  let selected = -1;
  function rows() { return Array.from(document.querySelectorAll("#queue-rows tr[data-href]")); }
  function select(i) {
    const r = rows();
    if (!r.length) return;
    selected = Math.max(0, Math.min(r.length - 1, i));
    r.forEach(function (row, j) { row.classList.toggle("selected", j === selected); });
    r[selected].focus();
  }
  if (page === "queue") {
    document.getElementById("queue-rows").addEventListener("click", function (e) {
      const row = e.target.closest("tr[data-href]");
      if (row && e.target.tagName !== "A") location.href = row.dataset.href;
    });
    let pending = null;
    function refresh() {
      fetch("/queue/rows" + location.search, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) {
          if (!d) return;
          const href = (rows()[selected] || {}).dataset ? rows()[selected].dataset.href : null;
          document.getElementById("queue-rows").innerHTML = d.rows;
          document.getElementById("waiting").textContent = d.waiting + " waiting for you";
          const next = document.querySelector("#next-form button");
          if (next) next.disabled = d.waiting === 0;
          const i = rows().findIndex(function (r) { return r.dataset.href === href; });
          if (i >= 0) select(i);
          tick();
        });
    }
    if (window.EventSource) {
      const events = new EventSource("/events");
      events.addEventListener("changed", function () {
        if (pending) return;
        pending = setTimeout(function () { pending = null; refresh(); }, 300);
      });
    }
  }

  // --- item: decisions by key, edit diff preview ---------------------------------------
  // Audits: a for right, r for escaped.
  const auditForm = document.getElementById("audit-form");
  if (auditForm) {
    const judge = function (escaped) { document.getElementById("escaped").value = escaped; auditForm.submit(); };
    auditForm.querySelectorAll("button[data-escaped]").forEach(function (b) {
      b.addEventListener("click", function (e) { e.preventDefault(); judge(b.dataset.escaped); });
    });
    document.addEventListener("keydown", function (e) {
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
      if (e.key === "a") { e.preventDefault(); judge("false"); }
      else if (e.key === "r") { e.preventDefault(); judge("true"); }
    });
  }
  if (page === "audits" && !auditForm) {
    document.addEventListener("keydown", function (e) {
      if (e.key === "n" && !typing(e)) { e.preventDefault(); post("/audits/next"); }
    });
  }

  const item = document.querySelector(".item[data-item]");
  const form = document.getElementById("decide");
  const edited = document.getElementById("edited");
  function decide(decision) {
    if (!form) return;
    document.getElementById("decision").value = decision;
    form.querySelectorAll("button[data-decision]").forEach(function (b) { b.classList.toggle("chosen", b.dataset.decision === decision); });
    form.submit();
  }
  if (form) {
    form.querySelectorAll("button[data-decision]").forEach(function (b) {
      b.addEventListener("click", function (e) { e.preventDefault(); decide(b.dataset.decision); });
    });
  }
  let diffTimer = null;
  let diffSeq = 0;
  function previewDiff() {
    if (!edited || !item) return;
    // Only the answer to the latest request is shown: an earlier, slower one must not
    // overwrite it.
    const seq = ++diffSeq;
    const box = document.getElementById("diff-preview");
    fetch("/items/" + item.dataset.item + "/diff", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ edited: edited.value }),
    }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.json();
    }).then(function (d) {
      if (seq !== diffSeq) return;
      box.textContent = "";
      if (d.error) { box.textContent = d.error; return; }
      if (!d.changed) return;
      const pre = document.createElement("pre");
      pre.className = "diff";
      d.unified.replace(/\n$/, "").split("\n").forEach(function (line) {
        const span = document.createElement("span");
        if (line.startsWith("+") && !line.startsWith("+++")) span.className = "add";
        if (line.startsWith("-") && !line.startsWith("---")) span.className = "del";
        span.textContent = line + "\n";
        pre.appendChild(span);
      });
      box.appendChild(pre);
    }).catch(function () {
      if (seq === diffSeq) box.textContent = "The preview is unavailable; reload the page if this persists.";
    });
  }
  if (edited) {
    edited.addEventListener("input", function () { clearTimeout(diffTimer); diffTimer = setTimeout(previewDiff, 150); });
  }
  function edits() { return edited && edited.value !== edited.dataset.original; }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape") { showHelp(false); if (typing(e)) e.target.blur(); return; }
    if (e.key === "Enter" && form && e.target === edited) {
      if (e.shiftKey) return;
      e.preventDefault();
      // An unchanged draft is not an edit: the server would refuse it and the reviewer would
      // land on an error page.
      if (edits()) decide("edit");
      else document.getElementById("diff-preview").textContent = "No changes to save. Press Esc, then a to approve as it is.";
      return;
    }
    if (typing(e)) return;
    if (help && !help.hidden) return;
    const k = e.key;
    if (k === "?") { e.preventDefault(); showHelp(true); return; }
    if (k === "n" && page !== "audits") { e.preventDefault(); post("/review/next"); return; }
    if (page === "queue") {
      if (k === "j") { e.preventDefault(); select(selected + 1); }
      else if (k === "k") { e.preventDefault(); select(selected - 1); }
      else if (k === "Enter" && selected >= 0) { e.preventDefault(); location.href = rows()[selected].dataset.href; }
      return;
    }
    if (item && (k === "j" || k === "k")) {
      const to = k === "j" ? item.dataset.next : item.dataset.prev;
      if (to) { e.preventDefault(); location.href = to; }
      return;
    }
    if (!form) return;
    const stage = item.dataset.stage;
    if (k === "a") { e.preventDefault(); decide("approve"); }
    else if (k === "r") { e.preventDefault(); decide("reject"); }
    else if (k === "x" && stage !== "sme") { e.preventDefault(); decide("escalate"); }
    else if (k === "s" && stage === "confirm") { e.preventDefault(); decide("send_back"); }
    else if (k === "e" && edited) { e.preventDefault(); edited.focus(); }
    else if (k === "Enter") { e.preventDefault(); decide(edits() ? "edit" : "approve"); }
    else if (/^[1-9]$/.test(k)) {
      const box = form.querySelector('input[name="codes"][data-key="' + k + '"]');
      if (box) { e.preventDefault(); box.checked = !box.checked; }
    }
  });

  if (page === "queue" && rows().length) select(0);
})();
