// REST access: the signed-in token in localStorage, JSON in and out, errors as ApiError.

const TOKEN_KEY = "connectnow.token";
const USER_KEY = "connectnow.user";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `The server answered ${status}.`);
    this.status = status;
    this.errors = (body && body.errors) || {};
    this.body = body || {};
  }

  /** Every message of the error, the field errors included, as one line each. */
  lines() {
    const fields = Object.entries(this.errors).map(([f, msgs]) => `${f}: ${msgs.join(" ")}`);
    return [this.message, ...fields];
  }
}

export function token() {
  return localStorage.getItem(TOKEN_KEY);
}

export function storedUser() {
  try {
    return JSON.parse(localStorage.getItem(USER_KEY) || "null");
  } catch {
    return null;
  }
}

export function remember(signedIn) {
  localStorage.setItem(TOKEN_KEY, signedIn.token);
  localStorage.setItem(USER_KEY, JSON.stringify(signedIn.user));
}

export function forget() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
}

/** Call the API; resolves to the parsed body (null for 204), rejects with ApiError. */
export async function api(method, path, body, options = {}) {
  const headers = { Accept: "application/json" };
  const secret = options.anonymous ? null : token();
  if (secret) headers.Authorization = `Bearer ${secret}`;
  if (options.customerToken) headers["X-Customer-Token"] = options.customerToken;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { message: "The server cannot be reached. Check the connection." });
  }
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { message: text.slice(0, 200) };
    }
  }
  if (!response.ok) {
    if (response.status === 401 && !options.anonymous && secret) forget();
    throw new ApiError(response.status, parsed);
  }
  return parsed;
}

/** A list answer as an array, whether it came plain or paginated. */
export function items(result) {
  if (Array.isArray(result)) return result;
  if (result && Array.isArray(result.data)) return result.data;
  return [];
}

export async function signIn(email, password) {
  const signedIn = await api(
    "POST",
    "/api/auth/token",
    { email, password, device_name: "browser" },
    { anonymous: true },
  );
  remember(signedIn);
  return signedIn.user;
}

export async function register(fields) {
  await api("POST", "/api/register", fields, { anonymous: true });
  return signIn(fields.email, fields.password);
}

export async function signOut() {
  try {
    if (token()) await api("DELETE", "/api/auth/token");
  } catch {
    // The token may already be gone; signing out locally is what matters.
  } finally {
    forget();
  }
}
