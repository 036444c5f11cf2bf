// portwatch's dashboard script, loaded only by a page whose flash reports a "scan now".
// It asks the API where that request is (every second, with the session's cookie), says so
// in the flash, and when the scan starts and when it ends fetches this page again and swaps
// in its sections, so the figures change without a reload. The page works without it.
(function () {
  "use strict";
  var flash = document.querySelector(".flash[data-scan-request]");
  if (!flash || !window.fetch || !window.DOMParser) {
    return;
  }
  var id = flash.getAttribute("data-scan-request");
  var line = flash.querySelector(".scan-progress");
  var words = {
    pending: "Waiting for the group's scan in progress to end.",
    running: "Scanning now.",
    cancelling: "Stopping the scan.",
    done: "The scan completed: the figures on this page are up to date.",
    cancelled: "The scan was cancelled: nothing of it is recorded.",
    interrupted: "The scan was interrupted: nothing of it is recorded."
  };
  var seen = null;

  function say(state) {
    line.textContent = words[state] || state;
    line.hidden = false;
    flash.setAttribute("data-scan-state", state);
  }

  // Replaces each section of this page with the same section of a fresh copy.
  function refresh() {
    return fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        doc.querySelectorAll("main section[aria-labelledby]").forEach(function (fresh) {
          var name = fresh.getAttribute("aria-labelledby");
          var old = document.querySelector('main section[aria-labelledby="' + name + '"]');
          if (old) {
            old.replaceWith(document.importNode(fresh, true));
          }
        });
        flash.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () {});
  }

  function poll() {
    fetch("/api/v1/scans/requests/" + encodeURIComponent(id), {
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (request) {
        var changed = request.state !== seen;
        seen = request.state;
        say(request.state);
        if (request.ended) {
          var undo = flash.querySelector("form[action$='/cancel']");
          if (undo) {
            undo.hidden = true;
          }
          refresh();
          return;
        }
        if (changed && request.state === "running") {
          refresh();
        }
        setTimeout(poll, 1000);
      }, function () { setTimeout(poll, 5000); });
  }

  poll();
})();
