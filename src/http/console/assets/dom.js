// Small DOM helpers: elements are built, never parsed from strings, so no
// text from the server can become markup.

/** h("button", {type: "button", onclick}, "Delete") */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let ids = 0;
/** A labelled form field: label, then the control, linked by id. */
export function field(label, control, hint) {
  const id = control.id || `f${++ids}`;
  control.id = id;
  const parts = [h("label", { for: id }, label), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("small", { id: hintId, class: "hint" }, hint));
  }
  return h("div", { class: "field" }, parts);
}

export function select(name, options, value) {
  return h(
    "select",
    { name },
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)),
  );
}

/** Replaces the page's content and moves focus to its heading. */
export function show(title, ...content) {
  const main = document.getElementById("main");
  const heading = h("h1", { tabindex: "-1" }, title);
  main.replaceChildren(heading, ...content.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  // A table wider than the window scrolls in its box: the box takes focus
  // (so a keyboard can scroll it) and is named after its table.
  for (const box of main.querySelectorAll(".scroll")) {
    const caption = box.querySelector("caption");
    box.tabIndex = 0;
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", caption ? caption.textContent : "Table");
  }
  document.title = `${title} · depot`;
  heading.focus();
  return main;
}

/** Says something to the user and to screen readers. */
export function say(text, kind = "info") {
  const status = document.getElementById("status");
  status.textContent = text;
  status.dataset.kind = kind;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => (status.textContent = ""), 8000);
}

export function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, error.message || String(error));
}

export function bytes(n) {
  if (!Number.isFinite(n)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "—";
  seconds = Math.round(seconds);
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${seconds % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function when(text) {
  if (!text) return "";
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? text : d.toLocaleString();
}

/** A modal confirmation; resolves true when confirmed. */
export function confirmDialog(title, text, action) {
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    const dialog = h(
      "dialog",
      { "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text" },
      h("h2", { id: "confirm-title" }, title),
      h("p", { id: "confirm-text" }, text),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", onclick: () => done(false) }, "Cancel"),
        h("button", { type: "button", class: "danger", onclick: () => done(true) }, action),
      ),
    );
    dialog.addEventListener("cancel", () => resolve(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A button that copies `text` to the clipboard. */
export function copyButton(label, text) {
  return h(
    "button",
    {
      type: "button",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(text());
          say("Copied to the clipboard.");
        } catch {
          say("The browser refused the clipboard: select the text and copy it.", "error");
        }
      },
    },
    label,
  );
}

/** Page size from the address (`size=`), within what the lists allow. */
export function pageSize(value, fallback = 25) {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 && n <= 100 ? n : fallback;
}

/**
 * Previous/next buttons and "Page N of M" for a list of `total` rows;
 * `to(n)` goes to page n. `of` names the list when a page has several
 * ("hosts": "Pages of hosts", "Next page of hosts").
 */
export function pager({ of = "", page, size, total, to }) {
  const pages = Math.max(1, Math.ceil(total / size));
  const what = of ? ` of ${of}` : "";
  return h(
    "nav",
    { "aria-label": `Pages${what}`, class: "pager" },
    h("button", { type: "button", disabled: page <= 1, onclick: () => to(page - 1) }, `Previous page${what}`),
    h("span", {}, `Page ${page} of ${pages}`),
    h("button", { type: "button", disabled: page >= pages, onclick: () => to(page + 1) }, `Next page${what}`),
  );
}
