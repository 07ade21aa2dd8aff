// The console's shell: sign-in, the navigation, and the router (the part
// of the address after `#`, so that depot serves one page).

import { api, may, session, signIn, signOut, whoAmI, whenSignedOut } from "./api.js";
import { errorBox, field, h, say, show } from "./dom.js";
import { packageDetails, packageList } from "./packages.js";
import { uploadPage } from "./upload.js";
import { auditPage, doctorPage, tokensPage } from "./admin.js";
import { reposPage, routesPage } from "./ops.js";
import { patchDetails, patchesPage } from "./patches.js";
import { regionsPage } from "./regions.js";

const PAGES = [
  { path: "packages", title: "Packages", render: packageList, need: "read" },
  { path: "upload", title: "Upload", render: uploadPage, need: "change" },
  { path: "routes", title: "Upgrade routes", render: routesPage, need: "read" },
  { path: "repos", title: "Repositories", render: reposPage, need: "read" },
  { path: "patches", title: "Patches", render: patchesPage, need: "read" },
  { path: "regions", title: "Regions", render: regionsPage, need: "read" },
  { path: "tokens", title: "API tokens", render: tokensPage, need: "admin" },
  { path: "audit", title: "Audit log", render: auditPage, need: "admin" },
  { path: "doctor", title: "Doctor", render: doctorPage, need: "admin" },
];

/** The route: `#/packages/7?keyword=x` → ["packages", "7"], {keyword: "x"}. */
function route() {
  const hash = location.hash.startsWith("#/") ? location.hash.slice(2) : "packages";
  const [path, query = ""] = hash.split("?");
  return { parts: path.split("/").filter(Boolean), query: new URLSearchParams(query) };
}

/** Goes to `path` with `query` (an object): a new history entry. */
export function go(path, query = {}) {
  const q = new URLSearchParams(
    Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== ""),
  ).toString();
  const hash = `#/${path}${q ? `?${q}` : ""}`;
  if (location.hash === hash) refresh();
  else location.hash = hash;
}

function nav() {
  const current = route().parts[0] || "packages";
  const items = PAGES.filter((p) => may(p.need)).map((p) =>
    h(
      "li",
      {},
      h(
        "a",
        { href: `#/${p.path}`, "aria-current": p.path === current ? "page" : false },
        p.title,
      ),
    ),
  );
  document.getElementById("nav").replaceChildren(...items);
  document.getElementById("who").textContent = `${session.name} (${session.role})`;
  document.getElementById("top").hidden = false;
}

function signInPage(message) {
  document.getElementById("top").hidden = true;
  const name = h("input", { name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const problem = h("p", { class: "error", role: "alert", hidden: !message }, message || "");
  const button = h("button", { type: "submit" }, "Sign in");
  // Sent by script; `post` so that even a form sent without it never puts
  // the password into an address.
  const form = h(
    "form",
    {
      method: "post",
      class: "signin",
      "aria-label": "Sign in",
      onsubmit: async (event) => {
        event.preventDefault();
        button.disabled = true;
        problem.hidden = true;
        try {
          await signIn(name.value, password.value);
          password.value = "";
          if (location.hash.startsWith("#/")) refresh();
          else location.hash = "#/packages"; // renders on hashchange
        } catch (e) {
          problem.textContent =
            e.status === 401 ? "Wrong user name or password." : e.message;
          problem.hidden = false;
          password.select();
        } finally {
          button.disabled = false;
        }
      },
    },
    field("User name", name),
    field("Password", password),
    problem,
    button,
  );
  show("Sign in to depot", form);
  name.focus();
}

let rendering = Promise.resolve();

/**
 * Renders the page the address names, once any render under way is done:
 * renders run one at a time, so the last one asked for is what stays on
 * screen (a slow answer for an earlier address never replaces a newer page).
 */
export function refresh() {
  rendering = rendering.then(render, render);
  return rendering;
}

async function render() {
  if (!session.name) {
    try {
      await whoAmI();
    } catch {
      signInPage();
      return;
    }
  }
  nav();
  const { parts, query } = route();
  const page = PAGES.find((p) => p.path === (parts[0] || "packages"));
  if (!page || !may(page.need)) {
    show("Not here", h("p", {}, "This page does not exist, or your role may not see it."));
    return;
  }
  try {
    if (page.path === "packages" && parts[1]) await packageDetails(parts[1]);
    else if (page.path === "patches" && parts[1]) await patchDetails(parts[1]);
    else await page.render(query);
  } catch (e) {
    show(page.title, errorBox(e));
  }
}

whenSignedOut((error) => {
  Object.assign(session, { name: "", role: "", csrf: "" });
  signInPage(error.message);
});

document.getElementById("sign-out").addEventListener("click", async () => {
  try {
    await signOut();
  } catch (e) {
    say(e.message, "error");
  }
  signInPage("You are signed out.");
});

document.getElementById("skip").addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main").focus();
});

window.addEventListener("hashchange", refresh);
refresh();

export { api };
