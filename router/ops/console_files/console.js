// gold-router operator console: reads /console/stream with fetch() (the token goes in the
// Authorization header, never in a URL), renders each snapshot, and posts the operate actions.
// The token comes from the URL fragment (#token=..., which browsers never send to the server) or
// from the token form, and is kept in sessionStorage for this tab only.
"use strict";

const KEY = "goldrouter.token";
let token = sessionStorage.getItem(KEY) || "";
let state = null;
let streamAbort = null;

function tokenFromFragment() {
  const m = /(?:^|[#&])token=([^&]*)/.exec(location.hash);
  if (!m) return false;
  token = decodeURIComponent(m[1]);
  sessionStorage.setItem(KEY, token);
  // Out of the address bar, so it is not shown on a wall screen or copied along with the link.
  history.replaceState(null, "", location.pathname + location.search);
  return true;
}

function authHeaders(extra) {
  const h = Object.assign({"X-GoldRouter-Client": "console"}, extra || {});
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

// Builds an element; strings become text nodes (never HTML).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v; else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function setConn(text, live) {
  const c = document.getElementById("conn");
  c.textContent = text;
  c.className = "conn " + (live ? "live" : "off");
  c.dataset.state = live ? "live" : "off";
}

function utc(ns) {
  if (ns === null || ns === undefined) return "";
  return new Date(Number(BigInt(ns) / 1000000n)).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function depthTable(book) {
  const n = Math.max(book.bids.length, book.asks.length);
  const rows = [];
  for (let i = 0; i < n; i++) {
    const b = book.bids[i], a = book.asks[i];
    rows.push(el("tr", {},
      el("td", {class: "bid"}, b ? b.orders : ""), el("td", {class: "bid"}, b ? b.lots : ""),
      el("td", {class: "bid price" + (i === 0 && b ? " best" : "")}, b ? b.price : ""),
      el("td", {class: "ask price" + (i === 0 && a ? " best" : "")}, a ? a.price : ""),
      el("td", {class: "ask"}, a ? a.lots : ""), el("td", {class: "ask"}, a ? a.orders : "")));
  }
  if (!n) rows.push(el("tr", {}, el("td", {colspan: 6, class: "empty"}, "no orders")));
  return el("table", {class: "depth"},
    el("thead", {}, el("tr", {}, el("th", {}, "ord"), el("th", {}, "lots"), el("th", {}, "bid"),
                       el("th", {}, "ask"), el("th", {}, "lots"), el("th", {}, "ord"))),
    el("tbody", {}, rows));
}

function renderBooks(books) {
  for (const box of document.querySelectorAll(".books")) {
    const city = box.dataset.city;
    box.replaceChildren(...books.filter(b => b.city === city).map(b =>
      el("div", {class: "book", "data-symbol": b.symbol, "data-status": b.status},
        el("h3", {}, b.symbol + " ", el("span", {class: "status " + b.status}, b.status)),
        el("div", {class: "meta"}, `${b.quote}, lot ${b.lot}` +
           (b.next_change_ns ? `; next transition ${utc(b.next_change_ns)}` : "")),
        depthTable(b))));
  }
}

function scale(p, key) { return p ? p[key] : "-"; }

function renderGroups(groups) {
  const box = document.getElementById("groups");
  box.replaceChildren(...groups.map(g => {
    // The best executable price per side across the member venues, on the comparable scale.
    const bids = g.members.filter(m => m.bid).map(m => Number(m.bid.usd_oz_fine));
    const asks = g.members.filter(m => m.ask).map(m => Number(m.ask.usd_oz_fine));
    const bestBid = bids.length ? Math.max(...bids) : null, bestAsk = asks.length ? Math.min(...asks) : null;
    const members = el("table", {class: "members"},
      el("thead", {}, el("tr", {}, el("th", {class: "l"}, "book"), el("th", {}, "bid (own quote)"),
        el("th", {}, "bid USD/oz"), el("th", {}, "bid CNY/g"), el("th", {}, "ask CNY/g"),
        el("th", {}, "ask USD/oz"), el("th", {}, "ask (own quote)"))),
      el("tbody", {}, g.members.map(m => el("tr", {"data-member": m.symbol},
        el("td", {class: "l"}, m.symbol + " ", el("span", {class: "status " + m.status}, m.status)),
        el("td", {class: "bid"}, scale(m.bid, "price")),
        el("td", {class: "bid" + (m.bid && Number(m.bid.usd_oz_fine) === bestBid ? " best" : "")}, scale(m.bid, "usd_oz_fine")),
        el("td", {class: "bid"}, scale(m.bid, "cny_g_fine")),
        el("td", {class: "ask"}, scale(m.ask, "cny_g_fine")),
        el("td", {class: "ask" + (m.ask && Number(m.ask.usd_oz_fine) === bestAsk ? " best" : "")}, scale(m.ask, "usd_oz_fine")),
        el("td", {class: "ask"}, scale(m.ask, "price"))))));
    const n = Math.max(g.bids.length, g.asks.length);
    const rows = [];
    for (let i = 0; i < n; i++) {
      const b = g.bids[i], a = g.asks[i];
      rows.push(el("tr", {}, el("td", {class: "bid"}, b ? b.grams : ""),
        el("td", {class: "bid"}, b ? b.cny_g_fine : ""), el("td", {class: "bid"}, b ? b.usd_oz_fine : ""),
        el("td", {class: "ask"}, a ? a.usd_oz_fine : ""), el("td", {class: "ask"}, a ? a.cny_g_fine : ""),
        el("td", {class: "ask"}, a ? a.grams : "")));
    }
    if (!n) rows.push(el("tr", {}, el("td", {colspan: 6, class: "empty"}, "no orders")));
    const depth = el("table", {class: "consolidated"},
      el("thead", {}, el("tr", {}, el("th", {}, "grams"), el("th", {}, "bid CNY/g fine"), el("th", {}, "bid USD/oz fine"),
        el("th", {}, "ask USD/oz fine"), el("th", {}, "ask CNY/g fine"), el("th", {}, "grams"))),
      el("tbody", {}, rows));
    return el("div", {class: "card group", "data-group": g.group},
      el("h3", {}, `${g.group} (${g.products.join(", ")})`), members, el("h3", {}, "consolidated depth"), depth);
  }));
}

function renderRoutes(routes) {
  const tbody = document.querySelector("#routes tbody");
  tbody.replaceChildren(...routes.map(r => el("tr", {"data-clordid": r.clordid},
    el("td", {}, utc(r.time_ns).slice(11)), el("td", {}, r.session), el("td", {}, r.clordid),
    el("td", {class: "l"}, `${r.side} ${r.qty} ${r.symbol} @ ${r.price_text || r.price || "market"}`),
    el("td", {class: r.decision === "reject" ? "reject" : ""}, r.decision + (r.reason ? `: ${r.reason}` : "")),
    el("td", {class: "l ranked"}, r.compared.map((c, i) =>
      `${i + 1}. ${c.symbol} ${c.usd_oz_fine} / ${c.all_in_usd_oz_fine}` + (c.cross ? ` (${c.cross})` : "")).join("; ")),
    el("td", {class: "l excluded"}, r.excluded.map(e => `${e.symbol}: ${e.reason}`).join("; ")),
    el("td", {class: "l filled"}, (r.fills || []).map(f => `${f.lots} ${f.symbol} @ ${f.price}`).join("; ")),
    el("td", {class: "rests"}, r.rests_on || ""))));
  if (!routes.length) tbody.append(el("tr", {}, el("td", {colspan: 9, class: "empty"}, "no decisions yet")));
}

function renderQuota(quota) {
  document.getElementById("quota").replaceChildren(...quota.map(q => {
    const pct = Math.max(0, Math.min(100, q.used_per_mille / 10));
    const fill = el("div", {class: "fill" + (pct > 80 ? " hot" : "")});
    fill.style.width = pct + "%";      // through CSSOM: the page's CSP allows no inline style attribute
    return el("div", {class: "gauge", "data-direction": q.direction},
      el("div", {}, el("b", {}, q.direction), " used ", el("span", {class: "used"}, q.used_cny),
        " of ", el("span", {class: "limit"}, q.limit_cny), ", balance ", el("span", {class: "balance"}, q.balance_cny)),
      el("div", {class: "bar"}, fill));
  }));
}

function renderRest(s) {
  document.getElementById("fx").replaceChildren(...Object.entries(s.fx).map(([p, r]) =>
    el("div", {"data-pair": p}, `${p} ${r}`)));
  const k = s.kill_switch;
  document.getElementById("kill").replaceChildren(
    el("div", {id: "kill-global", "data-on": String(k.global)}, "global: ",
       el("span", {class: k.global ? "kill-on" : ""}, k.global ? "ON" : "off")),
    el("div", {id: "kill-accounts"}, "accounts: " + (k.accounts.length ? k.accounts.join(", ") : "none")));
  document.querySelector("#sessions tbody").replaceChildren(...s.sessions.map(x =>
    el("tr", {"data-session": x.session_id}, el("td", {}, x.session_id), el("td", {}, x.account || ""),
      el("td", {class: "state"}, x.state), el("td", {}, x.peer || ""), el("td", {}, x.next_sender_seq_num),
      el("td", {}, x.next_target_seq_num), el("td", {class: "working"}, x.working_orders))));
  fillSelect("kill-account", s.accounts);
  fillSelect("fx-pair", Object.keys(s.fx));
  document.getElementById("clock").textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
}

function renderRecords(s) {
  const rows = [];
  for (const a of s.positions || []) {
    for (const p of a.positions) {
      rows.push(el("tr", {"data-account": a.account, "data-symbol": p.symbol},
        el("td", {class: "l"}, a.account), el("td", {class: "l"}, p.symbol),
        el("td", {class: p.lots > 0 ? "bid" : "ask"}, p.lots), el("td", {}, p.grams),
        el("td", {}, p.avg_price || ""), el("td", {}, p.mark_price || ""), el("td", {}, p.unrealised_pnl),
        el("td", {}, p.realised_pnl), el("td", {}, p.margin_held), el("td", {}, p.currency)));
    }
  }
  if (!rows.length) rows.push(el("tr", {}, el("td", {colspan: 10, class: "empty"}, "no open positions")));
  document.querySelector("#positions tbody").replaceChildren(...rows);
  const held = (s.positions || []).filter(a => Object.keys(a.margin_held).length).map(a =>
    `${a.account}: ` + Object.entries(a.margin_held).map(([c, v]) => `${v} ${c}`).join(", "));
  document.getElementById("margin").textContent = "margin held: " + (held.length ? held.join("; ") : "none");
  const ob = (s.obligations || []).map(o => el("tr", {"data-account": o.account, "data-house": o.clearing_house,
                                                     "data-currency": o.currency},
    el("td", {class: "l"}, o.account), el("td", {class: "l"}, o.clearing_house), el("td", {}, o.currency), el("td", {}, o.value_date),
    el("td", {class: "l"}, o.vault), el("td", {class: "l"}, o.bar_form), el("td", {class: "cash"}, o.cash),
    el("td", {}, o.fees), el("td", {class: "metal"}, o.metal_grams), el("td", {}, o.fine_grams),
    el("td", {}, o.withdrawable ? "yes" : "no"), el("td", {class: "cross"}, o.cross_border.join(", ")),
    el("td", {}, o.trades)));
  if (!ob.length) ob.push(el("tr", {}, el("td", {colspan: 13, class: "empty"}, "no trades yet")));
  document.querySelector("#obligations tbody").replaceChildren(...ob);
}

function fillSelect(id, values) {
  const sel = document.getElementById(id);
  if ([...sel.options].map(o => o.value).join() === values.join()) return;
  const keep = sel.value;
  sel.replaceChildren(...values.map(v => el("option", {value: v}, v)));
  if (values.includes(keep)) sel.value = keep;
}

function render(s) {
  state = s;
  renderBooks(s.books);
  renderGroups(s.groups);
  renderRoutes(s.routes);
  renderQuota(s.quota);
  renderRecords(s);
  renderRest(s);
}

function askToken(message) {
  document.getElementById("token-form").hidden = false;
  document.getElementById("token-msg").textContent = message || "";
  document.getElementById("token-input").focus();
}

async function stream() {
  if (streamAbort) streamAbort.abort();
  const abort = streamAbort = new AbortController();
  setConn("connecting…", false);
  let resp;
  try {
    resp = await fetch("/console/stream", {headers: authHeaders(), cache: "no-store", signal: abort.signal});
  } catch (e) {
    if (abort.signal.aborted) return;
    setConn("disconnected, retrying", false);
    setTimeout(stream, 2000);
    return;
  }
  if (resp.status === 401 || resp.status === 403) {
    const body = await resp.json().catch(() => ({}));
    setConn("token needed", false);
    askToken(body.detail || "this console needs the read token");
    return;
  }
  if (!resp.ok) { setConn(`error ${resp.status}, retrying`, false); setTimeout(stream, 2000); return; }
  setConn("live", true);
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buf += decoder.decode(value, {stream: true});
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (frame.startsWith("data: ")) render(JSON.parse(frame.slice(6)));
      }
    }
  } catch (e) {
    if (abort.signal.aborted) return;
  }
  setConn("disconnected, retrying", false);
  setTimeout(stream, 2000);
}

