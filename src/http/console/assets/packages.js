// Packages: the list (the API's filters, sort and paging: one page of
// rows is all that is loaded), a package's details, and delete.

import { api, may, session } from "./api.js";
import { go } from "./app.js";
import { bytes, confirmDialog, copyButton, field, h, pager, say, select, show, when } from "./dom.js";

const TYPES = [
  "OB_SERVER_INSTALL_PACKAGE",
  "OB_AGENT_INSTALL_PACKAGE",
  "OCP_AGENT_INSTALL_PACKAGE",
  "OBPROXY_INSTALL_PACKAGE",
  "OB_BACKUP_AGENT_INSTALL_PACKAGE",
  "OTHERS_RPM",
  "SCRIPT",
];
const SORTS = [
  ["createTime", "Upload time"],
  ["name", "Name"],
  ["fileName", "File name"],
  ["version", "Version"],
  ["type", "Type"],
  ["operatingSystem", "Operating system"],
  ["architecture", "Architecture"],
  ["size", "Size"],
  ["id", "Id"],
];
const FILTERS = [
  ["keyword", "Keyword", "Part of the name, any case"],
  ["version", "Version", "One or more, comma-separated"],
  ["operatingSystem", "Operating system", "el7, alios7, or a family: el"],
  ["architecture", "Architecture", "x86_64, aarch64, noarch"],
];

export async function packageList(query) {
  const q = Object.fromEntries(query.entries());
  const page = Math.max(1, Number(q.page) || 1);
  const size = [10, 25, 50, 100].includes(Number(q.size)) ? Number(q.size) : 25;
  const [sortField, sortOrder] = (q.sort || "createTime,desc").split(",");

  const inputs = Object.fromEntries(
    FILTERS.map(([name]) => [name, h("input", { name, value: q[name] || "", type: "search" })]),
  );
  const type = select("type", [["", "Any type"], ...TYPES.map((t) => [t, t])], q.type || "");
  const sort = select("sort", SORTS, sortField);
  const order = select("order", [["desc", "Descending"], ["asc", "Ascending"]], sortOrder || "desc");
  const perPage = select("size", [10, 25, 50, 100].map((n) => [String(n), String(n)]), String(size));
  const form = h(
    "form",
    {
      role: "search",
      "aria-label": "Filter packages",
      class: "filters",
      onsubmit: (event) => {
        event.preventDefault();
        go("packages", {
          ...Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()])),
          type: type.value,
          sort: `${sort.value},${order.value}`,
          size: perPage.value,
        });
      },
    },
    FILTERS.map(([name, label, hint]) => field(label, inputs[name], hint)),
    field("Type", type),
    field("Sort by", sort),
    field("Order", order),
    field("Per page", perPage),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Apply filters")),
  );

  const data = await api("GET", "/api/v2/software-packages", {
    query: {
      keyword: q.keyword,
      version: q.version,
      operatingSystem: q.operatingSystem,
      architecture: q.architecture,
      type: q.type,
      sort: `${sortField},${sortOrder || "desc"}`,
      page,
      size,
    },
  });
  const info = data.page;
  const rows = data.contents.map((p) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, h("a", { href: `#/packages/${p.id}` }, p.fileName)),
      h("td", {}, p.version),
      h("td", {}, p.type),
      h("td", {}, p.operatingSystem),
      h("td", {}, p.architecture),
      h("td", { class: "num" }, bytes(p.size)),
      h("td", {}, when(p.createTime)),
      may("change")
        ? h(
            "td",
            {},
            p.deletable
              ? h(
                  "button",
                  {
                    type: "button",
                    class: "danger",
                    "aria-label": `Delete ${p.fileName}`,
                    onclick: () => remove(p, () => go("packages", { ...q, t: Date.now() })),
                  },
                  "Delete",
                )
              : "built in",
          )
        : null,
    ),
  );
  const table = h(
    "div",
    { class: "scroll" },
    h(
      "table",
      {},
      h("caption", {}, `Packages ${info.totalElements ? `(${info.totalElements})` : ""}`),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["File name", "Version", "Type", "OS", "Architecture", "Size", "Uploaded"].map((c) =>
            h("th", { scope: "col" }, c),
          ),
          may("change") ? h("th", { scope: "col" }, "Actions") : null,
        ),
      ),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8 }, "No packages match."))),
    ),
  );
  const pages = pager({ page, size, total: info.totalElements, to: (n) => go("packages", { ...q, page: n }) });
  const actions = may("change")
    ? h("p", {}, h("a", { href: "#/upload", class: "button" }, "Upload packages"))
    : null;
  show("Packages", actions, form, table, pages);
}

