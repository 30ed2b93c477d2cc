// The browser test of /docs: Playwright (playwright-core, pinned in tools/docs) driving Debian's
// chromium against a local stack this script starts and stops. Swagger UI must list every
// operation of the document, "Authorize" with the first superuser's credentials must succeed, and
// "Try it out" on GET /api/v1/users/me must show 200 and the email; Redoc must render the API.
// The pages may fetch nothing but from the stack, and their Content-Security-Policy must refuse
// nothing they do. Run by scripts/test.sh; exits non-zero on failure.
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "../../tools/docs/node_modules/playwright-core/index.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const email = process.env.FIRST_SUPERUSER ?? "admin@example.com";
const password = process.env.FIRST_SUPERUSER_PASSWORD ?? "changethis";

function startStack() {
  const child = spawn(join(root, "target/debug/devstack"), ["up", "--port", "0", "--exit-with-parent", String(process.pid)], {
    cwd: root,
    stdio: ["ignore", "pipe", openSync(join(root, "target/browser-stack.log"), "w")],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the local stack did not start in 90 s")), 90_000);
    let buffer = "";
    child.stdout.on("data", (chunk) => {
      buffer += chunk;
      const ready = buffer.match(/^READY (\S+)$/m);
      if (ready) {
        clearTimeout(timer);
        resolve({ url: ready[1], child });
      }
    });
    child.on("exit", (code) => reject(new Error(`devstack exited with ${code}`)));
  });
}

const passed = [];
async function check(name, body) {
  await body();
  passed.push(name);
  console.log(`ok - ${name}`);
}

const { url, child } = await startStack();
const profile = mkdtempSync(join(tmpdir(), "docs-browser-"));
// A fresh profile (--user-data-dir, which Playwright sets from the first argument).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let failed = false;
try {
  const document = await (await fetch(`${url}/api/v1/openapi.json`)).json();
  const operations = Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ path, method, id: op.operationId, tag: op.tags[0] })),
  );
  const page = await browser.newPage();
  const foreign = [];
  // Anything the pages' Content-Security-Policy refused (chromium reports it on the console).
  const refused = [];
  const watchPolicy = (p) =>
    p.on("console", (message) => {
      if (/Content Security Policy/i.test(message.text())) refused.push(message.text());
    });
  watchPolicy(page);
  page.on("request", (request) => {
    if (!request.url().startsWith(url) && !request.url().startsWith("data:")) foreign.push(request.url());
  });

  await check("/docs lists every operation of the document", async () => {
    await page.goto(`${url}/docs`);
    await page.locator(".opblock").first().waitFor({ timeout: 30_000 });
    assert.equal(await page.locator(".opblock").count(), operations.length);
    for (const op of operations) {
      const block = page.locator(`#operations-${op.tag}-${op.id.replace(/[^\w-]/g, "_")}`);
      assert.equal(await block.count(), 1, `${op.method.toUpperCase()} ${op.path} (${op.id}) is not listed`);
    }
  });

  await check("Authorize with the first superuser's credentials succeeds", async () => {
    await page.locator("button.authorize").first().click();
    const modal = page.locator(".modal-ux");
    await modal.locator("input#oauth_username").fill(email);
    await modal.locator("input#oauth_password").fill(password);
    // The API key scheme is offered beside OAuth2's password flow.
    await modal.getByText("APIKey").first().waitFor({ timeout: 10_000 });
    const token = page.waitForResponse((r) => r.url().endsWith("/api/v1/login/access-token"));
    await modal.getByRole("button", { name: "Apply given OAuth2 credentials" }).click();
    assert.equal((await token).status(), 200);
    await modal.locator("button", { hasText: "Logout" }).waitFor({ timeout: 10_000 });
    await modal.locator("button.close-modal").click();
  });

  await check('"Try it out" on GET /api/v1/users/me shows 200 and the email', async () => {
    const block = page.locator("#operations-users-users-read_user_me");
    await block.locator(".opblock-summary").click();
    await block.locator("button.try-out__btn").click();
    await block.locator("button.execute").click();
    const live = block.locator(".live-responses-table");
    const row = live.locator("tr.response");
    await row.first().waitFor({ timeout: 10_000 });
    assert.equal((await row.locator("td.response-col_status").first().innerText()).trim(), "200");
    assert.ok((await row.locator(".response-col_description").first().innerText()).includes(`"email": "${email}"`));
    if (process.env.BROWSER_SCREENSHOTS) await page.screenshot({ path: join(process.env.BROWSER_SCREENSHOTS, "docs.png") });
  });

  await check("/redoc renders the document", async () => {
    const redoc = await browser.newPage();
    watchPolicy(redoc);
    redoc.on("request", (request) => {
      if (!request.url().startsWith(url) && !request.url().startsWith("data:") && !request.url().startsWith("blob:")) {
        foreign.push(request.url());
      }
    });
    await redoc.goto(`${url}/redoc`);
    // One heading per operation, with its summary.
    await redoc.locator("h2", { hasText: "Read Items" }).first().waitFor({ timeout: 30_000 });
    assert.equal(await redoc.locator("h2", { hasText: "Read User Me" }).count(), 1);
    if (process.env.BROWSER_SCREENSHOTS) await redoc.screenshot({ path: join(process.env.BROWSER_SCREENSHOTS, "redoc.png") });
    await redoc.close();
  });

  await check("the pages fetched nothing but from the API", async () => {
    assert.deepEqual(foreign, []);
  });

  await check("the pages' Content-Security-Policy refused nothing they need", async () => {
    assert.deepEqual(refused, []);
  });
} catch (error) {
  failed = true;
  console.error(`not ok - ${error.stack ?? error}`);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
  child.kill("SIGTERM");
}
console.log(`browser: ${passed.length} passed, ${failed ? 1 : 0} failed`);
process.exit(failed ? 1 : 0);
