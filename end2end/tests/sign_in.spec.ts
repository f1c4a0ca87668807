// User action: signing in and out, as a district admin and as a parent.
import { test, expect } from "@playwright/test";
import { ADMIN, PARENT, signIn, expectSignedInAsAdmin, hydrated } from "./helpers";

test("an admin signs in and sees the overview with the messenger outline", async ({ page }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  const nav = page.getByRole("navigation", { name: "Tools" });
  for (const tool of ["Sent Messages", "Missing Assignment Scheduler", "Failing Assignment Scheduler",
    "Dialer Activity", "Utilization", "Survey Messenger", "Contact Preferences Batch"]) {
    await expect(nav.getByRole("link", { name: tool })).toBeVisible();
  }
  await expect(page.locator(".stats")).toContainText("Students");
  // The test's own worker process has checked in: the Overview lists it as running.
  await expect(page.getByRole("heading", { name: "Delivery workers" })).toBeVisible();
  await expect(page.getByTestId("workers-running")).toHaveText("1 worker is running.");
  await expect(page.getByTestId("workers").locator("tbody tr").first()).toContainText("Running");
  await expect(page.getByTestId("workers-none")).toHaveCount(0);
});

test("a wrong password is refused with a message and no session", async ({ page }) => {
  await signIn(page, { email: ADMIN.email, password: "not-the-password" });
  await expect(page.getByRole("alert")).toContainText("do not match");
  await page.goto("/admin");
  await expect(page).toHaveURL(/\/sign-in$/);
});

test("a parent signs in to the portal and cannot open the admin shell", async ({ page }) => {
  await signIn(page, PARENT);
  await expect(page).toHaveURL(/\/portal$/);
  await expect(page.getByRole("heading", { name: "User Notices" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "How we reach you" })).toBeVisible();
  await expect(page.locator(".methods")).toContainText(PARENT.email);
  await page.goto("/admin");
  await expect(page).toHaveURL(/\/portal$/);
});

test("signing out ends the session", async ({ page }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await hydrated(page);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
  await page.goto("/admin");
  await expect(page).toHaveURL(/\/sign-in$/);
});

test("pages hydrate and lazy tools load under the Content-Security-Policy, refusing nothing of Herald's", async ({ page }) => {
  const refused: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text());
  });
  const first = await page.goto("/sign-in");
  const policy = first!.headers()["content-security-policy"] ?? "";
  expect(policy).toContain("frame-ancestors 'none'");
  expect(policy).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9_-]+' 'wasm-unsafe-eval'/);
  expect(first!.headers()["x-content-type-options"]).toBe("nosniff");
  await hydrated(page);
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  // Tools whose code is loaded on first use (split WASM).
  for (const tool of ["People", "Sent Messages", "Utilization"]) {
    await page.getByRole("navigation", { name: "Tools" }).getByRole("link", { name: tool }).first().click();
    await hydrated(page);
    await expect(page.getByRole("heading", { name: tool }).first()).toBeVisible();
  }
  expect(refused).toEqual([]);
});
