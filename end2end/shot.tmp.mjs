import { chromium } from "playwright-core";
const [,, url, out, w, h, email, pw] = process.argv;
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless","--no-sandbox","--disable-gpu","--disable-quic","--no-first-run","--disable-background-networking","--disable-component-update","--disable-sync"] });
const page = await browser.newPage({ viewport: { width: +(w||1280), height: +(h||800) } });
page.on("console", m => console.log("console:", m.type(), m.text()));
if (email) {
  await page.goto(new URL("/sign-in", url).href);
  await page.locator("body[data-hydrated]").waitFor({ state: "attached", timeout: 15000 });
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(pw);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForTimeout(1500);
}
await page.goto(url);
try { await page.locator("body[data-hydrated]").waitFor({ state: "attached", timeout: 15000 }); console.log("hydrated"); } catch (e) { console.log("NOT hydrated"); }
await page.waitForTimeout(800);
await page.screenshot({ path: out, fullPage: true });
console.log("url:", page.url());
await browser.close();
