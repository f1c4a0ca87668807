// User action: a parent chooses which messages reach them. On a phone they turn a reason off,
// undo it, and find their choice after a reload; emergency messages stay on where the district
// requires them; they agree to text messages; an admin then sees who changed what. The one-click
// unsubscribe link in an email says what it turned off and offers an undo.
import { test, expect, Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { ADMIN, PARENT, signIn, expectSignedInAsAdmin, hydrated, sendToParentsCalendar } from "./helpers";

const MAILDEV = process.env.HERALD_E2E_MAILDEV ?? "http://127.0.0.1:1180";

async function violations(page: Page) {
  const result = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
    .analyze();
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}

async function openPreferences(page: Page) {
  await signIn(page, PARENT);
  await expect(page).toHaveURL(/\/portal$/);
  await hydrated(page);
  await page.getByRole("link", { name: "My contact preferences" }).click();
  await expect(page).toHaveURL(/\/portal\/preferences$/);
  await expect(page.getByRole("heading", { name: "My contact preferences" })).toBeVisible();
}

test("a parent on a 360 px screen turns a reason off, undoes it, and finds the choice after a reload", async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 740 });
  await openPreferences(page);
  const said = page.getByTestId("said");
  const email = () => page.getByTestId("method").filter({ hasText: PARENT.email });
  const food = () => email().getByLabel("Food Service");
  await expect(food()).toBeChecked();

  await food().uncheck();
  await expect(said).toContainText(`Food Service messages to ${PARENT.email} are off.`);
  await said.getByRole("button", { name: "Undo" }).click();
  await expect(said).toContainText(`Food Service messages to ${PARENT.email} are on.`);
  await expect(food()).toBeChecked();

  await food().uncheck();
  await expect(said).toContainText("are off.");
  await page.reload();
  await hydrated(page);
  await expect(food()).not.toBeChecked();

  // Emergency stays on for the district's emergency contact, and the page says why.
  const emergency = email().getByLabel("Emergency");
  await expect(emergency).toBeChecked();
  await expect(emergency).toBeDisabled();
  await expect(email()).toContainText("Always on: required by your district");
  await expect(page.locator("#why-required")).toContainText("lockdown");
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width).toBeLessThanOrEqual(360);

  await food().check();
  await expect(said).toContainText("are on.");
});

test("until the page's script has loaded, the switches are disabled and say why, so a flip is never silently undone", async ({ page, browser }) => {
  await openPreferences(page);
  await hydrated(page);
  const email = (p: Page) => p.getByTestId("method").filter({ hasText: PARENT.email });
  await expect(email(page).getByLabel("Food Service")).toBeEnabled();
  await expect(page.getByTestId("loading-switches")).toBeHidden();

  // The same signed-in parent with no script at all: the page is the server's HTML alone.
  const bare = await browser.newContext({ javaScriptEnabled: false });
  await bare.addCookies(await page.context().cookies());
  const noScript = await bare.newPage();
  await noScript.goto(new URL("/portal/preferences", page.url()).toString());
  await expect(noScript.getByRole("heading", { name: "My contact preferences" })).toBeVisible();
  await expect(email(noScript).getByLabel("Food Service")).toBeChecked();
  await expect(email(noScript).getByLabel("Food Service")).toBeDisabled();
  await expect(noScript.getByTestId("loading-switches")).toBeVisible();
  await expect(noScript.getByTestId("loading-switches")).toContainText("needs JavaScript");
  await bare.close();
});

