// Bingo dashboard: live refresh from the JSON API and a few conveniences. No dependencies.
//
// A page's <main data-api="URL" data-every="ms"> is fetched every few seconds; elements
// inside it are updated from the JSON (text only: values are set with textContent or as
// attributes, never as HTML):
//   data-bind="a.b" data-fmt="n|pct|bytes|dur|ago|when|json|queues|yes"   text
//   data-href / data-action="/queue/queues/{queue}"                 link / form target
//   data-value="id"  data-title="error"  data-class="state"         value / title / class
//   data-max="progress.total"                                       a <progress>'s max (1 if none)
//   data-show="paused"  data-hide="paused"                          visibility
//   <tbody data-rows="queues" data-key="queue" data-cols="9" data-empty="text">
//     <template>one row, its bindings relative to the item</template>
//   <img data-refresh>                                              reloaded every 30 s
//   <section data-problems="URL" data-flag-words="{kind: word}">   the problems list, and
//     the words flagging the rows (data-k = queue) of the queue tables and the cards
//     <div data-card-kind="kind"> (their <span data-card-flag> shown while one is found)
//   <table data-sortable>: a click on a header sorts the rows by that column (a cell's
//     data-v, else its text), kept across refreshes; <th data-nosort> does not sort
(() => {
  "use strict";
  const body = document.body;
  const zone = body.dataset.zone || "UTC";
  let whenFmt;
  try {
    whenFmt = new Intl.DateTimeFormat("sv-SE", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    });
  } catch (e) {
    whenFmt = new Intl.DateTimeFormat("sv-SE", { hour12: false });
  }

  function dur(s) {
    s = Math.max(0, Number(s));
    if (s < 1) return Math.round(s * 1000) + " ms";
    if (s < 60) return s.toFixed(1) + " s";
    if (s < 3600) return Math.floor(s / 60) + "m " + Math.floor(s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
  }
  const FORMATS = {
    n: (v) => v == null ? "-" : (Number.isInteger(v) ? v.toLocaleString("en-US")
      : Number(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })),
    pct: (v) => v == null ? "-" : (Number(v) * 100).toFixed(1) + "%",
    bytes: (v) => {
      if (v == null) return "-";
      let a = Number(v);
      for (const u of ["B", "KB", "MB", "GB"]) {
        if (a < 1024 || u === "GB") return u === "B" ? a.toFixed(0) + " B" : a.toFixed(1) + " " + u;
        a /= 1024;
      }
      return a.toFixed(1) + " GB";
    },
    dur: (v) => v == null ? "-" : dur(v),
    ago: (v) => {
      if (!v) return "-";
      const d = Date.now() / 1000 - Number(v);
      return d >= 0 ? dur(d) + " ago" : "in " + dur(-d);
    },
    when: (v) => v ? whenFmt.format(new Date(Number(v) * 1000)) : "-",
    json: (v) => JSON.stringify(v),
    queues: (v) => Array.isArray(v) ? v.join(", ")
      : (v && typeof v === "object" ? Object.entries(v).map(([q, w]) => q + " \u00d7" + w).join(", ") : ""),
    yes: (v) => v ? "yes" : "",
    text: (v) => v == null ? "" : String(v),
  };

  function get(data, path) {
    if (path === "" || path === ".") return data;
    let v = data;
    for (const part of path.split(".")) {
      if (v == null) return undefined;
      v = v[part];
    }
    return v;
  }
  function subst(template, data) {
    return template.replace(/\{([\w.]+)\}/g, (_, p) => encodeURIComponent(get(data, p) ?? ""));
  }
  function truthy(v) {
    return Array.isArray(v) ? v.length > 0 : Boolean(v);
  }

  // Bindings of one scope: skip elements that belong to a nested row list.
  function fill(scope, data, isRoot) {
    const own = (el) => {
      const rows = el.parentElement && el.parentElement.closest("[data-rows]");
      return isRoot ? rows === null : !rows || !scope.contains(rows);
    };
    const all = [...(scope.querySelectorAll ? scope.querySelectorAll("*") : [])];
    for (const el of all) {
      if (!own(el)) continue;
      const d = el.dataset;
      if (d.bind !== undefined) {
        const v = get(data, d.bind);
        el.textContent = (FORMATS[d.fmt || "text"] || FORMATS.text)(v);
        if (typeof v === "number" || typeof v === "string") d.v = String(v);
      }
      if (d.href) el.setAttribute("href", subst(d.href, data));
      if (d.action) el.setAttribute("action", subst(d.action, data));
      if (d.max !== undefined) el.max = Number(get(data, d.max)) || 1;
      if (d.value !== undefined) el.value = String(get(data, d.value) ?? "");
      if (d.title !== undefined) el.title = String(get(data, d.title) ?? "");
      if (d.class !== undefined) {
        if (d.baseClass === undefined) d.baseClass = el.className;
        el.className = (d.baseClass + " " + String(get(data, d.class) ?? "")).trim();
      }
      if (d.show !== undefined) el.hidden = !truthy(get(data, d.show));
      if (d.hide !== undefined) el.hidden = truthy(get(data, d.hide));
    }
    // Decided before any list is rebuilt: rebuilding detaches the lists nested in old rows.
    const lists = [...(scope.querySelectorAll ? scope.querySelectorAll("[data-rows]") : [])].filter(own);
    for (const list of lists) {
      const items = get(data, list.dataset.rows);
      rows(list, Array.isArray(items) ? items : []);
    }
  }

  function rows(list, items) {
    const tpl = list.querySelector(":scope > template");
    if (!tpl) return;
    const key = list.dataset.key;
    const checked = new Set();
    for (const box of list.querySelectorAll("input[type=checkbox]:checked")) checked.add(box.value);
    // A <details> opened in a row stays open when the rows are rebuilt (rows need data-k).
    const opened = new Set();
    for (const d of list.querySelectorAll(":scope > [data-k] details[open]")) {
      const row = d.closest("[data-k]");
      opened.add(row.dataset.k + "#" + [...row.querySelectorAll("details")].indexOf(d));
    }
    const made = [];
    for (const item of items) {
      const frag = tpl.content.cloneNode(true);
      const wrap = document.createElement(list.tagName === "TBODY" ? "tbody" : "div");
      wrap.append(frag);
      fill(wrap, item, false);
      for (const box of wrap.querySelectorAll("input[type=checkbox]")) box.checked = checked.has(box.value);
      for (const el of [...wrap.children]) {
        if (key) el.dataset.k = String(get(item, key) ?? "");
        el.querySelectorAll("details").forEach((d, i) => { if (opened.has(el.dataset.k + "#" + i)) d.open = true; });
        made.push(el);
      }
    }
    if (!items.length && list.dataset.empty) {
      const tr = document.createElement(list.tagName === "TBODY" ? "tr" : "div");
      const td = document.createElement(list.tagName === "TBODY" ? "td" : "div");
      td.className = "empty";
      if (list.dataset.cols) td.colSpan = Number(list.dataset.cols);
      td.textContent = list.dataset.empty;
      tr.append(td);
      made.push(tr);
    }
    for (const el of [...list.children]) if (el !== tpl) el.remove();
    list.append(...made);
  }

  // -- polling -----------------------------------------------------------------------------
  const main = document.querySelector("main[data-api]");
  const live = document.getElementById("live");
  let ticks = 0;
  function busy() {
    if (document.querySelector("main input[name=ids]:checked")) return "paused while tasks are selected";
    const a = document.activeElement;
    if (a && a.closest && a.closest("main form") && a.matches("input,textarea,select")) return "paused while you type";
    return "";
  }
  function status(cls, text) {
    if (!live) return;
    live.hidden = false;
    live.className = "live " + cls;
    live.textContent = text;
  }
  async function poll() {
    const why = busy();
    if (why) { status("off", why); return; }
    try {
      const res = await fetch(main.dataset.api, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (res.status === 401) { location.reload(); return; }
      if (!res.ok) throw new Error("HTTP " + res.status);
      const data = await res.json();
      fill(main, data, true);
      // The problems are read every fifth refresh (they cost more than the figures); the
      // rows rebuilt by every refresh are flagged again from the last answer.
      if (ticks % 5 === 0) await problems();
      markRows();
      for (const table of document.querySelectorAll("table[data-sortable]")) sortRows(table);
      ticks += 1;
      if (ticks % 10 === 0) {
        for (const img of document.querySelectorAll("img[data-refresh]")) {
          const url = new URL(img.src, location.href);
          url.searchParams.set("_", String(Date.now()));
          img.src = url.toString();
        }
      }
      status("", "live " + FORMATS.when(Date.now() / 1000).slice(11));
    } catch (e) {
      status("err", "not updating: " + e.message);
      if (window.console) console.error(e);
    }
  }
  // -- problems ------------------------------------------------------------------------------
  const problemsBox = document.querySelector("[data-problems]");
  let flagged = null;
  async function problems() {
    if (!problemsBox) return;
    const res = await fetch(problemsBox.dataset.problems, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!res.ok) throw new Error("HTTP " + res.status);
    const found = await res.json();
    const list = problemsBox.querySelector("[data-problems-list]");
    const made = [];
    for (const p of found) {
      const li = document.createElement("li");
      li.className = "problem " + p.severity;
      const part = (tag, cls, text) => {
        const el = document.createElement(tag);
        el.className = cls;
        el.textContent = text;
        li.append(el, " ");
      };
      part("span", "sev " + p.severity, p.severity);
      part("span", "kind", p.kind);
      if (p.kind === "workflow_failed") {  // links to the workflow's page
        const link = document.createElement("a");
        link.className = "msg";
        link.href = problemsBox.dataset.workflowUrl + encodeURIComponent(p.subject);
        link.textContent = p.message;
        li.append(link, " ");
      } else part("span", "msg", p.message);
      if (p.since) part("span", "muted since", "since " + FORMATS.when(p.since));
      made.push(li);
    }
    list.replaceChildren(...made);
    problemsBox.querySelector("[data-problems-none]").hidden = found.length > 0;
    problemsBox.querySelector("[data-problems-count]").textContent = String(found.length);
    const words = JSON.parse(problemsBox.dataset.flagWords || "{}");
    const kinds = new Map();
    for (const p of found) if (kinds.get(p.kind) !== "critical") kinds.set(p.kind, p.severity);
    for (const card of document.querySelectorAll("[data-card-kind]")) {
      const sev = kinds.get(card.dataset.cardKind);
      card.classList.remove("flagged", "critical", "warning");
      if (sev) card.classList.add("flagged", sev);
      const flag = card.querySelector("[data-card-flag]");
      if (flag) {
        flag.hidden = !sev;
        flag.className = "badge flag " + (sev || "");
      }
    }
    flagged = new Map();
    for (const p of found) {
      if (!(p.kind in words)) continue;
      const f = flagged.get(p.subject) || { words: [], severity: "warning" };
      f.words.push(words[p.kind]);
      if (p.severity === "critical") f.severity = "critical";
      flagged.set(p.subject, f);
    }
    markRows();
  }
  function markRows() {
    if (!flagged) return;
    for (const tr of document.querySelectorAll("tbody[data-rows=queues] > tr[data-k]")) {
      const f = flagged.get(tr.dataset.k);
      tr.classList.remove("flagged", "critical", "warning");
      if (f) tr.classList.add("flagged", f.severity);
      const box = tr.querySelector("[data-flags]");
      if (!box) continue;
      box.replaceChildren(...(f ? f.words : []).map((w) => {
        const b = document.createElement("span");
        b.className = "badge flag " + f.severity;
        b.textContent = w;
        return b;
      }));
    }
  }

  // -- sortable tables -----------------------------------------------------------------------
  function cellValue(td) {
    const el = td && (td.dataset.v !== undefined ? td : td.querySelector("[data-v]"));
    const raw = el ? el.dataset.v : (td ? td.textContent.trim() : "");
    const n = Number(raw);
    return raw !== "" && Number.isFinite(n) ? n : raw.toLowerCase();
  }
  function sortRows(table) {
    const col = Number(table.dataset.sortCol);
    if (!table.dataset.sortCol || Number.isNaN(col)) return;
    const dir = table.dataset.sortDir === "desc" ? -1 : 1;
    const body = table.tBodies[0];
    const rows = [...body.children].filter((r) => r.tagName === "TR" && r.cells.length > col);
    rows.sort((a, b) => {
      const x = cellValue(a.cells[col]), y = cellValue(b.cells[col]);
      if (typeof x === "number" && typeof y === "number") return (x - y) * dir;
      return String(x).localeCompare(String(y)) * dir;
    });
    body.append(...rows);
  }
  for (const table of document.querySelectorAll("table[data-sortable]")) {
    const heads = [...table.tHead.rows[0].cells];
    heads.forEach((th, i) => {
      if (th.hasAttribute("data-nosort")) return;
      th.tabIndex = 0;
      th.classList.add("sortable");
      th.title = "sort by this column";
      const go = () => {
        const same = table.dataset.sortCol === String(i);
        table.dataset.sortCol = String(i);
        table.dataset.sortDir = same && table.dataset.sortDir !== "desc" ? "desc" : "asc";
        for (const h of heads) h.removeAttribute("aria-sort");
        th.setAttribute("aria-sort", table.dataset.sortDir === "desc" ? "descending" : "ascending");
        sortRows(table);
      };
      th.addEventListener("click", go);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } });
    });
  }

  if (main) {
    status("", "live");
    setInterval(poll, Math.max(1000, Number(main.dataset.every) || 3000));
  }

  // -- conveniences ----------------------------------------------------------------------
  document.addEventListener("submit", (e) => {
    const form = e.target;
    const text = (e.submitter && e.submitter.dataset.confirm) || form.dataset.confirm;
    if (text && !window.confirm(text)) e.preventDefault();
  });
  document.addEventListener("change", (e) => {
    const el = e.target;
    if (el.matches("[data-select-all]")) {
      for (const box of document.querySelectorAll("main input[name=ids]")) box.checked = el.checked;
    }
    if (el.matches("select[data-navigate]")) {
      const url = new URL(location.href);
      url.searchParams.set(el.name, el.value);
      location.href = url.toString();
    }
    if (el.matches("input[name=mode]")) modes();
  });
  function modes() {
    const picked = document.querySelector("input[name=mode]:checked");
    for (const box of document.querySelectorAll("[data-mode]")) {
      box.hidden = picked ? box.dataset.mode !== picked.value : false;
    }
  }
  modes();
  for (const el of document.querySelectorAll("[data-js-hide]")) el.hidden = true;

  // The sys_crontab form: check the row as it is typed (the server validates it).
  const checkForm = document.querySelector("form[data-check-url]");
  if (checkForm) {
    const token = document.querySelector("meta[name=csrf-token]").content;
    let timer = 0;
    const run = async () => {
      const f = new FormData(checkForm);
      const payload = {
        name: f.get("name") || "", type: f.get("type") || "", spec: f.get("spec") || "",
        payload: f.get("payload") || "", enabled: f.get("enabled") === "1",
      };
      try {
        const res = await fetch(checkForm.dataset.checkUrl, {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
          body: JSON.stringify(payload),
        });
        const data = await res.json();
        if (!res.ok) return;
        const box = document.getElementById("preview");
        if (box) {
          box.hidden = false;
          fill(box, data, true);
        }
        for (const el of checkForm.querySelectorAll("[data-error-for]")) {
          el.textContent = (data.errors || {})[el.dataset.errorFor] || "";
        }
      } catch (e) { /* the Check button still works */ }
    };
    checkForm.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, 400); });
  }
})();
