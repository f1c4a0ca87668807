// User action: a parent uses the portal with assistive technology. axe-core checks the sign-in
// page and the portal (notices, household, My contact preferences) against WCAG 2.1 A and AA,
// on a phone and on a desktop. The unsubscribe pages are checked in portal_preferences.spec.ts.
import { test, expect, Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { PARENT, signIn, hydrated } from "./helpers";

async function violations(page: Page) {
  const result = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
    .analyze();
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}

for (const [label, width, height] of [["phone", 360, 740], ["desktop", 1280, 900]] as const) {
  test(`the sign-in page and the portal have no WCAG 2.1 AA violations on a ${label}`, async ({ page }) => {
    await page.setViewportSize({ width, height });
    await page.goto("/sign-in");
    await hydrated(page);
    expect(await violations(page)).toEqual([]);
    await signIn(page, PARENT);
    await expect(page).toHaveURL(/\/portal$/);
    await hydrated(page);
    await expect(page.getByRole("heading", { name: "User Notices" })).toBeVisible();
    await expect(page.getByRole("heading", { name: "How we reach you" })).toBeVisible();
    expect(await violations(page)).toEqual([]);
    await page.getByRole("link", { name: "My contact preferences" }).click();
    await expect(page.getByRole("heading", { name: "My contact preferences" })).toBeVisible();
    await expect(page.getByTestId("method").first()).toBeVisible();
    expect(await violations(page)).toEqual([]);
  });
}
