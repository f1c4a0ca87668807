// User action: an admin imports a OneRoster zip through the Roster Import page.
import { test, expect } from "@playwright/test";
import { ADMIN, signIn, expectSignedInAsAdmin, hydrated } from "./helpers";
import { demoRoster, rosterWithBadEmail } from "./rosters";

test("re-importing the demo roster shows a progress bar and changes nothing", async ({ page }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await page.getByRole("link", { name: "Roster Import" }).click();
  await hydrated(page);
  await page.getByLabel("OneRoster zip").setInputFiles(await demoRoster());
  await page.getByRole("button", { name: "Import" }).click();
  await expect(page.locator(".import-status progress")).toBeAttached();
  await expect(page.getByRole("heading", { name: "Imported" })).toBeVisible({ timeout: 60_000 });
  const summary = page.locator("pre.summary");
  await expect(summary).toContainText("person");
  // The same files again: every table reports no inserted and no updated rows.
  await expect(summary).not.toContainText(/inserted\s+[1-9]/);
  await expect(summary).not.toContainText(/updated\s+[1-9]/);
});

test("a roster with a bad email is refused whole, naming file, line and field", async ({ page }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await page.getByRole("link", { name: "Roster Import" }).click();
  await hydrated(page);
  await page.getByLabel("OneRoster zip").setInputFiles(await rosterWithBadEmail(4));
  await page.getByRole("button", { name: "Import" }).click();
  await expect(page.getByRole("heading", { name: "Nothing was imported" })).toBeVisible({ timeout: 60_000 });
  await expect(page.locator(".row-errors")).toContainText("users.csv line 4, field email");
});
