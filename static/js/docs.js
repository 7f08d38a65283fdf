// Renders /api/openapi.json offline: endpoints by tag, with parameters, bodies and schemas.

import { $, el, notice } from "./ui.js";

const METHODS = ["get", "post", "put", "patch", "delete"];
let doc = null;

function resolve(schema) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return { name, schema: doc.components?.schemas?.[name] || {} };
  }
  return { name: null, schema: schema || {} };
}

/** A schema as readable text: objects as `{ field: type }`, one field a line. */
function describe(schema, depth = 0, seen = new Set()) {
  const { name, schema: body } = resolve(schema);
  if (name && (seen.has(name) || depth > 3)) return name;
  const nextSeen = name ? new Set([...seen, name]) : seen;
  if (body.oneOf || body.anyOf) {
    return (body.oneOf || body.anyOf).map((x) => describe(x, depth, nextSeen)).join(" | ");
  }
  if (body.type === "array" || body.items) return `${describe(body.items, depth, nextSeen)}[]`;
  if (body.properties) {
    const pad = "  ".repeat(depth + 1);
    const required = new Set(body.required || []);
    const lines = Object.entries(body.properties).map(([key, value]) => {
      const mark = required.has(key) ? "" : "?";
      return `${pad}${key}${mark}: ${describe(value, depth + 1, nextSeen)}`;
    });
    return `${name ? `${name} ` : ""}{\n${lines.join("\n")}\n${"  ".repeat(depth)}}`;
  }
  if (body.enum) return body.enum.map((v) => JSON.stringify(v)).join(" | ");
  const type = Array.isArray(body.type) ? body.type.join(" | ") : body.type || name || "any";
  const bounds = [];
  if (body.minimum !== undefined) bounds.push(`≥ ${body.minimum}`);
  if (body.maximum !== undefined) bounds.push(`≤ ${body.maximum}`);
  if (body.maxLength !== undefined) bounds.push(`length ≤ ${body.maxLength}`);
  if (body.format) bounds.push(body.format);
  return bounds.length ? `${type} (${bounds.join(", ")})` : type;
}

function parameters(op) {
  const params = op.parameters || [];
  if (!params.length) return null;
  return el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, el("th", {}, "Parameter"), el("th", {}, "In"), el("th", {}, "Type"),
      el("th", {}, "Required"), el("th", {}, "Description"))),
    el("tbody", {}, ...params.map((p) => el("tr", {},
      el("td", {}, el("code", {}, p.name)), el("td", {}, p.in), el("td", {}, describe(p.schema)),
      el("td", {}, p.required ? "yes" : ""), el("td", {}, p.description || ""))))));
}

function body(op) {
  const schema = op.requestBody?.content?.["application/json"]?.schema;
  if (!schema) return null;
  return el("div", {}, el("h3", {}, "Body (JSON)"), el("pre", { class: "schema" }, describe(schema)));
}

function responses(op) {
  const entries = Object.entries(op.responses || {});
  return el("div", {}, el("h3", {}, "Responses"), ...entries.map(([code, response]) => {
    const schema = response.content?.["application/json"]?.schema;
    const isError = Number(code) >= 400;
    // Every error has the same shape, explained once at the top of the page.
    return el("div", { class: isError ? "muted" : "" }, el("strong", {}, code), " ",
      response.description || "", isError ? " — error body" : "",
      schema && !isError ? el("pre", { class: "schema" }, describe(schema)) : null);
  }));
}

function endpoint(path, method, op) {
  const open = op.security && op.security.length === 0;
  return el("details", { class: "endpoint", dataset: { search: `${method} ${path} ${op.summary || ""} ${(op.tags || []).join(" ")}`.toLowerCase() } },
    el("summary", {}, el("span", { class: `method ${method}` }, method.toUpperCase()),
      el("span", { class: "path" }, path), el("span", { class: "muted" }, op.summary || ""),
      open ? el("span", { class: "badge" }, "no token") : null),
    el("div", {}, op.description ? el("p", {}, op.description) : null, parameters(op), body(op), responses(op)));
}

function render() {
  $("#title").textContent = `${doc.info?.title || "API"} ${doc.info?.version || ""}`.trim();
  $("#summary").textContent = doc.info?.description || "";
  const byTag = new Map();
  for (const [path, ops] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      if (!ops[method]) continue;
      const tag = (ops[method].tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(endpoint(path, method, ops[method]));
    }
  }
  const sections = [...byTag.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([tag, nodes]) =>
    el("section", { class: "card", dataset: { tag } }, el("h2", {}, tag), ...nodes));
  $("#endpoints").replaceChildren(...sections);
}

function filter() {
  const words = $("#filter").value.toLowerCase().split(/\s+/).filter(Boolean);
  for (const section of document.querySelectorAll("#endpoints section")) {
    let any = false;
    for (const item of section.querySelectorAll(".endpoint")) {
      const hit = words.every((w) => item.dataset.search.includes(w));
      item.hidden = !hit;
      any ||= hit;
    }
    section.hidden = !any;
  }
}

try {
  const response = await fetch("/api/openapi.json", { headers: { Accept: "application/json" } });
  doc = await response.json();
  render();
} catch {
  notice($("#page-notice"), ["The API description could not be loaded."]);
}
$("#filter").addEventListener("input", filter);
