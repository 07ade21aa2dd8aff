// depot's API, called with the console's session: the cookie goes along by
// itself (HttpOnly, so no script can read it), and every request carries
// the session's CSRF token, which the server demands on each change.

export const session = { name: "", role: "", csrf: "" };

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const CAN = {
  viewer: ["read"],
  manager: ["read", "change"],
  admin: ["read", "change", "admin"],
};

/** Whether the signed-in user may `what` ("read", "change", "admin"). */
export function may(what) {
  return (CAN[session.role] || []).includes(what);
}

/** Headers every console request carries. */
export function headers(extra = {}) {
  const h = { "X-Depot-Console": "1", ...extra };
  if (session.csrf) h["X-CSRF-Token"] = session.csrf;
  return h;
}

let onSignedOut = () => {};
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

/**
 * Calls the API; resolves to the envelope's `data`, or throws ApiError.
 * `raw`: the answer is not an envelope (StarlingX's patch API): resolves to
 * the whole JSON body; a refusal before the handler is still an envelope.
 * `total`: resolves to `{data, total}`, `total` from `X-Total-Count` (a
 * paged list whose body keeps its unpaged shape: patches, hosts, tokens).
 */
export async function api(method, path, { query, json, text, raw, total } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const extra = {};
  let body;
  if (json !== undefined) {
    extra["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: headers(extra),
      body,
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(`depot cannot be reached: ${e.message}`, 0, 0);
  }
  if (text) {
    if (!response.ok) throw new ApiError(`${response.status} ${response.statusText}`, response.status, 0);
    return response.text();
  }
  let envelope = {};
  try {
    envelope = await response.json();
  } catch {
    // Not an envelope (a proxy's error page): said below by the status.
  }
  if (!response.ok || envelope.successful === false) {
    const error = envelope.error || {};
    const err = new ApiError(
      error.message || `${response.status} ${response.statusText}`,
      response.status,
      error.code,
    );
    if (response.status === 401 && path !== "/ui/session") onSignedOut(err);
    throw err;
  }
  const data = raw ? envelope : envelope.data;
  return total ? { data, total: Number(response.headers.get("X-Total-Count")) || 0 } : data;
}

export async function signIn(name, password) {
  const data = await api("POST", "/ui/session", { json: { name, password } });
  Object.assign(session, data);
  return data;
}

export async function whoAmI() {
  const data = await api("GET", "/ui/session");
  Object.assign(session, data);
  return data;
}

export async function signOut() {
  try {
    await api("DELETE", "/ui/session");
  } finally {
    Object.assign(session, { name: "", role: "", csrf: "" });
  }
}
