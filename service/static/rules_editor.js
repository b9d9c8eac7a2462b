// The redirect rule editor of the link form (dashboard/_rules_editor.html).
// The rules live as JSON in a hidden field, which is what the server reads and checks;
// this script only edits that JSON: add, remove and reorder rules, conditions per rule.
// Everything is built with DOM calls (no innerHTML), so no value can become markup.
"use strict";

(function () {
  const PLACEHOLDERS = {
    browser: "chrome, firefox, safari, edge",
    language: "fr or pt-BR",
    country: "FR (ISO code)",
    query: "value",
    before: "",
    after: "",
    network: "203.0.113.0/24",
  };

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(function ([name, value]) {
      node.setAttribute(name, value);
    });
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function button(label, action, extra) {
    const node = element("button", Object.assign({ type: "button", class: "button small" }, extra), label);
    node.addEventListener("click", action);
    return node;
  }

  function parse(text) {
    if (!text) {
      return [];
    }
    try {
      const value = JSON.parse(text);
      return Array.isArray(value) ? value : [];
    } catch (error) {
      return [];
    }
  }

  function setUp(editor) {
    const hidden = editor.querySelector("#rules-json");
    const list = editor.querySelector("[data-rules-list]");
    const addRule = editor.querySelector("[data-add-rule]");
    const types = editor.dataset.types.split(",");
    const devices = editor.dataset.devices.split(",");
    const maxRules = Number(editor.dataset.maxRules);
    const maxConditions = Number(editor.dataset.maxConditions);
    // Each rule: {url, conditions: [{type, value, name?}], errors: [messages]}.
    const rules = parse(hidden.value).map(function (rule) {
      return {
        url: rule && typeof rule.url === "string" ? rule.url : "",
        conditions: rule && Array.isArray(rule.conditions) ? rule.conditions : [],
        errors: [],
      };
    });
    editor.querySelectorAll("[data-rule-error]").forEach(function (message) {
      const rule = rules[Number(message.dataset.ruleError)];
      if (rule) {
        rule.errors.push(message.textContent);
        message.remove();
      }
    });

    function save() {
      hidden.value = JSON.stringify(
        rules.map(function (rule) {
          return {
            url: rule.url,
            conditions: rule.conditions.map(function (condition) {
              const saved = { type: condition.type, value: condition.value || "" };
              if (condition.type === "query") {
                saved.name = condition.name || "";
              }
              return saved;
            }),
          };
        })
      );
    }

    function valueInput(condition, label) {
      let input;
      if (condition.type === "device") {
        input = element("select", { "aria-label": label });
        devices.forEach(function (device) {
          input.append(element("option", { value: device }, device));
        });
        if (!devices.includes(condition.value)) {
          condition.value = devices[0];
        }
        input.value = condition.value;
      } else if (condition.type === "before" || condition.type === "after") {
        input = element("input", { type: "datetime-local", "aria-label": label + " (UTC)" });
        input.value = (condition.value || "").slice(0, 16);
      } else {
        input = element("input", { type: "text", "aria-label": label, placeholder: PLACEHOLDERS[condition.type] || "" });
        input.value = condition.value || "";
      }
      input.addEventListener("input", function () {
        condition.value = input.value;
        save();
      });
      input.addEventListener("change", function () {
        condition.value = input.value;
        save();
      });
      return input;
    }

    function conditionRow(rule, ruleNumber, condition, position) {
      const row = element("li", { class: "rule-condition" });
      const label = "Rule " + ruleNumber + ", condition " + (position + 1);
      const type = element("select", { "aria-label": label + " type" });
      types.forEach(function (name) {
        type.append(element("option", { value: name }, name));
      });
      type.value = condition.type;
      type.addEventListener("change", function () {
        condition.type = type.value;
        condition.value = "";
        render();
      });
      row.append(type);
      if (condition.type === "query") {
        const name = element("input", { type: "text", "aria-label": label + " parameter", placeholder: "parameter" });
        name.value = condition.name || "";
        name.addEventListener("input", function () {
          condition.name = name.value;
          save();
        });
        row.append(name);
      }
      row.append(valueInput(condition, label + " value"));
      row.append(button("Remove condition", function () {
        rule.conditions.splice(position, 1);
        render();
      }, { "aria-label": "Remove " + label.toLowerCase() }));
      return row;
    }

    function ruleItem(rule, index) {
      const number = index + 1;
      const item = element("li", { class: "rule", "data-rule": String(index) });
      const head = element("div", { class: "rule-head" });
      head.append(element("h3", {}, "Rule " + number));
      const actions = element("div", { class: "row-actions" });
      const up = button("Up", function () { move(index, -1); }, { "aria-label": "Move rule " + number + " up" });
      up.disabled = index === 0;
      const down = button("Down", function () { move(index, 1); }, { "aria-label": "Move rule " + number + " down" });
      down.disabled = index === rules.length - 1;
      actions.append(up, down, button("Remove", function () {
        rules.splice(index, 1);
        render();
      }, { "aria-label": "Remove rule " + number, class: "button small danger" }));
      head.append(actions);
      item.append(head);

      const field = element("div", { class: "field" });
      const id = "rule-" + index + "-url";
      field.append(element("label", { for: id }, "Rule " + number + " target"));
      const url = element("input", { type: "url", id: id, inputmode: "url", placeholder: "https://example.com/for-these-visitors" });
      url.value = rule.url;
      url.addEventListener("input", function () {
        rule.url = url.value;
        save();
      });
      field.append(url);
      item.append(field);

      const conditions = element("ul", { class: "rule-conditions" });
      rule.conditions.forEach(function (condition, position) {
        conditions.append(conditionRow(rule, number, condition, position));
      });
      item.append(conditions);
      const add = button("Add condition", function () {
        rule.conditions.push({ type: types[0], value: "" });
        render();
      }, { "aria-label": "Add a condition to rule " + number });
      add.disabled = rule.conditions.length >= maxConditions;
      item.append(add);
      rule.errors.forEach(function (message) {
        item.append(element("p", { class: "field-error" }, message));
      });
      return item;
    }

    function move(index, step) {
      const [rule] = rules.splice(index, 1);
      rules.splice(index + step, 0, rule);
      render();
    }

    function render() {
      list.replaceChildren.apply(list, rules.map(ruleItem));
      addRule.disabled = rules.length >= maxRules;
      save();
    }

    addRule.hidden = false;
    addRule.addEventListener("click", function () {
      rules.push({ url: "", conditions: [{ type: types[0], value: "" }], errors: [] });
      render();
      list.lastElementChild.querySelector("input[type=url]").focus();
    });
    render();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-rules-editor]").forEach(setUp);
  });
})();
