// The agent console: availability, live offers, answering, notes, transfers, done.

import { beep, canNotify, askToNotify, notify, unlockSound } from "./alerts.js";
import { api, items, storedUser, token } from "./api.js";
import { registerForm, showWho, signInForm } from "./auth.js";
import { LiveSocket, showConnection } from "./live.js";
import { $, duration, el, errorLines, fullName, notice, since, sourceNode } from "./ui.js";

const COMPANY_KEY = "connectnow.console.company";
const BASE_TITLE = "ConnectNow console";
const REASONS = {
  answered: "answered by someone else",
  expired: "it expired",
  cancelled: "the customer cancelled it",
  transferred: "it moved to another queue",
  not_ready: "you are not ready for it now",
  reordered: "an older query comes first",
};

const state = {
  member: null,
  company: null,
  queues: new Map(),
  offers: new Map(),
  ongoing: new Map(),
  available: false,
  socket: null,
};

function pageError(error) {
  notice($("#page-notice"), errorLines(error));
}

function showSignIn() {
  if (state.socket) state.socket.stop();
  state.socket = null;
  showWho(showSignIn);
  $("#workspace").hidden = true;
  $("#pick-company").hidden = true;
  const auth = $("#auth");
  auth.hidden = false;
  auth.replaceChildren(signInForm(start), registerForm(start));
  showConnection($("#conn"), "closed", "");
}

async function start() {
  $("#auth").hidden = true;
  showWho(showSignIn);
  if (!token()) return showSignIn();
  let companies;
  try {
    companies = items(await api("GET", "/api/companies"));
  } catch (error) {
    if (error.status === 401) return showSignIn();
    return pageError(error);
  }
  if (companies.length === 0) {
    notice($("#page-notice"), ["You belong to no company yet. Accept an invitation first."], "info");
    return;
  }
  const saved = Number(localStorage.getItem(COMPANY_KEY));
  const remembered = companies.find((c) => c.id === saved);
  if (remembered || companies.length === 1) return openCompany(remembered || companies[0]);
  const select = $("#company-select");
  select.replaceChildren(...companies.map((c) => el("option", { value: c.id }, c.name)));
  $("#pick-company").hidden = false;
  $("#company-go").onclick = () => {
    const chosen = companies.find((c) => c.id === Number(select.value));
    $("#pick-company").hidden = true;
    openCompany(chosen);
  };
}

async function openCompany(company) {
  localStorage.setItem(COMPANY_KEY, String(company.id));
  state.company = company;
  const me = storedUser() || (await api("GET", "/api/me"));
  try {
    const members = items(await api("GET", `/api/company-users?company_ids=${company.id}`));
    state.member = members.find((m) => m.user_id === me.id && m.company_id === company.id);
    const queues = items(await api("GET", "/api/queues"));
    state.queues = new Map(queues.filter((q) => q.company_id === company.id).map((q) => [q.id, q]));
  } catch (error) {
    return pageError(error);
  }
  if (!state.member) {
    return notice($("#page-notice"), [`You are not a member of ${company.name}.`]);
  }
  $("#company-name").textContent = company.name;
  $("#workspace").hidden = false;
  showLimits();
  connect();
}

function connect() {
  if (state.socket) state.socket.stop();
  state.socket = new LiveSocket(
    `/ws/company-users/${state.member.id}`,
    () => ({ type: "auth", token: token() }),
    receive,
    (socketState, detail) => showConnection($("#conn"), socketState, detail),
  );
}

const handlers = {
  hello(frame) {
    if (frame.company_user) state.member = { ...state.member, ...frame.company_user };
    if (frame.state) showAvailability(frame.state);
    state.offers.clear();
    for (const offer of frame.offers || []) state.offers.set(offer.query.id, offer);
    state.ongoing.clear();
    for (const query of frame.ongoing || frame.ongoing_queries || []) {
      state.ongoing.set(query.id, query);
    }
    showLimits();
    renderOffers();
    renderOngoing();
  },
  "query.offered"(frame) {
    const fresh = !state.offers.has(frame.query.id);
    state.offers.set(frame.query.id, { ...frame, fresh });
    renderOffers();
    if (fresh) {
      beep();
      notify("New query offered", `${fullName(frame.query)} on ${frame.queue?.name || "a queue"}`);
    }
  },
  "query.withdrawn"(frame) {
    const offer = state.offers.get(frame.query_id);
    state.offers.delete(frame.query_id);
    renderOffers();
    if (offer && !state.ongoing.has(frame.query_id)) withdrawn(offer, frame.reason);
  },
  "query.answered"(frame) {
    const query = frame.query || frame;
    state.offers.delete(query.id);
    state.ongoing.set(query.id, { ...(state.ongoing.get(query.id) || {}), ...query });
    renderOffers();
    renderOngoing();
  },
  "query.transferred"(frame) {
    const id = frame.query?.id ?? frame.query_id;
    if (state.ongoing.delete(id)) renderOngoing();
  },
  "query.done"(frame) {
    const id = frame.query?.id ?? frame.query_id;
    if (state.ongoing.delete(id)) renderOngoing();
  },
  "note.added"(frame) {
    const note = frame.note || frame;
    const list = document.querySelector(`[data-notes-for="${note.query_id}"]`);
    if (list && !list.querySelector(`[data-note="${note.id}"]`)) list.append(noteItem(note));
  },
  "state.changed"(frame) {
    showAvailability(frame.state || frame);
  },
  "limits.changed"(frame) {
    state.member = { ...state.member, ...(frame.company_user || frame) };
    showLimits();
    notice($("#page-notice"), [frame.reason || "Your limits changed."], "info");
  },
  error(frame) {
    notice($("#page-notice"), [frame.message || "The server reported an error."]);
  },
};

