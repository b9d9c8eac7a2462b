// Live statistics: the totals of a stats page follow the clicks the worker counts.
// An EventSource on the page's stream says when clicks were counted; the page then fetches
// its JSON summary (same range) and updates the totals. When the stream is refused (the
// server's cap of open streams: 503) or EventSource is missing, the summary is polled
// instead. Without JavaScript the page is what the server rendered.
"use strict";

(function () {
  function start(box) {
    const state = box.querySelector("[data-live-state]");
    const poll = Math.max(2, Number(box.dataset.livePoll) || 10) * 1000;
    let fetching = false;
    let again = false;
    let timer = null;

    function show(mode, text) {
      box.dataset.liveMode = mode;
      if (state) {
        state.textContent = text;
      }
    }

    function apply(totals) {
      document.querySelectorAll("[data-total]").forEach(function (element) {
        const value = totals[element.dataset.total];
        if (typeof value === "number") {
          element.textContent = value.toLocaleString("en-US");
        }
      });
    }

    function refresh() {
      if (fetching) {
        again = true; // one more fetch once this one is back, never several at once
        return;
      }
      fetching = true;
      fetch(box.dataset.liveSummary, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.ok ? response.json() : Promise.reject(new Error(String(response.status)));
        })
        .then(function (body) { apply(body.totals); })
        .catch(function () { /* the next event or poll tries again */ })
        .finally(function () {
          fetching = false;
          if (again) {
            again = false;
            refresh();
          }
        });
    }

    function fallBack() {
      show("polling", "updated every " + poll / 1000 + " s");
      if (timer === null) {
        timer = window.setInterval(refresh, poll);
      }
    }

    box.hidden = false;
    if (!window.EventSource) {
      fallBack();
      return;
    }
    const source = new EventSource(box.dataset.liveStream);
    source.addEventListener("open", function () { show("live", "live"); });
    source.addEventListener("clicks", refresh);
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) {
        fallBack(); // refused (503, 404): EventSource gives up, polling takes over
      } else {
        show("reconnecting", "reconnecting"); // the stream ended; the browser reconnects
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-stream]").forEach(start);
  });
})();
