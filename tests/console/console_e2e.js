// The web console in headless Chromium (Debian's, driven by playwright-core;
// no browser download), as a user would go through it. Elements are found
// by role and label only. Run by tests/api/console/ against a real depot:
//   node console_e2e.js   with the environment:
//   DEPOT_BASE     depot's URL;  DEPOT_PROXY   the same through a slow proxy
//                  that cuts one upload's connection;  DEPOT_PASSWORD
//   DEPOT_FILES    a directory with the files to upload
//   DEPOT_SHOTS    where the screenshots go;  DEPOT_CHROMIUM  the browser
// Every page is checked by axe-core (a serious or critical violation fails
// the run; the rest is reported in DEPOT_SHOTS/a11y.json) and in a 360×740
// window (no sideways scroll of the page, every control within its width).
// Prints one JSON line of what the server side should check; exits 1 with
// the failed step on failure.
const path = require("path");
const fs = require("fs");
const { chromium } = require("playwright-core");
const { ctx, check, shot, audit, checkPage, tabTo, heading, signIn, signOut, navLinks, rowCount } = require("./helpers.js");

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env("DEPOT_BASE");
const PROXY = env("DEPOT_PROXY");
const PASSWORD = env("DEPOT_PASSWORD");
const FILES = env("DEPOT_FILES");
const SHOTS = env("DEPOT_SHOTS");
const file = (name) => path.join(FILES, name);
// The patches the server side uploaded.
const P1 = "TC_19.12_PATCH_0001";
const P2 = "TC_19.12_PATCH_0002";
const P3 = "TC_19.12_PATCH_0003"; // requires P1
const { out, minor } = ctx;
ctx.shots = SHOTS;
ctx.password = PASSWORD;
let page;
let current = "start";

