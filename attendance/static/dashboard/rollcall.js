// The roll call phone page: tick pupils off, see the other phones' ticks, keep working offline.
//
// - Ticks go to an outbox in localStorage first (each with its client_event_id), then to the
//   server; the server ignores a client_event_id it has seen, so a resend never double-counts.
//   Until the server has answered, a tick shows as "not yet sent".
// - Every POLL_MS the page asks the server who is accounted for (the other phones' ticks)
//   and sends what is still in the outbox; also as soon as the browser says it is online.
// - A service worker (rollcall-sw.js) keeps a copy of this page and its files, so a reload
//   with no network still opens it; the last state seen is kept in localStorage too.
// A static file (no inline script), so the strict Content-Security-Policy allows it.
(function () {
  "use strict";

  var root = document.getElementById("roll-call");
  var block = document.getElementById("roll-call-data");
  if (!root || !block) return;
  var data = JSON.parse(block.textContent);
  var OUTBOX = "rollcall:" + data.id + ":outbox";
  var STATE = "rollcall:" + data.id + ":state";
  var BATCH = 500;

  var pupils = data.pupils;
  var byId = {};
  pupils.forEach(function (p) { byId[p.id] = p; });
  var server = { status: data.status, accounted: data.accounted, left: data.left };
  var csrf = data.csrf_token;
  var sending = false;
  var online = navigator.onLine;
  var lastError = "";
  // A poll that set out before a batch landed could show the batch's ticks as missing.
  var landedAt = 0;

  var el = {
    list: document.getElementById("rc-list"),
    q: document.getElementById("rc-q"),
    group: document.getElementById("rc-group"),
    accounted: document.getElementById("rc-accounted"),
    expected: document.getElementById("rc-expected"),
    progress: document.getElementById("rc-progress"),
    missing: document.getElementById("rc-missing"),
    unexpected: document.getElementById("rc-unexpected"),
    left: document.getElementById("rc-left"),
    net: document.getElementById("rc-net"),
    closed: document.getElementById("rc-closed"),
    status: document.getElementById("rc-status"),
  };

  function load(key, fallback) {
    try {
      var raw = window.localStorage.getItem(key);
      return raw ? JSON.parse(raw) : fallback;
    } catch (e) {
      return fallback;
    }
  }

  function save(key, value) {
    try { window.localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* full: keep going */ }
  }

  var outbox = load(OUTBOX, []);
  var stored = load(STATE, null);
  if (stored && stored.accounted) server = stored;

  function newId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  // Who is accounted for: the server's view, then this phone's unsent ticks in order.
  function accountedNow() {
    var set = {};
    server.accounted.forEach(function (id) { set[id] = true; });
    outbox.forEach(function (t) { set[t.user_id] = !t.undo; });
    return set;
  }

  function pendingFor() {
    var pending = {};
    outbox.forEach(function (t) { pending[t.user_id] = true; });
    return pending;
  }

  function matches(p, q, group) {
    if (group && p.group !== group) return false;
    if (!q) return true;
    return p.name.toLowerCase().indexOf(q) !== -1 ||
      (p.external_id || "").toLowerCase().indexOf(q) !== -1;
  }

  function row(p, isAccounted, isPending, isLeft) {
    var li = document.createElement("li");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "rc-pupil " + (isAccounted ? "is-accounted" : p.expected ? "is-missing" : "is-other");
    button.dataset.userId = p.id;
    button.setAttribute("aria-pressed", isAccounted ? "true" : "false");
    var who = document.createElement("span");
    who.className = "rc-who";
    var name = document.createElement("span");
    name.className = "rc-name";
    name.textContent = p.name;
    var meta = document.createElement("span");
    meta.className = "rc-meta";
    meta.textContent = [p.group, p.external_id].filter(Boolean).join(" · ") +
      (p.expected ? "" : " · not expected") + (isLeft ? " · checked out" : "");
    who.appendChild(name);
    who.appendChild(meta);
    var mark = document.createElement("span");
    mark.className = "rc-mark";
    mark.textContent = isAccounted ? "✓ Here" : p.expected ? "Missing" : "Tick";
    button.appendChild(who);
    button.appendChild(mark);
    if (isPending) {
      var badge = document.createElement("span");
      badge.className = "rc-pending";
      badge.textContent = "not yet sent";
      who.appendChild(badge);
    }
    li.appendChild(button);
    return li;
  }

  function render() {
    var accounted = accountedNow();
    var pending = pendingFor();
    var left = {};
    (server.left || []).forEach(function (id) { left[id] = true; });
    var q = el.q.value.trim().toLowerCase();
    var group = el.group.value;
    var expected = 0, done = 0, unexpected = 0;
    pupils.forEach(function (p) {
      if (p.expected) { expected += 1; if (accounted[p.id]) done += 1; }
      else if (accounted[p.id]) unexpected += 1;
    });
    el.accounted.textContent = done;
    el.expected.textContent = expected;
    el.progress.max = expected || 1;
    el.progress.value = done;
    el.missing.textContent = expected - done;
    el.unexpected.textContent = unexpected;
    el.left.textContent = (server.left || []).length;
    // Missing first, then the accounted; pupils not expected only once ticked or searched for.
    var shown = pupils.filter(function (p) {
      return matches(p, q, group) && (p.expected || accounted[p.id] || q);
    });
    var rank = function (p) { return accounted[p.id] ? (p.expected ? 1 : 2) : (p.expected ? 0 : 3); };
    shown.sort(function (a, b) { return rank(a) - rank(b); });
    var fragment = document.createDocumentFragment();
    shown.forEach(function (p) { fragment.appendChild(row(p, !!accounted[p.id], !!pending[p.id], !!left[p.id])); });
    if (!shown.length) {
      var empty = document.createElement("li");
      empty.className = "rc-empty muted";
      empty.textContent = q || group ? "Nobody matches." : "Nobody was checked in when the roll call started.";
      fragment.appendChild(empty);
    }
    el.list.replaceChildren(fragment);
    var closed = server.status === "closed";
    el.closed.hidden = !closed;
    el.status.textContent = closed ? "closed" : "open";
    el.status.dataset.status = server.status;
    showNet();
  }

  function showNet() {
    var waiting = outbox.length;
    var text, state;
    if (!online) {
      state = "offline";
      text = "Offline" + (waiting ? " · " + waiting + " not yet sent, kept on this phone" : " · ticks are kept on this phone");
    } else if (waiting) {
      state = "sending";
      text = "Sending " + waiting + "…";
    } else {
      state = "online";
      text = "Online · every tick sent";
    }
    if (lastError) text += " · " + lastError;
    el.net.textContent = text;
    el.net.dataset.state = state;
    el.net.dataset.pending = String(waiting);
  }

  function toggle(userId) {
    if (server.status === "closed") return;
    var accounted = accountedNow();
    outbox.push({
      user_id: userId,
      client_event_id: newId(),
      at: new Date().toISOString(),
      undo: !!accounted[userId],
    });
    save(OUTBOX, outbox);
    render();
    flush();
  }

  function request(url, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.cache = "no-store";
    options.headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    return fetch(url, options).then(function (resp) {
      online = true;
      return resp;
    }, function (error) {
      online = false;
      throw error;
    });
  }

  function forget(keys) {
    outbox = outbox.filter(function (t) { return keys.indexOf(t.client_event_id) === -1; });
    save(OUTBOX, outbox);
  }

  function post(ticks) {
    return request(data.ticks_url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ accounted: ticks }),
    });
  }

  // Send the outbox. Landed (201) and already-known (200) ticks leave it; a refused one
  // (422: a pupil the server does not know) leaves it with a message; the rest stay.
  function flush() {
    if (sending || !outbox.length) { showNet(); return Promise.resolve(); }
    sending = true;
    showNet();
    var ticks = outbox.slice(0, BATCH);
    var keys = ticks.map(function (t) { return t.client_event_id; });
    return post(ticks).then(function (resp) {
      if (resp.status === 200 || resp.status === 201) {
        return resp.json().then(function (body) {
          body.data.forEach(function (entry) { applyEntry(entry); });
          forget(keys);
          landedAt = Date.now();
          lastError = "";
        });
      }
      if (resp.status === 409) {
        server.status = "closed";
        lastError = "the roll call was closed before " + keys.length + " ticks were sent";
        forget(keys);
        return null;
      }
      if (resp.status === 422) return one_by_one(ticks);
      if (resp.status === 400 || resp.status === 401) {
        lastError = resp.status === 401 ? "signed out: sign in again to send" : "";
        return poll(false);
      }
      lastError = "the server answered " + resp.status;
      return null;
    }).catch(function () { /* offline: kept for later */ }).then(function () {
      sending = false;
      render();
      if (outbox.length && online && !lastError) window.setTimeout(flush, 300);
    });
  }

  function one_by_one(ticks) {
    var chain = Promise.resolve();
    ticks.forEach(function (t) {
      chain = chain.then(function () {
        return post([t]).then(function (resp) {
          if (resp.status === 422) {
            lastError = "a tick for " + ((byId[t.user_id] || {}).name || "a pupil") + " was refused";
            forget([t.client_event_id]);
          } else if (resp.status === 200 || resp.status === 201) {
            return resp.json().then(function (body) {
              body.data.forEach(applyEntry);
              forget([t.client_event_id]);
              landedAt = Date.now();
            });
          }
          return null;
        });
      });
    });
    return chain;
  }

  // A landed tick counts at once, before the next poll confirms it.
  function applyEntry(entry) {
    var list = server.accounted.filter(function (id) { return id !== entry.user_id; });
    if (!entry.undo) list.push(entry.user_id);
    server.accounted = list;
  }

  function poll(thenFlush) {
    var started = Date.now();
    return request(data.state_url).then(function (resp) {
      if (resp.status === 401) { lastError = "signed out: sign in again to send"; return null; }
      if (!resp.ok) return null;
      return resp.json().then(function (state) {
        csrf = state.csrf_token || csrf;
        if (started < landedAt) return;
        server = { status: state.status, accounted: state.accounted, left: state.left };
        save(STATE, server);
        if (lastError.indexOf("signed out") === 0) lastError = "";
      });
    }).catch(function () { /* offline */ }).then(function () {
      render();
      if (thenFlush !== false) return flush();
      return null;
    });
  }

  el.list.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-user-id]");
    if (button) toggle(Number(button.dataset.userId));
  });
  el.q.addEventListener("input", render);
  el.group.addEventListener("change", render);
  window.addEventListener("online", function () { online = true; poll(); });
  window.addEventListener("offline", function () { online = false; render(); });

  render();
  poll();
  window.setInterval(poll, data.poll_ms || 2000);

  // The worker keeps copies of what it fetches; this first visit was loaded before it ran,
  // so the page puts itself and its files in the worker's cache now.
  function keepCopies() {
    if (!window.caches) return null;
    var urls = [window.location.pathname];
    document.querySelectorAll("script[src], link[rel=stylesheet], link[rel=icon]").forEach(function (node) {
      urls.push(node.getAttribute("src") || node.getAttribute("href"));
    });
    return window.caches.open(data.cache_name).then(function (cache) {
      return cache.addAll(urls);
    }).then(function () { root.dataset.offlineReady = "true"; });
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(data.worker_url, { scope: data.scope })
      .then(function () { return navigator.serviceWorker.ready; })
      .then(keepCopies)
      .catch(function () { /* without it the page still works; it just does not open offline */ });
  }
})();
