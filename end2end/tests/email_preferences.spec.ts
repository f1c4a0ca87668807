// User action: an admin keeps the Email Preferences (SMTP server, sender, portal URL).
import { test, expect } from "@playwright/test";
import { ADMIN, signIn, expectSignedInAsAdmin, hydrated } from "./helpers";

test("saved email preferences come back after a reload, and the password is never shown", async ({ page }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await page.getByRole("link", { name: "Email Preferences" }).click();
  await hydrated(page);
  const name = `Maple Valley Schools ${Date.now()}`;
  await page.getByLabel("From name").fill(name);
  await page.getByLabel("Reply-To address (optional)").fill("office@maplevalley.example.org");
  await page.getByLabel("Password", { exact: true }).fill("relay-secret");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toContainText("Saved");
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel("From name")).toHaveValue(name);
  await expect(page.getByLabel("Password (saved; type to replace)")).toHaveValue("");
  expect(await page.content()).not.toContain("relay-secret");
});

test("an invalid portal URL is refused with the field named", async ({ page }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await page.getByRole("link", { name: "Email Preferences" }).click();
  await hydrated(page);
  const saved = await page.getByLabel("Portal URL").inputValue();
  await page.getByLabel("Portal URL").fill("portal.district.org");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("alert")).toContainText("Portal URL: must start with https:// or http://");
  // Refused means unchanged: a reload shows what was stored before.
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel("Portal URL")).toHaveValue(saved);
});