test("a parent agrees to text messages on their cell phone and an admin sees the consent and who changed what", async ({ page }) => {
  await openPreferences(page);
  await hydrated(page);
  const cell = page.getByTestId("method").filter({ hasText: "Cell phone" }).first();
  await expect(cell.getByRole("heading", { name: "Text messages: off" })).toBeVisible();
  await expect(cell.locator(".consent-wording")).toContainText("Message and data rates may apply.");
  await cell.getByLabel("Behavior Messenger").uncheck();
  await expect(page.getByTestId("said")).toContainText("Behavior Messenger messages to");
  await cell.getByRole("button", { name: "I agree: turn on text messages" }).click();
  await expect(cell.getByRole("heading", { name: /Text messages: on since/ })).toBeVisible();
  await expect(cell).toContainText("You agreed: “I agree to receive text messages from");

  // The admin's People page shows the parent's change and consent.
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await page.getByRole("link", { name: "People" }).click();
  await hydrated(page);
  await page.getByLabel("Search people").fill("parent@demo");
  await page.locator(".hits a").first().click();
  const history = page.getByTestId("preference-history");
  const change = history.locator("tr", { hasText: "Behavior Messenger" }).first();
  await expect(change).toContainText("Default → Off");
  await expect(change).toContainText(`${PARENT.email} on the portal`);
  await expect(page.locator(".consents")).toContainText(`agreed`);
  await expect(page.locator(".consents")).toContainText(`by ${PARENT.email} on the portal`);

  // The parent withdraws consent and turns the reason back on.
  await page.getByRole("button", { name: "Sign out" }).click();
  await openPreferences(page);
  await hydrated(page);
  await cell.getByRole("button", { name: "Turn off text messages" }).click();
  await expect(cell.getByRole("heading", { name: "Text messages: off" })).toBeVisible();
  await cell.getByLabel("Behavior Messenger").check();
  await expect(page.getByTestId("said")).toContainText("are on.");
});

test("the one-click link in an email says what it turned off, and its undo turns it back on", async ({ page, request }) => {
  test.setTimeout(60_000);
  const subject = `Book fair ${Date.now()}`;
  await sendToParentsCalendar(page, { subject, body: "<p>The book fair opens Monday.</p>", devices: ["email"] });
  await page.getByRole("button", { name: "Sign out" }).click();

  const mails = (await (await request.get(`${MAILDEV}/api/email`)).json()) as Array<{
    subject: string;
    to: { address: string }[];
    id: string;
  }>;
  const mail = mails.find((m) => m.subject === subject && m.to[0].address === PARENT.email);
  expect(mail, "the demo parent got the email").toBeTruthy();
  const source = (await (await request.get(`${MAILDEV}/api/email/${mail!.id}/source`)).text()).replace(/\r?\n[ \t]+/g, "");
  const link = /List-Unsubscribe: <([^>]+)>/.exec(source)?.[1];
  expect(link, "the email carries a List-Unsubscribe link").toBeTruthy();

  await page.goto(link!);
  await expect(page.getByRole("heading", { name: "Unsubscribe" })).toBeVisible();
  await expect(page.locator("main")).toContainText("Stop General messages to p•••@demo.herald.test?");
  expect(await violations(page)).toEqual([]);
  await page.getByRole("button", { name: "Unsubscribe" }).click();
  await expect(page.getByRole("heading", { name: "You are unsubscribed" })).toBeVisible();
  await expect(page.getByRole("status")).toHaveText("General messages will no longer be sent to p•••@demo.herald.test.");
  expect(await violations(page)).toEqual([]);

  // Signed in, the parent sees it off on their preferences page.
  const portal = await (await page.context().browser()!.newContext()).newPage();
  await openPreferences(portal);
  const email = portal.getByTestId("method").filter({ hasText: PARENT.email });
  await expect(email.getByLabel("General")).not.toBeChecked();

  await page.getByRole("button", { name: "Undo: keep getting General messages" }).click();
  await expect(page.getByRole("heading", { name: "You are subscribed again" })).toBeVisible();
  expect(await violations(page)).toEqual([]);
  await portal.reload();
  await expect(email.getByLabel("General")).toBeChecked();
  // "Manage all your contact preferences" leads through sign-in to the preferences page.
  await page.getByRole("link", { name: "Manage all your contact preferences" }).click();
  await expect(page).toHaveURL(/\/sign-in\?next=/);
  await hydrated(page);
  await page.getByLabel("Email").fill(PARENT.email);
  await page.getByLabel("Password").fill(PARENT.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/portal\/preferences$/);
});
