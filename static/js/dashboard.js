// The manager dashboard: live queue figures over a websocket, administration over REST.

import { api, items, storedUser, token } from "./api.js";
import { registerForm, showWho, signInForm } from "./auth.js";
import { LiveSocket, showConnection } from "./live.js";
import {
  $, duration, el, errorLines, fullName, localTime, notice, onSubmit, since,
} from "./ui.js";

const COMPANY_KEY = "connectnow.dashboard.company";
const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const ROLES = { agent: "Agent", staffing_manager: "Staffing manager", manager: "Manager" };
const LEVELS = [1, 2, 3, 4, 5];

const s = {
  companies: [],
  company: null,
  me: null,
  members: [],
  states: new Map(),
  skills: [],
  queues: [],
  figures: [],
  socket: null,
  refreshing: null,
};

const pageError = (error) => notice($("#page-notice"), errorLines(error));
const inCompany = (list) => list.filter((x) => x.company_id === s.company.id);
const memberName = (m) => (m.user ? fullName(m.user) : "") || m.invited_email;

function showSignIn() {
  if (s.socket) s.socket.stop();
  showWho(showSignIn);
  $("#workspace").hidden = true;
  $("#auth").hidden = false;
  $("#auth").replaceChildren(signInForm(start), registerForm(start));
  showConnection($("#conn"), "closed", "");
}

async function start() {
  $("#auth").hidden = true;
  showWho(showSignIn);
  if (!token()) return showSignIn();
  try {
    s.me = storedUser() || (await api("GET", "/api/me"));
    s.companies = items(await api("GET", "/api/companies"));
  } catch (error) {
    return error.status === 401 ? showSignIn() : pageError(error);
  }
  if (s.companies.length === 0) {
    $("#no-company").hidden = false;
    $("#first-company").replaceChildren(companyForm(null));
    return;
  }
  $("#no-company").hidden = true;
  const select = $("#company-select");
  select.replaceChildren(...s.companies.map((c) => el("option", { value: c.id }, c.name)));
  $("#company-picker").hidden = s.companies.length < 2;
  const saved = s.companies.find((c) => c.id === Number(localStorage.getItem(COMPANY_KEY)));
  select.value = String((saved || s.companies[0]).id);
  select.onchange = () => openCompany(s.companies.find((c) => c.id === Number(select.value)));
  openCompany(saved || s.companies[0]);
}

async function openCompany(company) {
  localStorage.setItem(COMPANY_KEY, String(company.id));
  s.company = company;
  $("#workspace").hidden = false;
  $("#page-notice").hidden = true;
  await reload();
  const mine = s.members.find((m) => m.user_id === s.me.id);
  if (mine && mine.role === "agent" && !s.me.is_admin) {
    notice($("#page-notice"), ["Agents see their work in the console; the dashboard is for managers."], "info");
  }
  connect();
  renderCompanyForms();
}

function connect() {
  if (s.socket) s.socket.stop();
  s.socket = new LiveSocket(
    `/ws/companies/${s.company.id}`,
    () => ({ type: "auth", token: token() }),
    (frame) => {
      if (Array.isArray(frame.queues)) {
        s.figures = frame.queues;
        renderFigures();
        refreshSoon();
      }
    },
    (state, detail) => showConnection($("#conn"), state, detail),
  );
}

/** Reload everything shown from REST. */
async function reload() {
  const id = s.company.id;
  try {
    const [members, states, skills, queues] = await Promise.all([
      api("GET", `/api/company-users?company_ids=${id}&with[]=user&with[]=skills`),
      api("GET", "/api/company-user-states"),
      api("GET", `/api/skills?company_ids=${id}`),
      api("GET", "/api/queues?with[]=skills"),
    ]);
    s.members = inCompany(items(members));
    s.states = new Map(items(states).map((st) => [st.company_user_id, st]));
    s.skills = inCompany(items(skills));
    s.queues = inCompany(items(queues)).filter((q) => !q.deleted_at);
  } catch (error) {
    return pageError(error);
  }
  renderAgents();
  renderPeople();
  renderSkills();
  renderQueues();
  renderHoursScope();
  await Promise.all([loadRatings(), loadHours()]);
}

