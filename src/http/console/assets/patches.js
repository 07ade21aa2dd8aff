// StarlingX patches: their states, a patch's details, the manager's actions
// (apply, remove, delete, commit after its dry run), and the hosts with what
// each one lacks. The calls are StarlingX's own (`/v1/…`), whose answers are
// not envelopes: `info`, `warning` and `error` strings, shown here in words.

import { api, may } from "./api.js";
import { go } from "./app.js";
import { bytes, confirmDialog, errorBox, h, pageSize, pager, show } from "./dom.js";

const sx = (method, path) => api(method, path, { raw: true });
const id = (s) => encodeURIComponent(s);

/** What the last action answered, kept across the page's refresh. */
let answered = null;
/** The page's address query (which pages of patches and hosts). */
let shown = new URLSearchParams();

/** StarlingX's `{info, warning, error}` as paragraphs, each said by its kind. */
function said(what, r) {
  const lines = [];
  // A refusal or a warning is announced at once (alert); what was done, politely.
  if (r.info && r.info.trim()) lines.push(h("p", { role: "status" }, `Done: ${r.info.trim()}`));
  if (r.warning && r.warning.trim()) lines.push(h("p", { class: "warn", role: "alert" }, `Warning: ${r.warning.trim()}`));
  if (r.error && r.error.trim()) lines.push(h("p", { class: "error", role: "alert" }, `Refused: ${r.error.trim()}`));
  if (!lines.length) lines.push(h("p", { role: "status" }, "Done."));
  return h("section", { "aria-label": "Last answer", class: "answer" }, h("h2", {}, what), lines);
}

/** Runs `path` after a confirmation; the page then shows its answer. */
async function act(what, question, text, action, path) {
  if (!(await confirmDialog(question, text, action))) return;
  try {
    answered = said(what, await sx("POST", path));
  } catch (e) {
    answered = h("section", { "aria-label": "Last answer" }, h("h2", {}, what), errorBox(e));
  }
  await patchesPage(shown);
}

/** Commit: the dry run first, so the confirmation says what goes for good. */
async function commit(p) {
  let dry;
  try {
    dry = await sx("POST", `/v1/commit_dry_run/${id(p)}`);
  } catch (e) {
    answered = h("section", { "aria-label": "Last answer" }, h("h2", {}, `Commit ${p}`), errorBox(e));
    return patchesPage(shown);
  }
  if (dry.error && dry.error.trim()) {
    answered = said(`Commit ${p} (dry run)`, dry);
    return patchesPage(shown);
  }
  const patches = (dry.patches || []).join(", ") || p;
  const warning = dry.warning && dry.warning.trim() ? ` Warning: ${dry.warning.trim()}` : "";
  const text = `The dry run commits ${patches} and frees ${bytes(dry.sz || 0)}. Committed patches cannot be removed.${warning}`;
  await act(`Commit ${p}`, `Commit ${p}?`, text, "Commit patches", `/v1/commit/${id(p)}`);
}

function button(label, onclick, danger) {
  return h("button", { type: "button", class: danger ? "danger" : null, "aria-label": label, onclick }, label.split(" ")[0]);
}

function actions(p, d) {
  const out = [];
  const repo = d.repostate;
  if (repo === "Available") {
    out.push(button(`Apply ${p}`, () => act(`Apply ${p}`, `Apply ${p}?`, "Its packages join the release's repository; hosts install them when asked.", "Apply patch", `/v1/apply/${id(p)}`)));
    out.push(button(`Delete ${p}`, () => act(`Delete ${p}`, `Delete ${p}?`, "The patch and its packages are removed from depot.", "Delete patch", `/v1/delete/${id(p)}`), true));
  }
  if (repo === "Applied") {
    if (d.unremovable !== "Y") {
      out.push(button(`Remove ${p}`, () => act(`Remove ${p}`, `Remove ${p}?`, "Its packages leave the release's repository; hosts remove them when asked.", "Remove patch", `/v1/remove/${id(p)}`)));
    }
    out.push(button(`Commit ${p}`, () => commit(p), true));
  }
  return out;
}

const HOST_COLUMNS = ["Host", "Address", "Type", "Release", "State", "Patch current", "Missing packages", "To remove", "Reboot", "Install asked"];

