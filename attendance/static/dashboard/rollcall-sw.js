// The roll call's service worker: the roll call pages still open when the network drops.
//
// Served by the app at /dashboard/roll-calls/sw.js, so it controls the pages under
// /dashboard/roll-calls/ only. Pages and the static files they load: the network first
// (a few seconds at most), the last copy when it fails. Everything else (the state the
// page polls, the ticks it posts, any POST) goes to the network untouched: the page keeps
// unsent ticks itself.
"use strict";

var CACHE = "roll-call-v1";
var WAIT_MS = 4000;

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (n) {
        return n.indexOf("roll-call-") === 0 && n !== CACHE;
      }).map(function (n) { return caches.delete(n); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function kept(request) {
  if (request.method !== "GET") return false;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return false;
  if (url.pathname.indexOf("/static/") === 0) return true;
  // The phone page itself, the paper list, the reconcile page; not the polled state.
  return /^\/dashboard\/roll-calls\/\d+(\/(print|reconcile))?$/.test(url.pathname);
}

function fromNetwork(request) {
  return new Promise(function (resolve, reject) {
    var timer = setTimeout(function () { reject(new Error("slow network")); }, WAIT_MS);
    fetch(request).then(function (response) {
      clearTimeout(timer);
      // Only real pages: not a redirect to the sign-in page, not an error.
      if (response.ok && !response.redirected && response.type === "basic") {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
      }
      resolve(response);
    }, function (error) {
      clearTimeout(timer);
      reject(error);
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (!kept(request)) return;
  event.respondWith(
    fromNetwork(request).catch(function (error) {
      return caches.match(request, { ignoreVary: true }).then(function (cached) {
        if (cached) return cached;
        throw error;
      });
    })
  );
});