/** Agents' states and ratings change with the figures; re-read them, at most once a second. */
function refreshSoon() {
  if (s.refreshing) return;
  s.refreshing = setTimeout(async () => {
    s.refreshing = null;
    try {
      const states = items(await api("GET", "/api/company-user-states"));
      s.states = new Map(states.map((st) => [st.company_user_id, st]));
      renderAgents();
      await loadRatings();
    } catch {
      // The next frame tries again.
    }
  }, 1000);
}

function renderFigures() {
  const rows = s.figures
    .filter((q) => !q.company_user_id || q.waiting > 0)
    .map((q) =>
      el("tr", { dataset: { queue: q.queue_id } },
        el("td", {}, el("a", { href: `/q/${q.queue_id}`, target: "_blank" }, q.name)),
        el("td", { class: "num waiting" }, q.waiting),
        el("td", { class: "num longest", dataset: { since: q.oldest_waiting_since || "" } },
          q.waiting ? duration(since(q.oldest_waiting_since) ?? q.longest_wait_seconds) : "—"),
        el("td", { class: "num" }, q.ready),
        el("td", { class: "num" }, q.busy),
        el("td", { class: "num" }, q.answered_last_hour),
        el("td", { class: "num" }, q.expired_last_hour)));
  $("#figures tbody").replaceChildren(...rows);
}

function renderAgents() {
  const rows = s.members.filter((m) => m.accepted_at).map((m) => {
    const st = s.states.get(m.id) || {};
    return el("tr", { dataset: { member: m.id } },
      el("td", {}, memberName(m), el("div", { class: "muted" }, ROLES[m.role] || m.role)),
      el("td", {},
        el("span", { class: `badge ${st.is_available ? "ok" : "bad"}` }, st.is_available ? "Available" : "Away"),
        st.status_text ? el("div", { class: "muted" }, st.status_text) : null),
      el("td", { class: "num" }, m.max_ongoing_queries_handled));
  });
  $("#agents tbody").replaceChildren(...rows);
}

async function loadRatings() {
  try {
    const ratings = inCompany(items(await api("GET", "/api/ratings?scopes[]=latest&per_page=50")));
    const byId = new Map(s.members.map((m) => [m.id, m]));
    const queues = new Map(s.queues.map((q) => [q.id, q]));
    $("#ratings").replaceChildren(
      ...ratings.slice(0, 10).map((r) =>
        el("li", { dataset: { rating: r.id } },
          el("span", { class: "badge ok" }, `${r.score} / 5`), " ",
          el("strong", {}, byId.has(r.company_user_id) ? memberName(byId.get(r.company_user_id)) : "?"),
          el("span", { class: "muted" }, ` · ${queues.get(r.queue_id)?.name || ""} · ${localTime(r.created_at)}`),
          r.comment ? el("div", {}, `“${r.comment}”`) : null)),
    );
    if (ratings.length === 0) $("#ratings").replaceChildren(el("li", { class: "muted" }, "No rating yet."));
  } catch (error) {
    $("#ratings").replaceChildren(el("li", { class: "muted" }, error.message));
  }
}

// ---- company users -------------------------------------------------------------------------

function skillEditor(member) {
  const held = new Map((member.skills || []).map((sk) => [sk.id, sk.level ?? 1]));
  const selects = s.skills.map((sk) => {
    const select = el("select", { id: `level-${member.id}-${sk.id}`, dataset: { skill: sk.id } },
      el("option", { value: "" }, "—"),
      ...LEVELS.map((n) => el("option", { value: n, selected: held.get(sk.id) === n }, `level ${n}`)));
    return el("div", {}, el("label", { for: select.id }, sk.name), select);
  });
  const box = el("div", { class: "notice", hidden: true, role: "alert" });
  const save = el("button", { type: "button", class: "secondary" }, "Save skills");
  save.addEventListener("click", async () => {
    const skills = [...save.closest("details").querySelectorAll("select[data-skill]")]
      .filter((x) => x.value)
      .map((x) => ({ id: Number(x.dataset.skill), level: Number(x.value) }));
    try {
      const saved = await api("PUT", `/api/company-users/${member.id}/skills`, { skills });
      member.skills = saved.skills || [];
      notice(box, ["Skills saved."], "ok");
    } catch (error) {
      notice(box, errorLines(error));
    }
  });
  return el("details", { class: "skills-editor" },
    el("summary", {}, "Skills and levels (1 is the most proficient)"),
    s.skills.length ? el("div", { class: "grid three" }, ...selects) : el("p", { class: "muted" }, "No skills yet."),
    box, el("div", { class: "actions" }, save));
}

