// The page a password-reset email links to; without a token it asks for the email instead.

import { api } from "./api.js";
import { $, notice, onSubmit } from "./ui.js";

const secret = new URLSearchParams(location.search).get("token");
const form = secret ? $("#reset") : $("#ask");
form.hidden = false;

onSubmit(form, async (values) => {
  if (secret) {
    await api("POST", "/api/password/reset", { token: secret, password: values.password }, {
      anonymous: true,
    });
    form.hidden = true;
    notice($("#result"), ["Your password is changed. You can now sign in."], "ok");
    return;
  }
  await api("POST", "/api/password/forgot", { email: values.email }, { anonymous: true });
  form.hidden = true;
  notice($("#result"), ["If an account has that address, a link is on its way."], "ok");
});
