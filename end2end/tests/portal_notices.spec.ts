// User action: a parent on a phone reads their notices on the portal: unread ones are marked,
// each shows its school and sender, and "Mark all read" clears the unread count.
import { test, expect } from "@playwright/test";
import { PARENT, signIn, hydrated, sendToParentsCalendar } from "./helpers";

test("a parent on a 360 px screen reads a new notice and marks all read", async ({ page }) => {
  // An admin sends a portal notice to the parent's calendar.
  const subject = `Picture day ${Date.now()}`;
  await sendToParentsCalendar(page, {
    subject,
    // Markup that would run if the portal did not sanitize it.
    body: '<p>Picture day is <b>Friday</b>.</p><script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2">',
    devices: ["inbox"],
  });
  await page.getByRole("button", { name: "Sign out" }).click();

  await page.setViewportSize({ width: 360, height: 740 });
  await signIn(page, PARENT);
  await expect(page).toHaveURL(/\/portal$/);
  await hydrated(page);
  const notice = page.getByTestId("notices").locator("li", { hasText: subject });
  await expect(notice).toHaveClass(/unread/);
  await expect(notice.locator(".notice-meta")).toContainText("Dana Whitfield");
  await expect(page.getByTestId("unread")).toContainText("unread");
  await notice.locator("summary").click();
  await expect(notice.locator(".notice-body")).toContainText("Picture day is Friday.");
  await expect(notice.locator(".notice-body b")).toHaveText("Friday");
  await expect(notice.locator("script, [onerror]")).toHaveCount(0);
  expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
  await page.getByRole("button", { name: "Mark all read" }).click();
  await expect(page.getByTestId("unread")).toHaveText("All read");
  await page.reload();
  await expect(page.getByTestId("unread")).toHaveText("All read");
  await expect(page.locator(".notices li.unread")).toHaveCount(0);
  // Nothing is wider than the screen.
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width).toBeLessThanOrEqual(360);
});

test("a notice sent while the parent's page is open is offered without a reload", async ({ page, browser }) => {
  test.setTimeout(90_000);
  await signIn(page, PARENT);
  await expect(page).toHaveURL(/\/portal$/);
  await hydrated(page);

  const subject = `Field trip ${Date.now()}`;
  const admin = await (await browser.newContext()).newPage();
  await sendToParentsCalendar(admin, {
    subject,
    body: "<p>The field trip leaves at nine.</p>",
    devices: ["inbox"],
  });

  // The open page polls every 15 seconds.
  await expect(page.getByTestId("newer")).toHaveText("1 new notice: show it", { timeout: 40_000 });
  await page.getByTestId("newer").click();
  await expect(page.getByTestId("notices").locator("li", { hasText: subject })).toBeVisible();
  await expect(page.getByTestId("newer")).toHaveCount(0);
});
