// Administration (admins only): API tokens, the audit log, the doctor.

import { api } from "./api.js";
import { go, refresh } from "./app.js";
import { confirmDialog, copyButton, errorBox, field, h, pageSize, pager, say, select, show, when } from "./dom.js";

export async function tokensPage(query = new URLSearchParams()) {
  const q = Object.fromEntries(query.entries());
  const page = Math.max(1, Number(q.page) || 1);
  const size = pageSize(q.size);
  // The page the address names now, not necessarily `query`'s.
  const again = () => refresh();
  const { data: tokens, total } = await api("GET", "/api/v2/tokens", { query: { page, size }, total: true });
  const name = h("input", { name: "name", required: true, maxlength: 64 });
  const user = h("input", { name: "user", placeholder: "yourself" });
  const role = select("role", [["", "The user's role"], ["viewer", "viewer"], ["manager", "manager"], ["admin", "admin"]], "");
  const expires = select(
    "expiresIn",
    [["30d", "30 days"], ["7d", "7 days"], ["90d", "90 days"], ["365d", "1 year"], ["", "Never"]],
    "30d",
  );
  const created = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    {
      method: "post",
      "aria-label": "Create a token",
      class: "filters",
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const t = await api("POST", "/api/v2/tokens", {
            json: {
              name: name.value.trim(),
              user: user.value.trim() || undefined,
              role: role.value || undefined,
              expiresIn: expires.value || undefined,
            },
          });
          const secret = t.token;
          // Shown once, here only: never in the address, never stored.
          created.replaceChildren(
            h(
              "section",
              { class: "secret", "aria-labelledby": "secret-title" },
              h("h2", { id: "secret-title" }, `Token ${t.name} created`),
              h("p", {}, "Copy the secret now: it is not shown again."),
              h("input", { readonly: true, value: secret, "aria-label": "Token secret", class: "mono" }),
              copyButton("Copy secret", () => secret),
              h("button", { type: "button", onclick: () => again() }, "Done"),
            ),
          );
          name.value = "";
        } catch (e) {
          created.replaceChildren(errorBox(e));
        }
      },
    },
    field("Token name", name),
    field("For user", user, "Leave empty for yourself"),
    field("Role", role, "At most the user's own"),
    field("Expires in", expires),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Create token")),
  );
  const rows = tokens.map((t) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, t.name),
      h("td", {}, t.user),
      h("td", {}, t.role),
      h("td", {}, t.state),
      h("td", {}, when(t.createTime)),
      h("td", {}, t.expireTime ? when(t.expireTime) : "never"),
      h("td", {}, t.lastUsedTime ? when(t.lastUsedTime) : "never"),
      h(
        "td",
        {},
        t.state === "active"
          ? h(
              "button",
              {
                type: "button",
                class: "danger",
                "aria-label": `Revoke ${t.name}`,
                onclick: async () => {
                  if (!(await confirmDialog(`Revoke ${t.name}?`, "Whoever uses it is refused from now on.", "Revoke token"))) return;
                  try {
                    await api("DELETE", `/api/v2/tokens/${t.id}`);
                    say(`Revoked ${t.name}.`);
                    again();
                  } catch (e) {
                    say(e.message, "error");
                  }
                },
              },
              "Revoke",
            )
          : "",
      ),
    ),
  );
  show(
    "API tokens",
    form,
    created,
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        {},
        h("caption", {}, `Tokens (${total})`),
        h("thead", {}, h("tr", {}, ["Name", "User", "Role", "State", "Created", "Expires", "Last used", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8 }, "No tokens yet."))),
      ),
    ),
    pager({ page, size, total, to: (n) => go("tokens", { ...q, page: n }) }),
  );
}

export async function auditPage(query) {
  const q = Object.fromEntries(query.entries());
  const page = Math.max(1, Number(q.page) || 1);
  const size = 50;
  const inputs = {
    actor: h("input", { name: "actor", value: q.actor || "" }),
    action: h("input", { name: "action", value: q.action || "", list: "audit-actions" }),
    since: h("input", { name: "since", type: "datetime-local", value: q.since || "" }),
    until: h("input", { name: "until", type: "datetime-local", value: q.until || "" }),
  };
  const iso = (v) => (v ? new Date(v).toISOString() : undefined);
  const data = await api("GET", "/api/v2/audit-events", {
    query: { actor: q.actor, action: q.action, since: iso(q.since), until: iso(q.until), page, size },
  });
  const actions = ["package.upload", "package.delete", "upload.create", "upload.append", "upload.terminate", "token.create", "token.revoke", "session.start", "session.end"];
  const form = h(
    "form",
    {
      role: "search",
      "aria-label": "Filter events",
      class: "filters",
      onsubmit: (event) => {
        event.preventDefault();
        go("audit", Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()])));
      },
    },
    field("Actor", inputs.actor),
    field("Action", inputs.action),
    h("datalist", { id: "audit-actions" }, actions.map((a) => h("option", { value: a }))),
    field("Since", inputs.since),
    field("Until", inputs.until),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Apply filters")),
  );
  const rows = data.contents.map((e) =>
    h(
      "tr",
      {},
      h("td", {}, when(e.time)),
      h("td", {}, e.actor, e.tokenId ? ` (token ${e.tokenId})` : ""),
      h("th", { scope: "row" }, e.action),
      h("td", { class: "wrap" }, e.target),
      h("td", {}, `${e.outcome} (${e.status})`),
      h("td", {}, e.address),
      h("td", { class: "num" }, e.count),
    ),
  );
  const info = data.page;
  show(
    "Audit log",
    form,
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        {},
        h("caption", {}, `Events (${info.totalElements})`),
        h("thead", {}, h("tr", {}, ["Time", "Actor", "Action", "Target", "Outcome", "Address", "Count"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 7 }, "No events match."))),
      ),
    ),
    pager({ page, size, total: info.totalElements, to: (n) => go("audit", { ...q, page: n }) }),
  );
}

export async function doctorPage() {
  const report = await api("GET", "/api/v2/diagnostics");
  show(
    "Doctor",
    h("p", {}, `Overall: ${report.status}`),
    h(
      "ul",
      { class: "checks", "aria-label": "Checks" },
      report.checks.map((c) =>
        h(
          "li",
          { "data-status": c.status },
          h("strong", {}, `${c.status} `),
          h("span", {}, c.name),
          h("p", {}, c.detail),
          c.remedy ? h("p", { class: "remedy" }, `What to do: ${c.remedy}`) : null,
        ),
      ),
    ),
  );
}
