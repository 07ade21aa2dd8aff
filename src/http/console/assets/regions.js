// Regions (issue 14): each one's store and replication status, as
// `GET /api/v2/regions` gives it.

import { api } from "./api.js";
import { bytes, duration, h, show, when } from "./dom.js";

/** Where the answering replica takes the region's store keys from. */
const KEYS = {
  environment: "the environment (DEPOT_REGION_<NAME>_…)",
  database: "the database",
  replica: "this replica's own (AWS_…)",
};

const COLUMNS = ["Region", "Storage", "Networks", "Keys from", "Present", "Pending", "Failed", "Oldest pending", "Last error"];

function row(r) {
  const roles = [r.home ? "home" : null, r.local ? "this replica's store" : null].filter(Boolean);
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, r.name, roles.length ? ` (${roles.join(", ")})` : ""),
    h("td", {}, h("code", {}, r.storageUrl), r.s3Endpoint ? [" at ", h("code", {}, r.s3Endpoint)] : null),
    h("td", {}, r.cidrs.length ? r.cidrs.join(", ") : "none"),
    h("td", {}, KEYS[r.credentials] || r.credentials),
    h("td", {}, `${r.present} (${bytes(r.presentBytes)})`),
    h("td", {}, `${r.pending} (${bytes(r.pendingBytes)})${r.copying ? `, ${r.copying} copying` : ""}`),
    h("td", {}, String(r.failed)),
    h("td", {}, r.oldestPendingSeconds === undefined ? "nothing waits" : duration(r.oldestPendingSeconds)),
    h("td", {}, r.lastError ? `${r.lastError} (${when(r.lastErrorTime)})` : "none"),
  );
}

export async function regionsPage() {
  const regions = await api("GET", "/api/v2/regions");
  show(
    "Regions",
    regions.length
      ? h(
          "div",
          { class: "scroll" },
          h(
            "table",
            {},
            h("caption", {}, `Regions (${regions.length})`),
            h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, regions.map(row)),
          ),
        )
      : h("p", {}, "No regions: depot serves from its one store. An admin adds regions with `depot region add` or POST /api/v2/regions."),
  );
}
