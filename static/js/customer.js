// The customer page of a queue: open a query, follow its place in line, rate the answer.

import { api } from "./api.js";
import { LiveSocket, showConnection } from "./live.js";
import { $, duration, errorLines, notice } from "./ui.js";

const queueId = Number(location.pathname.split("/").filter(Boolean).pop());
const storageKey = `connectnow.customer.${queueId}`;
const WORDS = {
  waiting: "Waiting for an agent.",
  ongoing: "An agent is on it.",
  done: "Your query is done.",
  expired: "Nobody could answer in time; your query expired. Please try again later.",
  cancelled: "Your query was cancelled.",
};
let ticket = null;
let socket = null;
let view = {};

function saved() {
  try {
    return JSON.parse(localStorage.getItem(storageKey) || "null");
  } catch {
    return null;
  }
}

async function loadQueue() {
  let queue;
  try {
    queue = await api("GET", `/api/public/queues/${queueId}`, undefined, { anonymous: true });
  } catch (error) {
    notice($("#page-notice"), error.status === 404 ? ["This queue does not exist."] : errorLines(error));
    return null;
  }
  document.title = `${queue.name} — ${queue.company?.name || "ConnectNow"}`;
  $("#company-name").textContent = queue.company?.name || "ConnectNow";
  $("#queue-name").textContent = queue.name;
  if (queue.company?.logo_url) {
    $("#logo").src = queue.company.logo_url;
    $("#logo").alt = `${queue.company.name} logo`;
    $("#logo").hidden = false;
    $("#logo").onerror = () => ($("#logo").hidden = true);
  }
  const open = queue.is_open !== false;
  $("#open-state").textContent = open ? "Open now" : "Closed now";
  $("#open-state").className = `badge ${open ? "ok" : "bad"}`;
  if (!open && queue.opens_at) {
    notice($("#page-notice"), [`This queue opens at ${new Date(queue.opens_at).toLocaleString()}.`], "info");
  }
  $("#password-field").hidden = !queue.has_password;
  $("#q-password").required = Boolean(queue.has_password);
  return queue;
}

async function openQuery(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const box = form.querySelector(".notice");
  const button = form.querySelector("button[type=submit]");
  const body = {
    queue_id: queueId,
    name: $("#q-name").value,
    email: $("#q-email").value,
    source: $("#q-source").value.trim(),
    is_link: $("#q-is-link").checked,
  };
  if ($("#q-surname").value) body.surname = $("#q-surname").value;
  if (!$("#password-field").hidden) body.password = $("#q-password").value;
  button.disabled = true;
  try {
    const created = await api("POST", "/api/queries", body, { anonymous: true });
    const query = created.query || created;
    ticket = { query_id: query.id, token: created.customer_token };
    localStorage.setItem(storageKey, JSON.stringify(ticket));
    box.hidden = true;
    follow();
  } catch (error) {
    notice(box, errorLines(error));
  } finally {
    button.disabled = false;
  }
}

async function refresh() {
  try {
    view = await api("GET", `/api/queries/${ticket.query_id}/customer`, undefined, {
      anonymous: true,
      customerToken: ticket.token,
    });
    render();
  } catch (error) {
    if (error.status === 404 || error.status === 401) {
      localStorage.removeItem(storageKey);
      location.reload();
      return;
    }
    notice($("#page-notice"), errorLines(error));
  }
}

function follow() {
  $("#open-query").hidden = true;
  $("#status").hidden = false;
  $("#conn").hidden = false;
  refresh();
  socket = new LiveSocket(
    `/ws/queries/${ticket.query_id}`,
    () => ({ type: "auth", customer_token: ticket.token }),
    receive,
    (state, detail) => showConnection($("#conn"), state, detail),
  );
}

/** Apply what a frame tells; the server's frames carry everything the page shows. */
function receive(frame) {
  const next = { ...view };
  if (frame.status) next.status = frame.status;
  if (frame.type === "position") next.status = "waiting";
  if (["done", "expired", "cancelled"].includes(frame.type)) next.status = frame.type;
  if ("position" in frame) next.place_in_line = frame.position;
  if ("place_in_line" in frame) next.place_in_line = frame.place_in_line;
  if ("estimated_wait_seconds" in frame) next.estimated_wait_seconds = frame.estimated_wait_seconds;
  const name = frame.agent_name ?? frame.answered_by_name ?? frame.name;
  if (name) next.answered_by_name = name;
  if (frame.type === "answered" && next.status === "waiting") next.status = "ongoing";
  view = next;
  render();
}

function render() {
  const status = view.status || "waiting";
  $("#status-words").textContent = WORDS[status] || status;
  $("#waiting").hidden = status !== "waiting";
  $("#place").textContent = view.place_in_line ?? "—";
  $("#wait").textContent =
    view.estimated_wait_seconds === null || view.estimated_wait_seconds === undefined
      ? "not known yet"
      : `~${duration(view.estimated_wait_seconds)}`;
  $("#wait").classList.toggle("unknown", $("#wait").textContent === "not known yet");
  const who = view.answered_by_name;
  $("#answered").hidden = !who;
  $("#answered").textContent = who
    ? status === "done"
      ? `${who} helped you.`
      : `${who} answered your query and is on it.`
    : "";
  const finished = ["done", "expired", "cancelled"].includes(status);
  $("#rate").hidden = !(status === "done" && !view.is_rated);
  $("#thanks").hidden = !(status === "done" && view.is_rated);
  $("#again").hidden = !finished;
  if (finished && socket && status !== "done") socket.stop();
}

async function cancel() {
  try {
    view = await api("POST", `/api/queries/${ticket.query_id}/cancel`, undefined, {
      anonymous: true,
      customerToken: ticket.token,
    });
    render();
  } catch (error) {
    notice($("#page-notice"), errorLines(error));
  }
}

async function rate(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const box = form.querySelector(".notice");
  const chosen = form.querySelector("input[name=score]:checked");
  if (!chosen) return notice(box, ["Pick a score from 1 to 5."]);
  const body = { score: Number(chosen.value) };
  const comment = $("#rate-comment").value.trim();
  if (comment) body.comment = comment;
  try {
    await api("POST", `/api/queries/${ticket.query_id}/rating`, body, {
      anonymous: true,
      customerToken: ticket.token,
    });
    view = { ...view, is_rated: true };
    render();
    if (socket) socket.stop();
  } catch (error) {
    notice(box, errorLines(error));
  }
}

$("#q-source").addEventListener("input", (event) => {
  $("#q-is-link").checked = /^(https?:|mailto:|tel:)/i.test(event.target.value.trim());
});
$("#open-query").addEventListener("submit", openQuery);
$("#rate").addEventListener("submit", rate);
$("#cancel").addEventListener("click", cancel);
$("#again").addEventListener("click", (event) => {
  event.preventDefault();
  localStorage.removeItem(storageKey);
  location.reload();
});

const queue = await loadQueue();
ticket = saved();
if (ticket) follow();
else if (queue) $("#open-query").hidden = false;
