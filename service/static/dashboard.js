// Progressive enhancement for the dashboard: "Copy" buttons next to short URLs.
// Without JavaScript the buttons stay hidden and the short URL is a selectable field.
"use strict";

function copyFrom(field) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(field.value);
  }
  field.focus();
  field.select();
  return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy"));
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy-target]").forEach(function (button) {
    const field = document.getElementById(button.dataset.copyTarget);
    if (!field) {
      return;
    }
    const label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      copyFrom(field).then(
        function () { button.textContent = "Copied"; },
        function () { field.select(); button.textContent = "Press Ctrl+C"; }
      ).finally(function () {
        window.setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  });
  document.querySelectorAll("input.short-url").forEach(function (field) {
    field.addEventListener("focus", function () { field.select(); });
  });
});
