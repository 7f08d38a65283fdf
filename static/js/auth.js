// The sign-in and registration forms every page shows until someone is signed in.

import { register, signIn, signOut, storedUser, token } from "./api.js";
import { $, el, onSubmit } from "./ui.js";

export function signInForm(onSignedIn) {
  const form = el(
    "form",
    { class: "card", id: "sign-in", "aria-labelledby": "sign-in-title" },
    el("h2", { id: "sign-in-title" }, "Sign in"),
    el("label", { for: "sign-in-email" }, "Email"),
    el("input", { id: "sign-in-email", name: "email", type: "email", autocomplete: "username", required: true }),
    el("label", { for: "sign-in-password" }, "Password"),
    el("input", {
      id: "sign-in-password", name: "password", type: "password",
      autocomplete: "current-password", required: true,
    }),
    el("div", { class: "notice", hidden: true, role: "alert" }),
    el(
      "div",
      { class: "actions" },
      el("button", { type: "submit" }, "Sign in"),
      el("a", { href: "/reset-password" }, "Forgot your password?"),
    ),
  );
  onSubmit(form, async (values) => onSignedIn(await signIn(values.email, values.password)));
  return form;
}

export function registerForm(onSignedIn) {
  const form = el(
    "form",
    { class: "card", id: "register", "aria-labelledby": "register-title" },
    el("h2", { id: "register-title" }, "Create an account"),
    el("label", { for: "register-name" }, "First name"),
    el("input", { id: "register-name", name: "name", required: true, autocomplete: "given-name" }),
    el("label", { for: "register-surname" }, "Surname (optional)"),
    el("input", { id: "register-surname", name: "surname", autocomplete: "family-name" }),
    el("label", { for: "register-email" }, "Email"),
    el("input", { id: "register-email", name: "email", type: "email", required: true, autocomplete: "email" }),
    el("label", { for: "register-password" }, "Password (at least 10 characters)"),
    el("input", {
      id: "register-password", name: "password", type: "password", minlength: 10,
      required: true, autocomplete: "new-password",
    }),
    el("div", { class: "notice", hidden: true, role: "alert" }),
    el("div", { class: "actions" }, el("button", { type: "submit" }, "Register")),
  );
  onSubmit(form, async (values) => onSignedIn(await register(values)));
  return form;
}

/** Fill the top bar's `.who` with the signed-in user and a sign-out button. */
export function showWho(onSignedOut) {
  const who = $(".who");
  if (!who) return;
  const user = storedUser();
  if (!token() || !user) {
    who.replaceChildren();
    return;
  }
  const button = el("button", { class: "secondary", type: "button", id: "sign-out" }, "Sign out");
  button.addEventListener("click", async () => {
    await signOut();
    onSignedOut();
  });
  who.replaceChildren(el("span", {}, user.email), " ", button);
}
