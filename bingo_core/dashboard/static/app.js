// Bingo dashboard: live refresh from the JSON API and a few conveniences. No dependencies.
//
// A page's <main data-api="URL" data-every="ms"> is fetched every few seconds; elements
// inside it are updated from the JSON (text only: values are set with textContent or as
// attributes, never as HTML):
//   data-bind="a.b" data-fmt="n|pct|bytes|dur|ago|when|json|yes"   text
//   data-href / data-action="/queue/queues/{queue}"                 link / form target
//   data-value="id"  data-title="error"  data-class="state"         value / title / class
//   data-show="paused"  data-hide="paused"                          visibility
//   <tbody data-rows="queues" data-key="queue" data-cols="9" data-empty="text">
//     <template>one row, its bindings relative to the item</template>
//   <img data-refresh>                                              reloaded every 30 s
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
      }
      if (d.href) el.setAttribute("href", subst(d.href, data));
      if (d.action) el.setAttribute("action", subst(d.action, data));
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
    const made = [];
    for (const item of items) {
      const frag = tpl.content.cloneNode(true);
      const wrap = document.createElement(list.tagName === "TBODY" ? "tbody" : "div");
      wrap.append(frag);
      fill(wrap, item, false);
      for (const box of wrap.querySelectorAll("input[type=checkbox]")) box.checked = checked.has(box.value);
      for (const el of [...wrap.children]) {
        if (key) el.dataset.k = String(get(item, key) ?? "");
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
