// What console_e2e.js does on every page: checks, screenshots, axe-core,
// the narrow window, keyboard moves, signing in and out. `ctx.page` is the
// browser page; `ctx.out` what the server side checks; `ctx.minor` axe-core's
// findings below serious, by page.
const path = require("path");
const axe = require("axe-core");

const ctx = { page: null, out: { a11yPages: [], narrowPages: [] }, minor: {}, shots: "", password: "" };

function check(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`);
}

async function shot(name) {
  await ctx.page.screenshot({ path: path.join(ctx.shots, `${name}.png`), fullPage: true });
}

/** axe-core on the page as it is: fails on a serious or critical violation. */
async function audit(name) {
  // Evaluated through the DevTools protocol, which the page's CSP does not
  // govern: the page itself still allows only depot's own scripts.
  if (!(await ctx.page.evaluate(() => typeof window.axe === "object"))) await ctx.page.evaluate(axe.source);
  const { violations } = await ctx.page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const said = (v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`;
  const grave = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(grave.length === 0, `no serious accessibility violation on ${name}: ${grave.map(said).join(" | ")}`);
  const rest = violations.filter((v) => !grave.includes(v)).map(said);
  if (rest.length) ctx.minor[name] = rest;
  if (!ctx.out.a11yPages.includes(name)) ctx.out.a11yPages.push(name);
}

/** The page in a 360×740 window: no sideways scroll, every control within reach. */
async function narrow(name) {
  const size = ctx.page.viewportSize();
  await ctx.page.setViewportSize({ width: 360, height: 740 });
  try {
    const fit = await ctx.page.evaluate(() => {
      const root = document.documentElement;
      const w = root.clientWidth;
      // A control past the right edge outside a table's own scroll box
      // cannot be reached; one wholly left of 0 is hidden on purpose (the
      // skip link until it has focus).
      const cut = [...document.querySelectorAll("a[href], button, input, select, textarea, [tabindex='0']")]
        .filter((el) => el.getClientRects().length && !el.closest("table"))
        .filter((el) => el.getBoundingClientRect().right > w + 1)
        .map((el) => el.getAttribute("aria-label") || el.textContent.trim() || el.tagName);
      return { overflow: root.scrollWidth - w, cut };
    });
    check(fit.overflow <= 0, `${name} fits a 360 px window (overflows by ${fit.overflow} px)`);
    check(fit.cut.length === 0, `${name}: controls past the window's edge: ${fit.cut.join(", ")}`);
    await audit(name);
    await shot(`${name}-narrow`);
    if (!ctx.out.narrowPages.includes(name)) ctx.out.narrowPages.push(name);
  } finally {
    await ctx.page.setViewportSize(size);
  }
}

/** A page as shown: axe-core, the narrow window, a screenshot. */
async function checkPage(name) {
  await audit(name);
  await narrow(name);
  await shot(name);
}

/** Presses Tab until `locator` has focus (at most `max` times). */
async function tabTo(locator, max = 100) {
  for (let i = 0; i < max; i++) {
    if (await locator.evaluate((el) => el === document.activeElement)) return;
    await ctx.page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached ${locator}`);
}

async function heading(name) {
  await ctx.page.getByRole("heading", { level: 1, name }).waitFor();
}

async function signIn(base, user, password = ctx.password) {
  await ctx.page.goto(`${base}/`);
  await heading("Sign in to depot");
  await ctx.page.getByLabel("User name").fill(user);
  await ctx.page.getByLabel("Password").fill(password);
  await ctx.page.getByRole("button", { name: "Sign in" }).click();
}

async function signOut() {
  await ctx.page.getByRole("button", { name: "Sign out" }).click();
  await heading("Sign in to depot");
}

async function navLinks() {
  return ctx.page.getByRole("navigation", { name: "Main" }).getByRole("link").allTextContents();
}

/** Rows of the table, without its header row. */
async function rowCount() {
  return (await ctx.page.getByRole("table").getByRole("row").count()) - 1;
}

module.exports = { ctx, check, shot, audit, narrow, checkPage, tabTo, heading, signIn, signOut, navLinks, rowCount };
