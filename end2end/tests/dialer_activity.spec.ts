// User action: an admin opens Dialer Activity for today, active messages only, in a new window,
// and cancels the jobs of a message still being sent, after confirming; the cancel is on record
// and the message's counts agree.
import { test, expect } from "@playwright/test";
import { ADMIN, hydrated, startSendToParentsCalendar } from "./helpers";

test("an admin cancels a message's queued jobs from Dialer Activity and the cancel is recorded", async ({ page }) => {
  test.setTimeout(60_000);
  const subject = `Bus delay ${Date.now()}`;
  // Emails wait until tomorrow noon, so the message stays active with queued email jobs.
  const tomorrow = new Date(Date.now() + 36 * 3600 * 1000).toISOString().slice(0, 10);
  await startSendToParentsCalendar(page, {
    subject,
    body: "<p>Bus 12 runs 20 minutes late.</p>",
    devices: ["email", "inbox"],
    emailAt: `${tomorrow}T12:00`,
  });
  await expect(page.getByTestId("message-state")).toHaveText("Sending", { timeout: 20_000 });
  const messagePage = page.url();

  await page.getByRole("link", { name: "Dialer Activity" }).click();
  await hydrated(page);
  await page.getByLabel("Active Messages Only").check();
  const [report] = await Promise.all([
    page.waitForEvent("popup"),
    page.getByRole("link", { name: /Generate Report/ }).click(),
  ]);
  await report.waitForLoadState();
  await hydrated(report);
  await expect(report.getByRole("heading", { name: /^Dialer Activity: / })).toBeVisible();
  const row = report.getByTestId("activity").locator("tr", { hasText: subject });
  await expect(row).toContainText("Sending");
  await expect(row).toContainText("to go");

  // Nothing is canceled until the admin confirms.
  await row.getByRole("checkbox", { name: `Select ${subject}` }).check();
  await report.getByRole("button", { name: "Cancel Selected Jobs" }).click();
  const confirm = report.getByRole("alertdialog", { name: "Confirm cancel" });
  await expect(confirm).toContainText("1 selected message");
  await confirm.getByRole("button", { name: "No, keep them" }).click();
  await expect(confirm).toHaveCount(0);
  await expect(row).toContainText("Sending");

  await report.getByRole("button", { name: "Cancel Selected Jobs" }).click();
  await confirm.getByRole("button", { name: "Yes, cancel the jobs" }).click();
  const outcome = report.getByTestId("cancel-outcome");
  await expect(outcome).toContainText(/Canceled \d+ jobs of 1 message\./);
  const jobs = Number(/Canceled (\d+) jobs/.exec(await outcome.innerText())![1]);
  expect(jobs).toBeGreaterThan(0);
  // Active only: the canceled message leaves the report; the cancel is on record.
  await expect(row).toHaveCount(0);
  const record = report.getByTestId("cancellations").locator("tbody tr").first();
  await expect(record).toContainText(ADMIN.email);
  await expect(record).toContainText("Cancel Selected Jobs");
  await expect(record.locator("td").nth(4)).toHaveText(String(jobs));

  // The message's own counts agree: every email canceled, every notice sent.
  await page.goto(messagePage);
  await expect(page.getByTestId("message-state")).toHaveText("Canceled");
  const email = page.getByTestId("tally").locator("tr", { hasText: "Email" });
  const cells = await email.locator("td").allInnerTexts();
  // Device, Total, Sent, Failed, Canceled, In queue.
  expect(Number(cells[4])).toBe(jobs);
  expect(cells[5]).toBe("0");
});
