// The link form's UTM builder (templates/dashboard/_utm_builder.html): campaign parameters
// typed into their own inputs are written into the Target URL field, and parameters already
// in the URL fill the inputs. Progressive: the URL field is what the form submits, so
// without this script the form works the same (and the builder stays hidden).
// Only the utm_* pairs are rewritten; every other part of the URL is kept as it was typed.
"use strict";

(function () {
  const WEB_URL = /^https?:\/\/[^\s?#]+/i;

  function decode(text) {
    try {
      return decodeURIComponent(text.replace(/\+/g, " "));
    } catch (error) {
      return text;
    }
  }

  // { head, pairs, fragment }: the URL before "?", its query pairs as typed, and "#...".
  function split(url) {
    const hash = url.indexOf("#");
    const fragment = hash < 0 ? "" : url.slice(hash);
    const rest = hash < 0 ? url : url.slice(0, hash);
    const question = rest.indexOf("?");
    const head = question < 0 ? rest : rest.slice(0, question);
    const query = question < 0 ? "" : rest.slice(question + 1);
    return { head: head, pairs: query ? query.split("&") : [], fragment: fragment };
  }

  function keyOf(pair) {
    return decode(pair.split("=", 1)[0]);
  }

  // The URL with the utm_* values of `values` (key -> text): each replaces the first pair of
  // its key where it stands, new ones are appended in the builder's order, empty ones removed.
  function withParameters(url, keys, values) {
    const parts = split(url);
    const placed = new Set();
    const pairs = [];
    parts.pairs.forEach(function (pair) {
      const key = keyOf(pair);
      if (keys.indexOf(key) < 0) {
        pairs.push(pair);
      } else if (!placed.has(key)) {
        placed.add(key);
        if (values[key]) {
          pairs.push(key + "=" + encodeURIComponent(values[key]));
        }
      }
    });
    keys.forEach(function (key) {
      if (!placed.has(key) && values[key]) {
        pairs.push(key + "=" + encodeURIComponent(values[key]));
      }
    });
    return parts.head + (pairs.length ? "?" + pairs.join("&") : "") + parts.fragment;
  }

  function parametersOf(url, keys) {
    const found = {};
    split(url).pairs.forEach(function (pair) {
      const key = keyOf(pair);
      if (keys.indexOf(key) >= 0 && !(key in found)) {
        const equals = pair.indexOf("=");
        found[key] = equals < 0 ? "" : decode(pair.slice(equals + 1));
      }
    });
    return found;
  }

  function attach(builder) {
    const field = document.getElementById(builder.dataset.utmTarget);
    if (!field) {
      return;
    }
    const inputs = Array.prototype.slice.call(builder.querySelectorAll("input[data-utm-key]"));
    const keys = inputs.map(function (input) { return input.dataset.utmKey; });
    const status = builder.querySelector(".utm-status");

    function fillFromUrl() {
      const found = parametersOf(field.value.trim(), keys);
      inputs.forEach(function (input) { input.value = found[input.dataset.utmKey] || ""; });
      return Object.keys(found).length > 0;
    }

    function writeToUrl() {
      const url = field.value.trim();
      const usable = WEB_URL.test(url);
      status.hidden = usable;
      if (!usable) {
        return;
      }
      const values = {};
      inputs.forEach(function (input) { values[input.dataset.utmKey] = input.value.trim(); });
      field.value = withParameters(url, keys, values);
    }

    builder.hidden = false;
    if (fillFromUrl()) {
      builder.open = true;
    }
    inputs.forEach(function (input) { input.addEventListener("input", writeToUrl); });
    field.addEventListener("input", function () {
      fillFromUrl();
      status.hidden = true;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-utm-target]").forEach(attach);
  });
})();
