// User action: an admin looks somebody up, and the Campus Toolbar scopes the tools.
import { test, expect } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { ADMIN, PARENT, signIn, expectSignedInAsAdmin, hydrated } from "./helpers";

test("typing a name finds the person and shows household, contacts and preferences", async ({ page }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await page.getByRole("link", { name: "People" }).click();
  await hydrated(page);
  // The demo parent's own email finds them; the search runs in the browser (WASM) and asks the
  // server, which reads PostgreSQL.
  await page.getByLabel("Search people").fill("parent@demo");
  const hit = page.locator(".hits a").first();
  await expect(hit).toContainText("Guardian");
  await hit.click();
  const person = page.getByRole("region", { name: "Person" });
  await expect(person.getByRole("heading", { name: "Contact methods and preferences" })).toBeVisible();
  await expect(person.locator("table.prefs")).toContainText("parent@demo.herald.test");
  await expect(person.getByRole("heading", { name: "Students" })).toBeVisible();
});

test("choosing a calendar in the toolbar is remembered across pages", async ({ page }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await hydrated(page);
  const select = page.getByLabel("School and calendar");
  const options = select.locator("option:not([disabled])");
  await expect(options.first()).toBeAttached();
  const value = await options.nth(1).getAttribute("value");
  await select.selectOption(value!);
  await expect(page.locator(".stats")).toContainText("Enrolled in this calendar");
  // A fresh load shows the choice, and so does another tool reached by its link.
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel("School and calendar")).toHaveValue(value!);
  await page.getByRole("link", { name: "Sent Messages" }).click();
  await expect(page).toHaveURL(/sent-messages$/);
  await expect(page.getByLabel("School and calendar")).toHaveValue(value!);
});

test("a tool that is not built yet says so plainly", async ({ page }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await page.getByRole("link", { name: "Survey Messenger" }).click();
  await expect(page.locator(".not-built")).toContainText("Survey Messenger is not built yet");
});

test("an admin disables a parent's sign-in on their card, the parent is refused, and enabling lets them in", async ({ page, browser }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await page.getByRole("link", { name: "People" }).click();
  await hydrated(page);
  await page.getByLabel("Search people").fill("parent@demo");
  await page.locator(".hits a").first().click();
  const accounts = page.getByTestId("sign-in-accounts");
  await expect(accounts).toContainText(PARENT.email);
  await expect(accounts.getByTestId("account-access")).toHaveText("Can sign in");
  const axe = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`)).toEqual([]);

  await accounts.getByRole("button", { name: `Disable sign-in for ${PARENT.email}` }).click();
  await expect(accounts.getByTestId("account-access")).toContainText("Disabled");
  const parent = await browser.newPage();
  await signIn(parent, PARENT);
  await expect(parent.getByRole("alert")).toContainText("can no longer sign in");
  await expect(parent).toHaveURL(/\/sign-in/);

  await accounts.getByRole("button", { name: `Enable sign-in for ${PARENT.email}` }).click();
  await expect(accounts.getByTestId("account-access")).toHaveText("Can sign in");
  await signIn(parent, PARENT);
  await expect(parent).toHaveURL(/\/portal$/);
  await parent.close();
});
