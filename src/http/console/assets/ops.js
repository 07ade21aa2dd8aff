// Upgrade routes and yum repositories.

import { api } from "./api.js";
import { go } from "./app.js";
import { copyButton, errorBox, field, h, show, when } from "./dom.js";

export async function routesPage(query) {
  const q = Object.fromEntries(query.entries());
  const inputs = {
    name: h("input", { name: "name", value: q.name || "", placeholder: "oceanbase-ce" }),
    from: h("input", { name: "from", value: q.from || "", required: true, placeholder: "4.2.1.0" }),
    to: h("input", { name: "to", value: q.to || "", required: true, placeholder: "4.2.1.2" }),
    architecture: h("input", { name: "architecture", value: q.architecture || "" }),
    distribution: h("input", { name: "distribution", value: q.distribution || "" }),
  };
  const form = h(
    "form",
    {
      "aria-label": "Plan a route",
      class: "filters",
      onsubmit: (event) => {
        event.preventDefault();
        go("routes", Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()])));
      },
    },
    field("Package", inputs.name),
    field("From version", inputs.from),
    field("To version", inputs.to),
    field("Architectures", inputs.architecture, "comma-separated"),
    field("Distributions", inputs.distribution, "comma-separated"),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Plan route")),
  );
  let answer = null;
  if (q.from && q.to) {
    try {
      const r = await api("GET", "/api/v1/upgrade/route", { query: q });
      answer = h(
        "section",
        { "aria-labelledby": "route-title" },
        h("h2", { id: "route-title" }, `From ${r.from} to ${r.to}`),
        h("p", {}, "Steps: ", r.hops.join(" → ")),
        h("p", {}, "Binaries installed on the way: ", r.binaryRoute.join(" → ")),
        r.yamlSource ? h("p", {}, "Planned on the YAML of ", h("a", { href: `#/packages/${r.yamlSource.pkgId}` }, r.yamlSource.fileName)) : null,
        h(
          "div",
          { class: "scroll" },
          h(
          "table",
          {},
          h("caption", {}, "Packages the route needs"),
          h("thead", {}, h("tr", {}, ["Version", "Architecture", "Distribution", "Stored", "File"].map((c) => h("th", { scope: "col" }, c)))),
          h(
            "tbody",
            {},
            r.packages.map((p) =>
              h(
                "tr",
                { "data-available": String(p.available) },
                h("th", { scope: "row" }, p.version),
                h("td", {}, p.architecture),
                h("td", {}, p.distribution),
                h("td", {}, p.available ? "yes" : "missing"),
                h("td", {}, p.pkgId ? h("a", { href: `#/packages/${p.pkgId}` }, p.fileName) : p.fileName),
              ),
            ),
          ),
        ),
        ),
        r.missing.length
          ? h("section", { "aria-label": "Missing" }, h("h3", {}, "Missing: upload these"), h("ul", {}, r.missing.map((m) => h("li", {}, m))))
          : h("p", {}, "depot has every package the route needs."),
      );
    } catch (e) {
      answer = errorBox(e);
    }
  }
  show("Upgrade routes", form, answer);
}

export async function reposPage() {
  const repos = await api("GET", "/api/v2/repos");
  const items = [];
  for (const r of repos) {
    const snippet = await api("GET", `/repos/${encodeURIComponent(r.os)}/depot.repo`, { text: true }).catch(
      (e) => `# ${e.message}`,
    );
    items.push(
      h(
        "section",
        { "aria-label": `${r.os} ${r.arch}`, class: "repo" },
        h("h2", {}, `${r.os} / ${r.arch}`),
        h("p", {}, `${r.packages} packages · base URL `, h("code", {}, r.baseUrl)),
        h("p", {}, r.publishTime ? `Published ${when(r.publishTime)} (revision ${r.revision})` : "Not published yet"),
        h("pre", { class: "command", tabindex: "0", role: "region", "aria-label": `${r.os}.repo` }, snippet),
        copyButton(`Copy ${r.os}.repo`, () => snippet),
      ),
    );
  }
  show("Repositories", items.length ? items : h("p", {}, "No repositories yet: they appear with the first RPM."));
}