// A refusal the operator may override (HTTP 409 max_jump_pct from /fx and /reference-prices): the
// reason is shown, and a second confirmation resends the same body with "force": true.
const FORCEABLE = new Set(["max_jump_pct"]);

async function operate(path, body, question) {
  const out = document.getElementById("op-result");
  if (!window.confirm(question)) { out.textContent = "cancelled"; out.className = ""; return; }
  await send(path, body);
}

async function send(path, body) {
  const out = document.getElementById("op-result");
  let resp, data;
  try {
    resp = await fetch(path, {method: "POST", headers: authHeaders({"Content-Type": "application/json"}),
                              body: JSON.stringify(body)});
    data = await resp.json();
  } catch (e) {
    out.textContent = `${path}: ${e}`; out.className = "err"; return;
  }
  if (resp.ok) {
    out.textContent = `done: ${path} ${JSON.stringify(data)}`;
    out.className = "ok";
  } else {
    out.textContent = `refused (${resp.status}): ${data.error}: ${data.detail}`;
    out.className = "err";
    if (resp.status === 409 && FORCEABLE.has(data.error) && !body.force) {
      if (window.confirm(`Refused: ${data.detail}\n\nApply it anyway (force)?`)) {
        await send(path, {...body, force: true});
      } else {
        out.textContent += " (not forced)";
      }
    }
  }
}