function memberForm(member) {
  const form = el("form", { class: "row" },
    el("label", { class: "inline" }, "Role ",
      el("select", { name: "role" }, ...Object.entries(ROLES).map(([v, t]) =>
        el("option", { value: v, selected: member.role === v }, t)))),
    el("label", { class: "inline" }, "At once ",
      el("input", { name: "max_ongoing_queries_handled", type: "number", min: 1, max: 1000,
        value: member.max_ongoing_queries_handled, style: "width:5rem" })),
    el("label", { class: "inline" }, el("input", { type: "checkbox", name: "ability_to_pick_from_queue",
      checked: member.ability_to_pick_from_queue }), "Picks"),
    el("label", { class: "inline" }, el("input", { type: "checkbox", name: "is_active",
      checked: member.is_active }), "Active"),
    el("button", { type: "submit", class: "secondary" }, "Save"),
    el("div", { class: "notice", hidden: true, role: "alert", style: "flex-basis:100%" }));
  onSubmit(form, async (values, form) => {
    values.max_ongoing_queries_handled = Number(values.max_ongoing_queries_handled);
    values.ability_to_pick_from_queue = form.elements.ability_to_pick_from_queue.checked;
    values.is_active = form.elements.is_active.checked;
    Object.assign(member, await api("PUT", `/api/company-users/${member.id}`, values));
    notice(form.querySelector(".notice"), ["Saved."], "ok");
    renderAgents();
  });
  return form;
}

function renderPeople() {
  $("#people").replaceChildren(...s.members.map((m) => {
    const remove = el("button", { type: "button", class: "danger" }, "Remove");
    remove.addEventListener("click", async () => {
      if (!confirm(`Remove ${memberName(m)} from ${s.company.name}?`)) return;
      try {
        await api("DELETE", `/api/company-users/${m.id}`);
        await reload();
      } catch (error) {
        pageError(error);
      }
    });
    return el("li", { dataset: { member: m.id } },
      el("div", { class: "row" }, el("strong", { class: "grow" }, memberName(m)),
        el("span", { class: `badge ${m.accepted_at ? "ok" : "warn"}` }, m.accepted_at ? "joined" : "invited"),
        remove),
      el("div", { class: "muted" }, m.invited_email),
      memberForm(m), skillEditor(m));
  }));
}

onSubmit($("#invite-form"), async (values, form) => {
  await api("POST", "/api/company-users", {
    ...values,
    company_id: s.company.id,
    max_ongoing_queries_handled: Number(values.max_ongoing_queries_handled || 1),
  });
  form.reset();
  notice(form.querySelector(".notice"), ["Invitation sent."], "ok");
  await reload();
});

// ---- skills --------------------------------------------------------------------------------

function renderSkills() {
  $("#skills").replaceChildren(...s.skills.map((sk) => {
    const form = el("form", { class: "row" },
      el("input", { name: "name", value: sk.name, "aria-label": `Name of skill ${sk.name}`, class: "grow", required: true }),
      el("button", { type: "submit", class: "secondary" }, "Rename"),
      el("button", { type: "button", class: "danger", onclick: async () => {
        try {
          await api("DELETE", `/api/skills/${sk.id}`);
          await reload();
        } catch (error) {
          pageError(error);
        }
      } }, "Delete"),
      el("div", { class: "notice", hidden: true, role: "alert", style: "flex-basis:100%" }));
    onSubmit(form, async (values) => {
      await api("PUT", `/api/skills/${sk.id}`, { name: values.name });
      await reload();
    });
    return el("li", { dataset: { skill: sk.id } }, form);
  }));
  $("#queue-skills").replaceChildren(...s.skills.map((sk) =>
    el("label", { class: "inline" }, el("input", { type: "checkbox", name: `skill-${sk.id}`, dataset: { skill: sk.id } }), sk.name)));
}

onSubmit($("#skill-form"), async (values, form) => {
  await api("POST", "/api/skills", { name: values.name, company_id: s.company.id });
  form.reset();
  await reload();
});

// ---- queues --------------------------------------------------------------------------------

function checkedSkills(form) {
  return [...form.querySelectorAll("input[data-skill]:checked")].map((x) => Number(x.dataset.skill));
}

