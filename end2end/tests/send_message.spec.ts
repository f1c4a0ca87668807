// User action: an admin composes and sends a message; it is delivered by the worker as email
// (into maildev, a real SMTP server) and as a notice the parent sees on the portal.
import { test, expect, Page } from "@playwright/test";
import { ADMIN, PARENT, signIn, expectSignedInAsAdmin, hydrated, chooseParentsCalendar } from "./helpers";

const MAILDEV = process.env.HERALD_E2E_MAILDEV ?? "http://127.0.0.1:1180";

async function openCompose(page: Page) {
  await page.getByRole("link", { name: "Compose Message" }).click();
  await hydrated(page);
  await expect(page.getByTestId("audience-count")).toContainText("recipients");
}

test("a bad merge field is refused with the field and place named, and nothing is sent", async ({ page, request }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await chooseParentsCalendar(page);
  const subject = `Refused ${Date.now()}`;
  const mailsBefore = (await (await request.get(`${MAILDEV}/email`)).json()).length;
  await openCompose(page);
  await page.getByLabel("Subject").fill(subject);
  await page.getByLabel("Message body (HTML email)").fill("<p>Dear {{guardain}}</p>");
  await page.getByRole("button", { name: "Send now" }).click();
  await expect(page.getByRole("alert")).toContainText("Message body, line 1, column 9: unknown merge field 'guardain'");
  await expect(page).toHaveURL(/\/compose$/);
  // Nothing was saved or sent: Sent Messages does not list it and no email went out.
  await page.getByRole("link", { name: "Sent Messages" }).click();
  await hydrated(page);
  await expect(page.locator("table.grid tbody tr").first()).toBeVisible();
  await expect(page.locator("table.grid")).not.toContainText(subject);
  expect((await (await request.get(`${MAILDEV}/email`)).json()).length).toBe(mailsBefore);
});

test("a sent message is counted per device, arrives by email, and shows on the parent's portal", async ({ page, request }) => {
  const subject = `Early dismissal ${Date.now()}`;
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await chooseParentsCalendar(page);
  await openCompose(page);
  await page.getByLabel("Subject").fill(`${subject} for {{guardian}}`);
  await page.getByLabel("Message body (HTML email)").fill("<p>Dear {{guardian}}, {{student}} leaves at noon.</p>");
  // Preview as the first member of the audience.
  await page.getByRole("button", { name: "Preview" }).click();
  const preview = page.getByTestId("preview");
  await expect(preview).toContainText(`${subject} for`);
  await expect(preview).toContainText("leaves at noon.");
  await page.getByRole("button", { name: "Send now" }).click();
  await expect(page).toHaveURL(/\/admin\/messenger\/messages\//);
  await expect(page.getByTestId("message-state")).toHaveText("Finished", { timeout: 20_000 });
  const rows = page.getByTestId("tally").locator("tbody tr");
  await expect(rows).toHaveCount(2);
  for (const row of await rows.all()) {
    const cells = await row.locator("td").allInnerTexts();
    // Device, Total, Sent, Failed, Canceled, In queue: everything sent.
    expect(cells[2]).toBe(cells[1]);
    expect(cells[5]).toBe("0");
  }

  // The emails are in maildev, one per address, with the one-click unsubscribe header.
  const res = await request.get(`${MAILDEV}/api/email`);
  const mails = (await res.json()) as Array<{ subject: string; to: { address: string }[]; id: string }>;
  const ours = mails.filter((m) => m.subject.startsWith(subject));
  expect(ours.length).toBeGreaterThan(0);
  const toParent = ours.find((m) => m.to[0].address === PARENT.email);
  expect(toParent, "the demo parent got the email").toBeTruthy();
  const source = await (await request.get(`${MAILDEV}/api/email/${toParent!.id}/source`)).text();
  expect(source).toContain("List-Unsubscribe-Post: List-Unsubscribe=One-Click");

  // The parent sees the notice on the portal.
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, PARENT);
  await expect(page).toHaveURL(/\/portal$/);
  const notice = page.getByTestId("notices").locator("li", { hasText: subject });
  await expect(notice).toBeVisible();
  await notice.locator("summary").click();
  await expect(notice).toContainText("leaves at noon.");
});

test("the Sent Messages list links each message to its delivery status", async ({ page }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await chooseParentsCalendar(page);
  // A message of this test's own, so the row it opens does not depend on earlier specs.
  const subject = `Library closed ${Date.now()}`;
  await openCompose(page);
  await page.getByLabel("Subject").fill(subject);
  await page.getByLabel("Message body (HTML email)").fill("<p>The library is closed today.</p>");
  await page.getByRole("button", { name: "Send now" }).click();
  await expect(page).toHaveURL(/\/admin\/messenger\/messages\//);
  const ownUrl = page.url();
  await page.getByRole("link", { name: "Sent Messages" }).click();
  await hydrated(page);
  const row = page.locator("table.grid tbody tr", { hasText: subject });
  await expect(row).toHaveCount(1);
  await row.locator("a").click();
  await expect(page.getByRole("heading", { name: "Delivery" })).toBeVisible();
  expect(new URL(page.url()).pathname).toBe(new URL(ownUrl).pathname);
  await expect(page.getByRole("heading", { level: 1 })).toContainText(subject);
});
