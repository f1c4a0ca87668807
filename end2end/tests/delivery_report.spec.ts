// User action: an admin sends a message, opens its Delivery Report and watches it complete,
// finds a recipient by address, and downloads the report as CSV.
import { test, expect } from "@playwright/test";
import { readFile } from "node:fs/promises";
import { PARENT, startSendToParentsCalendar } from "./helpers";

test("an admin watches a send complete on the Delivery Report and downloads it as CSV", async ({ page }) => {
  test.setTimeout(60_000);
  const subject = `Early release ${Date.now()}`;
  await startSendToParentsCalendar(page, {
    subject,
    body: "<p>School lets out at 1 pm.</p>",
    devices: ["email", "inbox"],
  });
  // The message's details: type, sender, created, devices, audience size.
  const facts = page.locator(".facts");
  await expect(facts).toContainText("General");
  await expect(facts).toContainText(/Devices\s*(Email, Portal inbox|Portal inbox, Email)/);
  await expect(facts).toContainText(/Recipients\s*\d+/);
  await page.getByRole("link", { name: "View Delivery Report" }).click();
  await expect(page.getByRole("heading", { name: `Delivery Report: ${subject}` })).toBeVisible();
  // A worker is running (it checks in every ten seconds), so the page does not say otherwise.
  await expect(page.getByTestId("workers-silent")).toHaveCount(0);

  // The report refreshes itself until the send is done.
  await expect(page.getByTestId("report-state")).toHaveText("Finished", { timeout: 20_000 });
  const counts = page.getByTestId("report-counts");
  const email = counts.locator('tr[data-device="email"]');
  await expect(email.locator("progress")).toHaveAttribute("value", "100");
  const cells = await email.locator("td").allInnerTexts();
  // Progress, Attempted, Completed, Failed, Canceled, Queued, In progress, Retrying.
  const attempted = Number(cells[1]);
  expect(attempted).toBeGreaterThan(0);
  expect(Number(cells[2])).toBe(attempted);
  expect(cells.slice(3)).toEqual(["0", "0", "0", "0", "0"]);
  await expect(counts.locator('tr[data-device="inbox"]')).toBeVisible();

  // The recipients: the first page, and the parent found by address.
  const recipients = page.getByTestId("recipients");
  await expect(recipients.locator("tbody tr").first()).toBeVisible();
  await page.getByLabel("Search").fill(PARENT.email);
  await page.getByLabel("Search").press("Enter");
  await expect(recipients.locator("tbody tr")).toHaveCount(1);
  await expect(recipients.locator("tbody tr")).toContainText(PARENT.email);
  await expect(recipients.locator("tbody tr")).toContainText("Sent");

  // The CSV of everything sent by email: a header and one line per attempted email.
  await page.getByLabel("Search").fill("");
  await page.getByLabel("Search").press("Enter");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download CSV" }).click(),
  ]);
  const csv = (await readFile(await download.path())).toString("utf8").trim().split("\n");
  expect(csv[0]).toBe("Person,Students,Device,Address,Status,Time,Attempts,Error,Call");
  expect(csv.length - 1).toBe(attempted);
  expect(csv.filter((l) => l.includes(`,Email,${PARENT.email},Sent,`))).toHaveLength(1);
});