function queueBody(values, form) {
  const body = { name: values.name, is_active: Boolean(values.is_active), skill_ids: checkedSkills(form) };
  body.priority_delay = values.priority_delay === undefined ? null : Number(values.priority_delay);
  if (values.password) body.password = values.password;
  return body;
}

function queueItem(queue) {
  const personal = queue.company_user_id !== null && queue.company_user_id !== undefined;
  const required = new Set((queue.skills || []).map((sk) => sk.id));
  const form = el("form", {},
    el("div", { class: "grid two" },
      el("div", {}, el("label", {}, "Name", el("input", { name: "name", value: queue.name, required: true }))),
      el("div", {}, el("label", {}, "Priority delay (s)",
        el("input", { name: "priority_delay", type: "number", min: 0, max: 86400, value: queue.priority_delay ?? "" })))),
    el("label", {}, "New password (optional)", el("input", { name: "password", type: "password", autocomplete: "new-password" })),
    el("label", { class: "inline" }, el("input", { type: "checkbox", name: "is_active", checked: queue.is_active }), "Active"),
    personal ? null : el("div", { class: "row" }, ...s.skills.map((sk) =>
      el("label", { class: "inline" }, el("input", { type: "checkbox", dataset: { skill: sk.id }, checked: required.has(sk.id) }), sk.name))),
    el("div", { class: "notice", hidden: true, role: "alert" }),
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "secondary" }, "Save queue"),
      personal ? null : el("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm(`Delete the queue ${queue.name}? Its waiting queries are cancelled.`)) return;
        try {
          await api("DELETE", `/api/queues/${queue.id}`);
          await reload();
        } catch (error) {
          pageError(error);
        }
      } }, "Delete")));
  onSubmit(form, async (values) => {
    const body = queueBody(values, form);
    if (personal) delete body.skill_ids;
    await api("PUT", `/api/queues/${queue.id}`, body);
    await reload();
  });
  const skills = (queue.skills || []).map((sk) => sk.name).join(", ") || (personal ? "personal" : "no skill needed");
  return el("li", { dataset: { queue: queue.id } },
    el("div", { class: "row" }, el("strong", { class: "grow" }, queue.name),
      el("span", { class: `badge ${queue.is_active ? "ok" : "bad"}` }, queue.is_active ? "active" : "inactive"),
      queue.has_password ? el("span", { class: "badge warn" }, "password") : null),
    el("div", { class: "muted" }, `${skills} · `, el("a", { href: `/q/${queue.id}`, target: "_blank" }, "customer page")),
    el("details", {}, el("summary", {}, "Edit"), form));
}

function renderQueues() {
  const shared = s.queues.filter((q) => q.company_user_id === null || q.company_user_id === undefined);
  const personal = s.queues.filter((q) => !shared.includes(q));
  $("#queues").replaceChildren(...shared.map(queueItem), ...personal.map(queueItem));
}

onSubmit($("#queue-form"), async (values, form) => {
  await api("POST", "/api/queues", { ...queueBody(values, form), company_id: s.company.id });
  form.reset();
  await reload();
});

// ---- hours ---------------------------------------------------------------------------------

function renderHoursScope() {
  const select = $("#hours-scope");
  const before = select.value;
  select.replaceChildren(el("option", { value: "" }, "The whole company (fallback for every queue)"),
    ...s.queues.filter((q) => !q.company_user_id).map((q) => el("option", { value: q.id }, q.name)));
  select.value = [...select.options].some((o) => o.value === before) ? before : "";
}

function hoursQuery() {
  const queue = $("#hours-scope").value;
  const scopes = [`scopes[company_id]=${s.company.id}`];
  scopes.push(queue ? `scopes[queue_id]=${queue}` : "scopes[]=company_wide");
  return scopes.join("&");
}

function deleteButton(path) {
  return el("button", { type: "button", class: "danger", onclick: async () => {
    try {
      await api("DELETE", path);
      await loadHours();
    } catch (error) {
      pageError(error);
    }
  } }, "Delete");
}