async function remove(p, then) {
  const sure = await confirmDialog(
    `Delete ${p.fileName}?`,
    "Agents can no longer download it. This cannot be undone.",
    "Delete package",
  );
  if (!sure) return;
  try {
    await api("DELETE", `/api/v2/software-packages/${p.id}`);
    say(`Deleted ${p.fileName}.`);
    then();
  } catch (e) {
    say(`Deleting ${p.fileName} failed: ${e.message}`, "error");
  }
}

function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => [
      h("dt", {}, k),
      h("dd", {}, v),
    ]),
  );
}

function shellQuote(s) {
  return `'${String(s).replace(/'/g, "'\\''")}'`;
}

export async function packageDetails(id) {
  const p = await api("GET", `/api/v2/software-packages/${encodeURIComponent(id)}`);
  const curl = `curl -f -H "Authorization: Bearer $DEPOT_TOKEN" -o ${shellQuote(p.fileName)} ${shellQuote(p.downloadUrl)}`;
  const check = `echo ${shellQuote(`${p.sha256}  ${p.fileName}`)} | sha256sum -c -`;
  const sections = [
    facts([
      ["Id", p.id],
      ["Name", p.name],
      ["File name", p.fileName],
      ["Type", p.type],
      ["Version", p.version],
      ["Build number", p.buildNumber],
      ["Operating system", p.operatingSystem],
      ["Architecture", p.architecture],
      ["Extension", p.extension],
      ["Size", `${bytes(p.size)} (${p.size} bytes)`],
      ["MD5", h("code", {}, p.md5)],
      ["SHA-1", h("code", {}, p.sha1)],
      ["SHA-256", h("code", {}, p.sha256)],
      ["Content key", h("code", {}, p.contentKey)],
      ["Uploaded", when(p.createTime)],
      ["Deletable", p.deletable ? "yes" : "no (built in)"],
    ]),
    h("h2", {}, "Download"),
    h("p", {}, h("a", { href: p.downloadUrl, download: p.fileName }, `Download ${p.fileName}`)),
    h("p", {}, "For agents, with an API token in DEPOT_TOKEN:"),
    h("pre", { class: "command", tabindex: "0", role: "region", "aria-label": "curl command" }, curl),
    copyButton("Copy curl command", () => curl),
    h("p", {}, "Then check what arrived:"),
    h("pre", { class: "command", tabindex: "0", role: "region", "aria-label": "Checksum command" }, check),
    copyButton("Copy checksum command", () => check),
  ];
  if (p.extension === "rpm") {
    // Only this package's upgrade details, not every upgrade package's.
    const upgrades = await api("GET", "/api/v1/upgrade/package/info", { query: { pkgId: p.id } }).catch(() => []);
    const u = (upgrades || []).find((x) => x.pkg_id === p.id);
    if (u) {
      sections.push(
        h("h2", {}, "obshell upgrade package"),
        facts([
          ["Release", u.release],
          ["Distribution", u.distribution],
          ["Release distribution", u.release_distribution],
          ["Installed size", bytes(u.size)],
          ["Payload size", bytes(u.payload_size)],
          ["Chunks", u.chunk_count],
          ["MD5", h("code", {}, u.md5)],
        ]),
        h("h3", {}, "Upgrade dependency YAML"),
        u.upgrade_dep_yaml
          ? h("pre", { class: "yaml", tabindex: "0", role: "region", "aria-label": "Upgrade dependency YAML" }, u.upgrade_dep_yaml)
          : h("p", {}, "This package carries none."),
      );
    }
  }
  if (may("change") && p.deletable) {
    sections.push(
      h(
        "p",
        {},
        h("button", { type: "button", class: "danger", onclick: () => remove(p, () => go("packages")) }, "Delete package"),
      ),
    );
  }
  show(p.fileName, h("p", {}, h("a", { href: "#/packages" }, "← All packages")), sections);
  return session;
}
