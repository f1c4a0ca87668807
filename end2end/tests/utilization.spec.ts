// User action: an admin downloads the Utilization CSV before and after a send, and the
// difference is exactly what that message's Delivery Report says was delivered; the HTML
// extract opens in a new window.
import { test, expect, Page } from "@playwright/test";
import { ADMIN, signIn, expectSignedInAsAdmin, hydrated, sendToParentsCalendar } from "./helpers";

type Line = { date: string; school: string; messages: number; attempted: number; delivered: number; failed: number };

/** Opens the Utilization wizard, chooses Email and CSV, and reads the extract the link points at. */
async function utilizationCsv(page: Page): Promise<{ today: string; lines: Line[] }> {
  await page.getByRole("link", { name: "Utilization" }).click();
  await hydrated(page);
  const today = await page.getByLabel("End Date").inputValue();
  await page.getByLabel("Messages Sent To").selectOption("email");
  await page.getByLabel("Format").selectOption("csv");
  const href = await page.getByRole("link", { name: /Generate Extract/ }).getAttribute("href");
  const res = await page.request.get(href!);
  expect(res.status()).toBe(200);
  expect(res.headers()["content-disposition"]).toContain("attachment");
  const [header, ...rows] = (await res.text()).trim().split("\n");
  expect(header).toBe("Date,School,Messages,Attempted,Delivered,Failed");
  const lines = rows.map((r) => {
    const cells = r.split(",");
    const [messages, attempted, delivered, failed] = cells.slice(-4).map(Number);
    return { date: cells[0], school: cells.slice(1, -4).join(",").replace(/^"|"$/g, ""), messages, attempted, delivered, failed };
  });
  return { today, lines };
}

test("the Utilization CSV grows by exactly what a new message's Delivery Report delivered", async ({ page }) => {
  test.setTimeout(60_000);
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  const before = await utilizationCsv(page);

  const subject = `Library week ${Date.now()}`;
  await sendToParentsCalendar(page, { subject, body: "<p>Library week starts Monday.</p>", devices: ["email"] });
  await page.getByRole("link", { name: "View Delivery Report" }).click();
  const email = page.getByTestId("report-counts").locator('tr[data-device="email"]');
  await expect(email).toBeVisible();
  const cells = await email.locator("td").allInnerTexts();
  const [attempted, completed, failed] = [Number(cells[1]), Number(cells[2]), Number(cells[3])];
  expect(completed).toBeGreaterThan(0);

  const after = await utilizationCsv(page);
  const key = (l: Line) => `${l.date}|${l.school}`;
  const was = new Map(before.lines.map((l) => [key(l), l]));
  const changed = after.lines.filter((l) => {
    const b = was.get(key(l));
    return !b || b.delivered !== l.delivered || b.messages !== l.messages;
  });
  expect(changed, "one day at one school changed").toHaveLength(1);
  const now = changed[0];
  const then = was.get(key(now)) ?? { messages: 0, attempted: 0, delivered: 0, failed: 0 };
  expect(now.date).toBe(after.today);
  expect(now.messages - then.messages).toBe(1);
  expect(now.attempted - then.attempted).toBe(attempted);
  expect(now.delivered - then.delivered).toBe(completed);
  expect(now.failed - then.failed).toBe(failed);

  // The same numbers as an HTML page in a new window.
  await page.getByLabel("Format").selectOption("html");
  const [extract] = await Promise.all([
    page.waitForEvent("popup"),
    page.getByRole("link", { name: /Generate Extract/ }).click(),
  ]);
  await extract.waitForLoadState();
  await expect(extract.getByRole("heading", { name: /^Utilization Report: Emails/ })).toBeVisible();
  const row = extract.getByTestId("by-school").locator("tr", { hasText: now.school });
  await expect(row.locator("td").nth(2)).toHaveText(String(
    after.lines.filter((l) => l.school === now.school).reduce((n, l) => n + l.delivered, 0),
  ));
});