function hostRow(host) {
  const n = host.hostname;
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, n),
    h("td", {}, host.ip),
    h("td", {}, host.nodetype),
    h("td", {}, host.sw_version),
    h("td", {}, host.patch_failed ? `${host.state} (failed)` : host.state),
    h("td", {}, host.patch_current ? "yes" : "no"),
    h("td", {}, (host.missing_pkgs || []).join(", ") || "none"),
    h("td", {}, (host.to_remove || []).join(", ") || "none"),
    h("td", {}, host.requires_reboot ? "required" : "no"),
    h("td", {}, host.install_requested ? "yes" : "no"),
    may("change")
      ? h(
          "td",
          {},
          button(`Install ${n}`, () => act(`Install on ${n}`, `Install on ${n}?`, "Its agent installs and removes what the applied patches want at its next report.", "Ask to install", `/v1/host_install_async/${id(n)}`)),
          button(`Drop ${n}`, () => act(`Drop ${n}`, `Drop ${n}?`, "depot forgets the host until its agent reports again.", "Drop host", `/v1/drop_host/${id(n)}`), true),
        )
      : null,
  );
}

export async function patchesPage(query = new URLSearchParams()) {
  shown = query;
  const q = Object.fromEntries(query.entries());
  const page = Math.max(1, Number(q.page) || 1);
  const hostPage = Math.max(1, Number(q.hpage) || 1);
  const size = pageSize(q.size);
  const [{ data: answer, total }, { data: hosts, total: hostTotal }] = await Promise.all([
    api("GET", "/v1/query", { raw: true, total: true, query: { page, size } }),
    api("GET", "/v1/query_hosts", { raw: true, total: true, query: { page: hostPage, size } }),
  ]);
  const patches = Object.entries(answer.pd || {}).sort(([a], [b]) => a.localeCompare(b));
  const change = may("change");
  const cols = ["Patch", "Release", "State", "Repository", "Summary", "Reboot"].concat(change ? ["Actions"] : []);
  const rows = patches.map(([p, d]) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, h("a", { href: `#/patches/${id(p)}` }, p)),
      h("td", {}, d.sw_version),
      h("td", {}, d.patchstate),
      h("td", {}, d.repostate),
      h("td", {}, d.summary),
      h("td", {}, d.reboot_required === "Y" ? "required" : "no"),
      change ? h("td", {}, actions(p, d)) : null,
    ),
  );
  const list = h(
    "div",
    { class: "scroll" },
    h(
      "table",
      {},
      h("caption", {}, `Patches (${total})`),
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows),
    ),
    total ? null : h("p", {}, "No patches yet: upload one with sw-patch or POST /v1/upload."),
  );
  const hostList = hosts.data || [];
  const hostTable = h(
    "div",
    { class: "scroll" },
    h(
      "table",
      {},
      h("caption", {}, `Hosts (${hostTotal})`),
      h("thead", {}, h("tr", {}, HOST_COLUMNS.concat(change ? ["Actions"] : []).map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, hostList.map(hostRow)),
    ),
    hostTotal ? null : h("p", {}, "No hosts yet: they appear with their agents' first report."),
  );
  const last = answered;
  answered = null;
  show(
    "Patches",
    last,
    answer.error && answer.error.trim() ? said("Patches", answer) : null,
    list,
    pager({ of: "patches", page, size, total, to: (n) => go("patches", { ...q, page: n }) }),
    hostTable,
    pager({ of: "hosts", page: hostPage, size, total: hostTotal, to: (n) => go("patches", { ...q, hpage: n }) }),
  );
}

export async function patchDetails(raw) {
  const p = decodeURIComponent(raw);
  const r = await sx("POST", `/v1/show/${id(p)}`);
  const d = (r.metadata || {})[p];
  if (!d) {
    show(p, said(p, r), h("p", {}, h("a", { href: "#/patches" }, "Back to the patches")));
    return;
  }
  const fields = [
    ["State", d.patchstate],
    ["Repository state", d.repostate],
    ["Release", d.sw_version],
    ["Status", d.status],
    ["Summary", d.summary],
    ["Description", d.description],
    ["Install instructions", d.install_instructions],
    ["Warnings", d.warnings],
    ["Requires", (d.requires || []).join(", ") || "nothing"],
    ["Reboot required", d.reboot_required === "Y" ? "yes" : "no"],
    ["Removable", d.unremovable === "Y" ? "no" : "yes"],
    ["Applies to the active release only", d.apply_active_release_only === "Y" ? "yes" : "no"],
  ];
  for (const [k, v] of Object.entries(d)) {
    if (k.startsWith("personality-")) fields.push([`Packages for ${k.slice(12)}`, (v || []).join(", ")]);
  }
  const contents = (r.contents || {})[p] || [];
  show(
    p,
    h("p", {}, h("a", { href: "#/patches" }, "Back to the patches")),
    // A dl may not carry a name itself: the section does.
    h("section", { "aria-label": `Details of ${p}` }, h("dl", { class: "facts" }, fields.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v || "—")]))),
    h("h2", {}, "Packages"),
    h("ul", { "aria-label": "Packages in the patch" }, contents.map((c) => h("li", {}, c))),
  );
}