function receive(frame) {
  const handler = handlers[frame.type];
  if (handler) handler(frame);
}

function showAvailability(current) {
  state.available = Boolean(current.is_available);
  const badge = $("#availability-badge");
  badge.textContent = state.available ? "Available" : "Unavailable";
  badge.className = `badge ${state.available ? "ok" : "bad"}`;
  $("#toggle-available").textContent = state.available ? "Go unavailable" : "Go available";
  $("#toggle-available").className = state.available ? "secondary" : "ok";
  const input = $("#status-text");
  if (document.activeElement !== input) input.value = current.status_text || "";
}

function showLimits() {
  const m = state.member;
  if (!m) return;
  const pick = Boolean(m.ability_to_pick_from_queue);
  $("#offers-title").firstChild.textContent = pick ? "Queries you may pick (" : "Offered to you (";
  $("#offers-help").textContent = pick
    ? "You choose which to answer: every query you may take is listed, oldest first."
    : "The system picks the oldest query you can take.";
  $("#limits").textContent =
    `You handle up to ${m.max_ongoing_queries_handled} at once` +
    `${m.is_auto_max_number_handled ? " (adjusted by your ratings)" : ""}; role: ${m.role}.`;
}

async function setAvailability(isAvailable, statusText) {
  try {
    const body = { is_available: isAvailable };
    if (statusText !== undefined) body.status_text = statusText || null;
    const stored = await api("PUT", `/api/company-user-states/${state.member.id}`, body);
    showAvailability(stored || body);
  } catch (error) {
    pageError(error);
  }
}

function title() {
  const count = state.offers.size;
  document.title = count ? `(${count}) ${BASE_TITLE}` : BASE_TITLE;
}

function queueName(offer) {
  return offer.queue?.name || state.queues.get(offer.query.queue_id)?.name || "queue";
}

function offerItem(offer) {
  const query = offer.query;
  const button = el("button", { type: "button", class: "ok" }, "Answer");
  const box = el("div", { class: "notice", hidden: true, role: "alert" });
  button.addEventListener("click", () => answer(query.id, button, box));
  const waited = since(query.created_at);
  const item = el(
    "li",
    { class: `offer${offer.fresh ? " fresh" : ""}`, dataset: { query: query.id } },
    el("div", { class: "row" },
      el("strong", { class: "grow" }, fullName(query) || `Query #${query.id}`),
      el("span", { class: "badge" }, `level ${offer.level ?? 1}`)),
    el("div", {}, sourceNode(query)),
    el("div", { class: "muted" }, `${queueName(offer)} · waiting ${duration(waited)}`),
    box,
    el("div", { class: "actions" }, button),
  );
  offer.fresh = false;
  return item;
}

function renderOffers() {
  const sorted = [...state.offers.values()].sort((a, b) =>
    String(a.query.created_at).localeCompare(String(b.query.created_at)),
  );
  $("#offers").replaceChildren(...sorted.map(offerItem));
  $("#offer-count").textContent = String(state.offers.size);
  $("#no-offers").hidden = state.offers.size > 0;
  title();
}

function withdrawn(offer, reason, message = null) {
  const who = fullName(offer.query) || `query #${offer.query.id}`;
  const words = REASONS[reason] || reason || "withdrawn";
  const text = message ? `Could not answer ${who}: ${message}` : `Offer of ${who} withdrawn: ${words}.`;
  const item = el(
    "li",
    { class: "withdrawn", dataset: { withdrawn: offer.query.id, reason: reason || "refused" } },
    text,
  );
  const list = $("#withdrawn");
  list.prepend(item);
  while (list.children.length > 5) list.lastChild.remove();
}

async function answer(queryId, button, box) {
  button.disabled = true;
  try {
    const query = await api("POST", `/api/queries/${queryId}/answer`);
    state.offers.delete(queryId);
    state.ongoing.set(queryId, query);
    renderOffers();
    renderOngoing();
  } catch (error) {
    const offer = state.offers.get(queryId);
    if ((error.status === 403 || error.status === 404) && offer) {
      // Someone else was quicker, or the offer went away: say why where offers end up.
      state.offers.delete(queryId);
      renderOffers();
      withdrawn(offer, null, error.message);
      return;
    }
    notice(box, errorLines(error));
    button.disabled = false;
  }
}