function wire() {
  const kill = (scope, on) => () => {
    const account = scope === "account" ? document.getElementById("kill-account").value : null;
    const what = scope === "global" ? "the GLOBAL kill switch" : `the kill switch of account ${account}`;
    const body = scope === "global" ? {scope, on} : {scope, account, on};
    operate("/kill-switch", body, `Turn ${what} ${on ? "ON (cancels its working orders)" : "off"}?`);
  };
  document.getElementById("kill-global-on").onclick = kill("global", true);
  document.getElementById("kill-global-off").onclick = kill("global", false);
  document.getElementById("kill-account-on").onclick = kill("account", true);
  document.getElementById("kill-account-off").onclick = kill("account", false);
  document.getElementById("fx-set").onclick = () => {
    const pair = document.getElementById("fx-pair").value, rate = document.getElementById("fx-rate").value.trim();
    const old = state && state.fx[pair];
    operate("/fx", {rates: {[pair]: rate}}, `Set ${pair} from ${old} to ${rate}?`);
  };
  document.getElementById("token-button").onclick = () => askToken("");
  document.getElementById("token-form").onsubmit = (ev) => {
    ev.preventDefault();
    token = document.getElementById("token-input").value.trim();
    sessionStorage.setItem(KEY, token);
    document.getElementById("token-input").value = "";
    document.getElementById("token-form").hidden = true;
    stream();
  };
  window.addEventListener("hashchange", () => { if (tokenFromFragment()) stream(); });
}

tokenFromFragment();
wire();
stream();
