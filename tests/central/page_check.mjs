// Opens the platform page in headless Chromium (Debian's /usr/bin/chromium through playwright-core),
// waits until it has drawn, prints what it shows as JSON, and saves a screenshot.
// Usage: node page_check.mjs URL SCREENSHOT.png
import { chromium } from "playwright-core";

const [url, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  const outside = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("request", (r) => { if (!r.url().startsWith(new URL(url).origin)) outside.push(r.url()); });
  await page.goto(url);
  await page.waitForSelector("body[data-ready]", { timeout: 15000 });
  await page.waitForSelector("#chart canvas", { timeout: 15000 });
  const result = await page.evaluate(() => ({
    ready: document.body.dataset.ready,
    status: document.getElementById("status").textContent,
    alerts: [...document.querySelectorAll("#alerts tr")].slice(1).map((tr) => tr.textContent),
    circles: document.querySelectorAll("#plan circle").length,
    latest: [...document.querySelectorAll("#latest tr")].slice(1).map((tr) => tr.textContent),
    noise: [...document.querySelectorAll("#noise tr")].slice(1).map((tr) => [...tr.cells].map((c) => c.textContent)),
    pm: [...document.querySelectorAll("#pm tr")].slice(1).map((tr) => [...tr.cells].map((c) => [c.textContent, c.className])),
  }));
  result.errors = errors;
  result.outside = outside;
  await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
