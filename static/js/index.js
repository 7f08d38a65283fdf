// The start page: sign in or register, then links to the console, dashboard and docs.

import { api, items, storedUser, token } from "./api.js";
import { registerForm, showWho, signInForm } from "./auth.js";
import { $, el, fullName } from "./ui.js";

async function render() {
  showWho(render);
  const signedIn = Boolean(token() && storedUser());
  $("#signed-in").hidden = !signedIn;
  $("#forms").hidden = signedIn;
  if (!signedIn) {
    $("#forms").replaceChildren(signInForm(render), registerForm(render));
    return;
  }
  $("#welcome-name").textContent = fullName(storedUser());
  const list = $("#companies");
  try {
    const companies = items(await api("GET", "/api/companies"));
    list.replaceChildren(
      ...companies.map((c) =>
        el("li", {}, el("strong", {}, c.name), " ", el("span", { class: "muted" }, c.slug)),
      ),
    );
    if (companies.length === 0) {
      list.replaceChildren(
        el("li", { class: "muted" }, "None yet. Create one in the dashboard, or accept an invitation."),
      );
    }
  } catch (error) {
    if (error.status === 401) render();
    else list.replaceChildren(el("li", { class: "muted" }, error.message));
  }
}

render();
