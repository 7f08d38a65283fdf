// Small DOM helpers shared by every page. Text always goes in as text, never as HTML.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(key, "");
    } else {
      node.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function show(node, visible) {
  node.hidden = !visible;
}

/** Put a message in a `.notice` element; kind is "error", "ok" or "info". */
export function notice(node, lines, kind = "error") {
  node.replaceChildren(...[].concat(lines).map((line) => el("div", {}, line)));
  node.dataset.kind = kind;
  node.hidden = !lines || lines.length === 0;
}

export function errorLines(error) {
  return typeof error.lines === "function" ? error.lines() : [String(error.message || error)];
}

/** The values of a form as an object; checkboxes as booleans, empty strings left out. */
export function formValues(form) {
  const values = {};
  for (const input of form.elements) {
    if (!input.name || input.disabled) continue;
    if (input.type === "checkbox") values[input.name] = input.checked;
    else if (input.value !== "") values[input.name] = input.value;
  }
  return values;
}

/** Run an async action from a form, showing its error in the form's `.notice`. */
export function onSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = form.querySelector(".notice");
    const button = form.querySelector("button[type=submit], button:not([type])");
    if (button) button.disabled = true;
    try {
      if (box) box.hidden = true;
      await action(formValues(form), form);
    } catch (error) {
      if (box) notice(box, errorLines(error));
      else console.error(error);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function since(timestamp) {
  if (!timestamp) return null;
  return (Date.now() - Date.parse(timestamp)) / 1000;
}

export function localTime(timestamp) {
  if (!timestamp) return "";
  return new Date(timestamp).toLocaleString();
}

export function fullName(person) {
  if (!person) return "";
  return [person.name, person.surname].filter(Boolean).join(" ");
}

/** A link for a query's source when it is one of the schemes a browser should follow. */
export function sourceNode(query) {
  const source = query.source || "";
  if (query.is_link && /^(https?:|mailto:|tel:)/i.test(source)) {
    return el("a", { href: source, target: "_blank", rel: "noopener noreferrer" }, source);
  }
  return el("span", {}, source);
}
