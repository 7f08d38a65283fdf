// The page an invitation email links to: sign in or register, then accept.

import { api, storedUser, token } from "./api.js";
import { registerForm, showWho, signInForm } from "./auth.js";
import { $, errorLines, notice } from "./ui.js";

const secret = location.pathname.split("/").filter(Boolean).pop();
const ROLES = { agent: "an agent", staffing_manager: "a staffing manager", manager: "a manager" };
let invitation = null;

function render() {
  showWho(render);
  const signedIn = Boolean(token() && storedUser());
  $("#accept").hidden = !signedIn;
  $("#auth").hidden = signedIn;
  if (signedIn) {
    $("#me").textContent = storedUser().email;
  } else {
    const register = registerForm(render);
    register.querySelector("input[name=email]").value = invitation.invited_email;
    $("#auth").replaceChildren(signInForm(render), register);
  }
}

async function accept() {
  try {
    await api("POST", `/api/invitations/${encodeURIComponent(secret)}/accept`);
    $("#accept").hidden = true;
    $("#done").hidden = false;
  } catch (error) {
    notice($("#page-notice"), errorLines(error));
  }
}

try {
  invitation = await api("GET", `/api/invitations/${encodeURIComponent(secret)}`, undefined, {
    anonymous: true,
  });
  $("#title").textContent = `Join ${invitation.company.name}`;
  $("#details").textContent =
    `${invitation.invited_email} is invited as ${ROLES[invitation.role] || invitation.role}.`;
  $("#accept-button").addEventListener("click", accept);
  render();
} catch (error) {
  notice($("#page-notice"), errorLines(error));
}