async function loadHours() {
  try {
    const [hours, closed] = await Promise.all([
      api("GET", `/api/hours?${hoursQuery()}`),
      api("GET", `/api/blacklist-hours?${hoursQuery()}`),
    ]);
    $("#hours").replaceChildren(...items(hours).map((h) =>
      el("li", { class: "row" }, el("span", { class: "grow" },
        `${WEEKDAYS[h.weekday]} ${h.opens_at}–${h.closes_at} (${h.timezone})`), deleteButton(`/api/hours/${h.id}`))));
    $("#blacklist").replaceChildren(...items(closed).map((b) =>
      el("li", { class: "row" }, el("span", { class: "grow" },
        `${localTime(b.starts_at)} – ${localTime(b.ends_at)}${b.reason ? ` · ${b.reason}` : ""}`),
      deleteButton(`/api/blacklist-hours/${b.id}`))));
  } catch (error) {
    $("#hours").replaceChildren(el("li", { class: "muted" }, error.message));
  }
}

$("#hour-weekday").replaceChildren(...WEEKDAYS.map((d, i) => el("option", { value: i }, d)));
$("#hour-zone").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
$("#hours-scope").addEventListener("change", loadHours);
onSubmit($("#hour-form"), async (values) => {
  const queue = $("#hours-scope").value;
  await api("POST", "/api/hours", {
    ...values, weekday: Number(values.weekday), company_id: s.company.id,
    queue_id: queue ? Number(queue) : null,
  });
  await loadHours();
});
onSubmit($("#blacklist-form"), async (values, form) => {
  const queue = $("#hours-scope").value;
  await api("POST", "/api/blacklist-hours", {
    company_id: s.company.id, queue_id: queue ? Number(queue) : null,
    starts_at: new Date(values.starts_at).toISOString(), ends_at: new Date(values.ends_at).toISOString(),
    reason: values.reason || null,
  });
  form.reset();
  await loadHours();
});

// ---- companies -----------------------------------------------------------------------------

function companyForm(company) {
  const field = (name, text, attrs = {}) => el("div", {},
    el("label", {}, text, el("input", { name, value: company ? company[name] ?? "" : attrs.value ?? "", ...attrs })));
  const form = el("form", {},
    field("name", "Name", { required: true, maxlength: 255 }),
    field("slug", "Slug (letters, digits and dashes)", { required: !company, maxlength: 255 }),
    field("logo_url", "Logo URL (.svg, .png or .jpg)", { type: "url", required: !company }),
    field("query_expiry_time_in_minutes", "Queries expire after (minutes, 0: never)", { type: "number", min: 0, max: 65535, value: 60 }),
    company ? field("idle_timeout_in_minutes", "Idle agents go away after (minutes, 0: never)", { type: "number", min: 0, max: 65535 }) : null,
    company ? field("reminder_interval_in_minutes", "Remind of open queries every (minutes, 0: never)", { type: "number", min: 0, max: 65535 }) : null,
    el("div", { class: "notice", hidden: true, role: "alert" }),
    el("div", { class: "actions" }, el("button", { type: "submit" }, company ? "Save company" : "Create company"),
      company ? el("button", { type: "button", class: "danger", onclick: () => deleteCompany(company) }, "Delete company") : null));
  onSubmit(form, async (values) => {
    for (const key of Object.keys(values)) if (key.endsWith("_minutes")) values[key] = Number(values[key]);
    const saved = company
      ? await api("PUT", `/api/companies/${company.id}`, values)
      : await api("POST", "/api/companies", values);
    localStorage.setItem(COMPANY_KEY, String(saved.id));
    await start();
  });
  return form;
}

async function deleteCompany(company) {
  if (!confirm(`Delete ${company.name}? Its members lose access and waiting queries are cancelled.`)) return;
  try {
    await api("DELETE", `/api/companies/${company.id}`);
    localStorage.removeItem(COMPANY_KEY);
    await start();
  } catch (error) {
    pageError(error);
  }
}

function renderCompanyForms() {
  $("#company-edit").replaceChildren(companyForm(s.company));
  $("#company-new").replaceChildren(companyForm(null));
}

// ---- tabs ----------------------------------------------------------------------------------

function selectTab(name) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const on = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
  }
  for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== name;
}

const tabs = [...document.querySelectorAll("[role=tab]")];
for (const tab of tabs) {
  tab.addEventListener("click", () => selectTab(tab.dataset.tab));
  tab.addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
    next.focus();
    selectTab(next.dataset.tab);
  });
}
selectTab("live");
setInterval(() => {
  for (const cell of document.querySelectorAll("#figures td.longest")) {
    if (cell.dataset.since) cell.textContent = duration(since(cell.dataset.since));
  }
}, 1000);


start();