async function step(name, fn) {
  current = name;
  await fn();
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: env("DEPOT_CHROMIUM") });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  ctx.page = page;
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && !/Failed to load resource/.test(m.text()) && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  try {
    await step("sign-in page, keyboard order", async () => {
      const response = await page.goto(`${BASE}/`);
      check(response.url().endsWith("/ui/"), `/ redirects to /ui/, got ${response.url()}`);
      await heading("Sign in to depot");
      await page.getByLabel("User name").focus();
      await page.keyboard.press("Tab");
      check(await page.getByLabel("Password").evaluate((el) => el === document.activeElement), "Tab moves to Password");
      await page.keyboard.press("Tab");
      check(await page.getByRole("button", { name: "Sign in" }).evaluate((el) => el === document.activeElement), "then to Sign in");
      await checkPage("sign-in");
    });
    await step("a wrong password is refused", async () => {
      await signIn(BASE, "viewer", "not-the-password");
      await page.getByRole("alert").filter({ hasText: "Wrong user name or password." }).waitFor();
      check(!page.url().includes("password"), "no password in the address");
      await shot("sign-in-refused");
    });
    await step("viewer: list, no upload, no delete", async () => {
      await signIn(BASE, "viewer");
      await heading("Packages");
      const links = await navLinks();
      check(links.includes("Packages") && !links.includes("Upload") && !links.includes("API tokens"), `viewer's navigation: ${links}`);
      check((await page.getByRole("button", { name: /^Delete/ }).count()) === 0, "no delete buttons for a viewer");
      check((await page.getByRole("columnheader", { name: "Actions" }).count()) === 0, "no actions column");
      await page.goto(`${BASE}/ui/#/upload`);
      await heading("Not here");
      await page.goto(`${BASE}/ui/#/packages`);
      await heading("Packages");
      await checkPage("packages-viewer");
    });
    await step("filter, sort, page", async () => {
      await page.getByLabel("Per page").selectOption("10");
      await page.getByRole("button", { name: "Apply filters" }).click();
      await page.getByText("Page 1 of 2").waitFor();
      check((await rowCount()) === 10, "10 rows on page 1");
      await page.getByRole("button", { name: "Next page" }).click();
      await page.getByText("Page 2 of 2").waitFor();
      out.page2Rows = await rowCount();
      await page.getByLabel("Keyword").fill("tool-1");
      await page.getByLabel("Sort by").selectOption("size");
      await page.getByLabel("Order").selectOption("asc");
      await page.getByRole("button", { name: "Apply filters" }).click();
      await page.getByText("Page 1 of 1").waitFor();
      const names = await page.getByRole("table").getByRole("rowheader").allTextContents();
      out.filteredSortedBySize = names;
      await page.getByLabel("Type").selectOption("OTHERS_RPM");
      await page.getByLabel("Keyword").fill("toolbox");
      await page.getByRole("button", { name: "Apply filters" }).click();
      await page.getByRole("table", { name: "Packages (1)" }).waitFor();
      out.rpmRows = await page.getByRole("table").getByRole("rowheader").allTextContents();
      await shot("packages-filtered");
    });
    await step("details", async () => {
      await page.getByRole("link", { name: out.rpmRows[0] }).click();
      await heading(out.rpmRows[0]);
      out.detailsSha1 = (await page.getByRole("definition").filter({ hasText: /^[0-9a-f]{40}$/ }).first().textContent()).trim();
      out.curl = await page.getByLabel("curl command").textContent();
      out.downloadHref = await page.getByRole("link", { name: `Download ${out.rpmRows[0]}` }).getAttribute("href");
      const fact = async (term) => (await page.getByRole("term").filter({ hasText: new RegExp(`^${term}$`) }).locator("xpath=following-sibling::dd[1]").textContent()).trim();
      out.details = {};
      for (const term of ["MD5", "SHA-1", "SHA-256", "Content key", "Size"]) out.details[term] = await fact(term);
      out.checksum = await page.getByLabel("Checksum command").textContent();
      await checkPage("package-details");
    });
    await step("viewer: patches and regions, no actions", async () => {
      await page.getByRole("link", { name: "Patches", exact: true }).click();
      await heading("Patches");
      await page.getByRole("table", { name: "Patches (3)" }).waitFor();
      await page.getByRole("table", { name: "Hosts (2)" }).waitFor();
      const actions = page.getByRole("button", { name: /^(Apply|Remove|Delete|Commit|Install|Drop) / });
      check((await actions.count()) === 0, "no patch or host actions for a viewer");
      out.viewerP1 = await page.getByRole("row", { name: new RegExp(P1) }).textContent();
      await checkPage("patches-viewer");
      // One row a page: the patches and the hosts page apart.
      await page.goto(`${BASE}/ui/#/patches?size=1`);
      const patchPages = page.getByRole("navigation", { name: "Pages of patches" });
      const hostPages = page.getByRole("navigation", { name: "Pages of hosts" });
      await patchPages.getByText("Page 1 of 3").waitFor();
      await hostPages.getByText("Page 1 of 2").waitFor();
      out.pagedPatches = [await page.getByRole("table", { name: "Patches (3)" }).getByRole("rowheader").allTextContents()];
      await page.getByRole("button", { name: "Next page of patches" }).click();
      await patchPages.getByText("Page 2 of 3").waitFor();
      out.pagedPatches.push(await page.getByRole("table", { name: "Patches (3)" }).getByRole("rowheader").allTextContents());
      out.pagedHosts = [await page.getByRole("table", { name: "Hosts (2)" }).getByRole("rowheader").allTextContents()];
      await page.getByRole("button", { name: "Next page of hosts" }).click();
      await hostPages.getByText("Page 2 of 2").waitFor();
      out.pagedHosts.push(await page.getByRole("table", { name: "Hosts (2)" }).getByRole("rowheader").allTextContents());
      await shot("patches-paged");
      await page.goto(`${BASE}/ui/#/patches`);
      await page.getByRole("navigation", { name: "Pages of patches" }).getByText("Page 1 of 1").waitFor();
      await page.getByRole("link", { name: P1 }).click();
      await heading(P1);
      out.patchPackages = await page.getByRole("list", { name: "Packages in the patch" }).getByRole("listitem").allTextContents();
      out.patchDetails = await page.getByRole("definition").allTextContents();
      await checkPage("patch-details");
      await page.getByRole("link", { name: "Regions" }).click();
      await heading("Regions");
      out.regionRow = await page.getByRole("row", { name: /backup/ }).textContent();
      await checkPage("regions");
      for (const [path, title, name] of [
        ["routes", "Upgrade routes", "routes-viewer"],
        ["repos", "Repositories", "repos-viewer"],
      ]) {
        await page.goto(`${BASE}/ui/#/${path}`);
        await heading(title);
        await checkPage(name);
      }
      await signOut();
    });

    await step("manager: upload several files, one connection cut", async () => {
      await signIn(PROXY, "manager");
      await heading("Packages");
      check((await navLinks()).includes("Upload"), "a manager may upload");
      await page.getByRole("link", { name: "Upload", exact: true }).click();
      await heading("Upload packages");
      await checkPage("upload");
      await page.getByLabel("Choose files").setInputFiles([file("big-a.sh"), file("big-b.sh"), file("small.sh")]);
      const bar = page.getByRole("progressbar", { name: "Upload of big-a.sh" });
      await bar.waitFor();
      // Seen part-way: a value between the ends, the rate and the time left.
      let seen = false;
      for (let i = 0; i < 400 && !seen; i++) {
        const [value, max] = await bar.evaluate((el) => [el.value, el.max]);
        const text = await page.getByRole("listitem").filter({ hasText: "big-a.sh" }).textContent();
        seen = value > 0 && value < max && /· [1-9][\d.]* \S+\/s · \d.* left/.test(text);
        if (!seen) await page.waitForTimeout(25);
      }
      check(seen, "big-a.sh's progress, rate and time left part-way");
      await shot("upload-progress");
      for (const name of ["big-a.sh", "big-b.sh", "small.sh"]) {
        await page.getByRole("listitem").filter({ hasText: name }).getByText("Stored as").waitFor({ timeout: 60000 });
      }
      await shot("upload-done");
    });
    await step("reload mid-upload, then resume", async () => {
      await page.reload();
      await heading("Upload packages");
      await page.getByLabel("Choose files").setInputFiles([file("resume-me.sh")]);
      const bar = page.getByRole("progressbar", { name: "Upload of resume-me.sh" });
      await bar.waitFor();
      for (let i = 0; i < 400 && (await bar.evaluate((el) => el.value)) < 1024 * 1024; i++) {
        await page.waitForTimeout(25);
      }
      await page.reload();
      await heading("Upload packages");
      await page.getByRole("heading", { name: "Unfinished uploads" }).waitFor();
      check((await page.getByText("Resume resume-me.sh", { exact: true }).count()) === 1, "offers to resume resume-me.sh");
      await shot("upload-resume-offer");
      await page.getByLabel("Choose files").setInputFiles([file("resume-me.sh")]);
      const done = page.getByRole("listitem").filter({ hasText: "resume-me.sh" }).getByText(/Resumed at .*; stored as/);
      await done.waitFor({ timeout: 60000 });
      out.resumed = await done.textContent();
    });
    await step("a broken file and a refused type are said in words", async () => {
      await page.getByLabel("Choose files").setInputFiles([file("broken-1.0-1.el7.x86_64.rpm"), file("notes.txt")]);
      const failed = (name) => page.getByRole("listitem").filter({ hasText: name }).getByRole("alert");
      await failed("broken-1.0-1.el7.x86_64.rpm").waitFor({ timeout: 60000 });
      await failed("notes.txt").waitFor({ timeout: 60000 });
      out.brokenSaid = await failed("broken-1.0-1.el7.x86_64.rpm").textContent();
      out.refusedTypeSaid = await failed("notes.txt").textContent();
      await checkPage("upload-refused");
      // Refused for good: a reload offers nothing to resume.
      await page.reload();
      await heading("Upload packages");
      check((await page.getByRole("heading", { name: "Unfinished uploads" }).count()) === 0, "no refused upload offered to resume");
    });
    await step("delete with confirmation", async () => {
      await page.goto(`${PROXY}/ui/#/packages?keyword=small`);
      await page.getByRole("button", { name: "Delete small.sh" }).waitFor();
      await checkPage("packages-manager");
      await page.getByRole("button", { name: "Delete small.sh" }).click();
      const dialog = page.getByRole("dialog", { name: "Delete small.sh?" });
      await dialog.waitFor();
      await audit("delete-confirm");
      await shot("delete-confirm");
      await dialog.getByRole("button", { name: "Delete package" }).click();
      await page.getByRole("status").filter({ hasText: "Deleted small.sh." }).waitFor();
      await page.getByText("No packages match.").waitFor();
    });
    await step("manager: apply, commit after its dry run, delete; install and drop a host", async () => {
      await page.goto(`${PROXY}/ui/#/patches`);
      await heading("Patches");
      const answer = page.getByRole("region", { name: "Last answer" });
      await checkPage("patches-manager-before");
      // P3 requires P1, not applied yet: refused, in words, as an alert.
      await page.getByRole("button", { name: `Apply ${P3}` }).click();
      await page.getByRole("dialog", { name: `Apply ${P3}?` }).getByRole("button", { name: "Apply patch" }).click();
      await answer.getByRole("alert").filter({ hasText: /^Refused: / }).waitFor();
      out.applyRefused = await answer.getByRole("alert").textContent();
      await checkPage("patch-apply-refused");
      // Keyboard only: Tab to P1's Apply, Enter; Tab to the dialog's button, Enter.
      await page.getByRole("heading", { level: 1, name: "Patches" }).focus();
      await tabTo(page.getByRole("button", { name: `Apply ${P1}` }));
      await page.keyboard.press("Enter");
      const applyDialog = page.getByRole("dialog", { name: `Apply ${P1}?` });
      await applyDialog.waitFor();
      await tabTo(applyDialog.getByRole("button", { name: "Apply patch" }), 5);
      await page.keyboard.press("Enter");
      await answer.getByRole("status").filter({ hasText: /^Done: / }).waitFor();
      out.applied = await answer.textContent();
      out.hostAfterApply = await page.getByRole("row", { name: /controller-0/ }).textContent();
      await page.getByRole("button", { name: `Commit ${P1}` }).click();
      const commit = page.getByRole("dialog", { name: `Commit ${P1}?` });
      await commit.waitFor();
      out.commitDryRun = await commit.getByText(/^The dry run commits/).textContent();
      await audit("patch-commit-dry-run");
      await shot("patch-commit-dry-run");
      await commit.getByRole("button", { name: "Commit patches" }).click();
      await page.getByRole("row", { name: new RegExp(`${P1}.*Committed`) }).waitFor();
      await page.getByRole("button", { name: "Install controller-0" }).click();
      await page.getByRole("dialog", { name: "Install on controller-0?" }).getByRole("button", { name: "Ask to install" }).click();
      await answer.getByRole("heading", { name: "Install on controller-0" }).waitFor();
      out.installAnswer = await answer.textContent();
      out.hostAfterInstall = await page.getByRole("row", { name: /controller-0/ }).textContent();
      await shot("patches-manager");
      await page.getByRole("button", { name: "Drop controller-0" }).click();
      await page.getByRole("dialog", { name: "Drop controller-0?" }).getByRole("button", { name: "Drop host" }).click();
      await page.getByRole("table", { name: "Hosts (1)" }).waitFor();
      // Another manager applies P2 behind this page's back: the stale
      // page's delete is refused, in StarlingX's words.
      const applied = await fetch(`${BASE}/v1/apply/${P2}`, {
        method: "POST",
        headers: { Authorization: `Basic ${Buffer.from(`manager:${PASSWORD}`).toString("base64")}` },
      });
      check(applied.ok && (await applied.json()).error === "", `${P2} applied through the API`);
      await page.getByRole("button", { name: `Delete ${P2}` }).click();
      await page.getByRole("dialog", { name: `Delete ${P2}?` }).getByRole("button", { name: "Delete patch" }).click();
      await answer.getByRole("alert").filter({ hasText: /^Refused: / }).waitFor();
      out.refused = await answer.textContent();
      await shot("patch-refused");
      await page.getByRole("button", { name: `Remove ${P2}` }).click();
      await page.getByRole("dialog", { name: `Remove ${P2}?` }).getByRole("button", { name: "Remove patch" }).click();
      await answer.getByRole("heading", { name: `Remove ${P2}` }).waitFor();
      out.removed = await answer.textContent();
      await page.getByRole("button", { name: `Delete ${P2}` }).click();
      await page.getByRole("dialog", { name: `Delete ${P2}?` }).getByRole("button", { name: "Delete patch" }).click();
      await page.getByRole("table", { name: "Patches (2)" }).waitFor();
      // Keyboard only: Tab to the Regions link, Enter; in a narrow window
      // Tab to the regions' table box and scroll it with the arrow keys.
      await tabTo(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Regions" }));
      await page.keyboard.press("Enter");
      await heading("Regions");
      await page.setViewportSize({ width: 360, height: 740 });
      const box = page.getByRole("region", { name: /^Regions \(/ });
      await tabTo(box, 10);
      await page.keyboard.press("End");
      for (let i = 0; i < 20; i++) await page.keyboard.press("ArrowRight");
      out.regionsScrolled = await box.evaluate((el) => el.scrollLeft);
      await shot("regions-keyboard");
      await page.setViewportSize({ width: 1280, height: 900 });
      await signOut();
    });

    await step("admin: tokens", async () => {
      await signIn(BASE, "admin");
      await heading("Packages");
      const links = await navLinks();
      check(["API tokens", "Audit log", "Doctor"].every((l) => links.includes(l)), `admin's navigation: ${links}`);
      await page.getByRole("link", { name: "API tokens" }).click();
      await heading("API tokens");
      await page.getByLabel("Token name").fill("from the console");
      await page.getByLabel("For user").fill("manager");
      await page.getByLabel("Role", { exact: true }).selectOption("viewer");
      await page.getByRole("button", { name: "Create token" }).click();
      const secret = page.getByLabel("Token secret");
      await secret.waitFor();
      out.tokenSecret = await secret.inputValue();
      check(out.tokenSecret.startsWith("depot_"), "a depot token's secret");
      check(!page.url().includes(out.tokenSecret), "the secret is not in the address");
      await page.getByRole("button", { name: "Done" }).click();
      await page.getByRole("button", { name: "Revoke from the console" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Revoke token" }).click();
      await page.getByRole("status").filter({ hasText: "Revoked from the console." }).waitFor();
      await page.getByRole("row", { name: /from the console.*revoked/ }).waitFor();
      await checkPage("tokens");
      // A second token, then one a page.
      await page.getByLabel("Token name").fill("second");
      await page.getByRole("button", { name: "Create token" }).click();
      await page.getByLabel("Token secret").waitFor();
      await checkPage("token-created");
      await page.getByRole("button", { name: "Done" }).click();
      await page.goto(`${BASE}/ui/#/tokens?size=1`);
      // The unpaged page shows "Tokens (2)" too: wait for the paged one.
      await page.getByText("Page 1 of 2").waitFor();
      out.pagedTokens = [await page.getByRole("table").getByRole("rowheader").allTextContents()];
      await page.getByRole("button", { name: "Next page" }).click();
      await page.getByText("Page 2 of 2").waitFor();
      out.pagedTokens.push(await page.getByRole("table").getByRole("rowheader").allTextContents());
      await shot("tokens-paged");
    });
    await step("admin: audit log", async () => {
      await page.getByRole("link", { name: "Audit log" }).click();
      await heading("Audit log");
      await page.getByLabel("Action").fill("package.delete");
      await page.getByRole("button", { name: "Apply filters" }).click();
      const row = page.getByRole("row", { name: /manager.*package\.delete/ });
      await row.first().waitFor();
      // The filtered page replaces the unfiltered one: wait until it has.
      const headers = page.getByRole("table").getByRole("rowheader");
      for (let i = 0; i < 50; i++) {
        out.auditDeleteRows = await headers.allTextContents();
        if (out.auditDeleteRows.every((a) => a.trim() === "package.delete")) break;
        await page.waitForTimeout(200);
      }
      await checkPage("audit");
    });
    await step("admin: doctor", async () => {
      await page.getByRole("link", { name: "Doctor" }).click();
      await heading("Doctor");
      await page.getByRole("list", { name: "Checks" }).getByText("database reachable").waitFor();
      out.doctorChecks = await page.getByRole("list", { name: "Checks" }).getByRole("listitem").count();
      await checkPage("doctor");
    });
    await step("repositories and upgrade routes", async () => {
      await page.getByRole("link", { name: "Repositories" }).click();
      await heading("Repositories");
      await page.getByLabel("el7.repo").first().waitFor();
      out.repoSnippet = await page.getByLabel("el7.repo").first().textContent();
      await checkPage("repos");
      await page.getByRole("link", { name: "Upgrade routes" }).click();
      await heading("Upgrade routes");
      await page.getByLabel("From version").fill("4.2.1.0");
      await page.getByLabel("To version").fill("4.2.1.1");
      await page.getByRole("button", { name: "Plan route" }).click();
      // No upgrade package stored: depot says why, in words.
      out.routeAnswer = await page.getByRole("alert").textContent();
      await checkPage("routes");
      await signOut();
    });
    check(consoleErrors.length === 0, `no script errors: ${consoleErrors.join(" | ")}`);
  } catch (e) {
    await shot(`failed-${current.replace(/[^a-z0-9]+/gi, "-")}`).catch(() => {});
    console.error(`step "${current}" failed: ${e.stack || e}`);
    await browser.close();
    process.exit(1);
  }
  await browser.close();
  fs.writeFileSync(path.join(SHOTS, "a11y.json"), JSON.stringify(minor, null, 2));
  for (const [name, found] of Object.entries(minor)) console.error(`axe-core, below serious, on ${name}: ${found.join(" | ")}`);
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(`step "${current}" failed: ${e.stack || e}`);
  process.exit(1);
});