function noteItem(note) {
  return el("li", { dataset: { note: note.id } }, note.body,
    el("span", { class: "muted" }, ` — ${new Date(note.created_at).toLocaleTimeString()}`));
}

async function loadNotes(queryId, list) {
  try {
    const notes = items(await api("GET", `/api/query-notes?query_id=${queryId}`));
    list.replaceChildren(...notes.map(noteItem));
  } catch {
    list.replaceChildren(el("li", { class: "muted" }, "Notes could not be loaded."));
  }
}

function ongoingItem(query) {
  const box = el("div", { class: "notice", hidden: true, role: "alert" });
  const notes = el("ul", { class: "notes", dataset: { notesFor: query.id } });
  loadNotes(query.id, notes);

  const noteInput = el("textarea", { name: "body", id: `note-${query.id}`, required: true, maxlength: 10000 });
  const noteForm = el("form", {},
    el("label", { for: `note-${query.id}` }, "Add a note"), noteInput,
    el("div", { class: "actions" }, el("button", { type: "submit", class: "secondary" }, "Add note")));
  noteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const note = await api("POST", "/api/query-notes", { query_id: query.id, body: noteInput.value });
      noteInput.value = "";
      if (!notes.querySelector(`[data-note="${note.id}"]`)) notes.append(noteItem(note));
    } catch (error) {
      notice(box, errorLines(error));
    }
  });

  const targets = [...state.queues.values()].filter((q) => q.id !== query.queue_id && q.is_active);
  const select = el("select", { id: `transfer-${query.id}`, name: "queue_id" },
    ...targets.map((q) => el("option", { value: q.id }, q.name)));
  const transferForm = el("form", {},
    el("label", { for: `transfer-${query.id}` }, "Transfer to"),
    el("div", { class: "row" }, el("div", { class: "grow" }, select),
      el("button", { type: "submit", class: "secondary" }, "Transfer")));
  transferForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", `/api/queries/${query.id}/transfer`, { queue_id: Number(select.value) });
      state.ongoing.delete(query.id);
      renderOngoing();
    } catch (error) {
      notice(box, errorLines(error));
    }
  });

  const done = el("button", { type: "button", class: "ok" }, "Mark done");
  done.addEventListener("click", async () => {
    done.disabled = true;
    try {
      await api("POST", `/api/queries/${query.id}/mark-as-done`);
      state.ongoing.delete(query.id);
      renderOngoing();
    } catch (error) {
      done.disabled = false;
      notice(box, errorLines(error));
    }
  });

  return el("li", { class: "ongoing", dataset: { query: query.id } },
    el("div", { class: "row" }, el("strong", { class: "grow" }, fullName(query) || `Query #${query.id}`),
      el("span", { class: "badge warn" }, query.status || "ongoing")),
    el("div", {}, sourceNode(query)),
    el("div", { class: "muted" }, `${query.email || ""} · ${state.queues.get(query.queue_id)?.name || ""}`),
    notes, noteForm, targets.length ? transferForm : null, box,
    el("div", { class: "actions" }, done));
}

function renderOngoing() {
  const list = $("#ongoing");
  const shown = new Set([...list.children].map((li) => Number(li.dataset.query)));
  // Keep cards already shown so that half-typed notes survive updates.
  for (const li of [...list.children]) {
    if (!state.ongoing.has(Number(li.dataset.query))) li.remove();
  }
  for (const query of state.ongoing.values()) {
    if (!shown.has(query.id)) list.append(ongoingItem(query));
  }
  $("#ongoing-count").textContent = String(state.ongoing.size);
  $("#no-ongoing").hidden = state.ongoing.size > 0;
}

$("#toggle-available").addEventListener("click", () => {
  unlockSound();
  setAvailability(!state.available, $("#status-text").value);
});
$("#status-form").addEventListener("submit", (event) => {
  event.preventDefault();
  setAvailability(state.available, $("#status-text").value);
});
const alerts = $("#enable-alerts");
alerts.hidden = !canNotify() && !window.AudioContext;
alerts.addEventListener("click", async () => {
  unlockSound();
  await askToNotify();
  alerts.textContent = "Alerts on";
  alerts.disabled = true;
});
document.addEventListener("keydown", unlockSound, { once: true });
document.addEventListener("pointerdown", unlockSound, { once: true });
setInterval(() => {
  // Waiting times on offers move on even when nothing else happens.
  for (const li of document.querySelectorAll("#offers .offer .muted")) {
    const offer = state.offers.get(Number(li.closest(".offer").dataset.query));
    if (offer) li.textContent = `${queueName(offer)} · waiting ${duration(since(offer.query.created_at))}`;
  }
}, 5000);

start();
