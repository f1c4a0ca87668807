// User action: an admin sets up the phone dialer on Dialer Preferences and sends a phone
// message; the worker places the calls through the local voice provider (Twilio's call API) and
// the provider's signed status callbacks to the server mark each call.
import { test, expect } from "@playwright/test";
import { ADMIN, signIn, expectSignedInAsAdmin, hydrated } from "./helpers";

const VOICE = process.env.HERALD_E2E_VOICE ?? "http://127.0.0.1:18089";

test("dialer preferences come back after a reload, the token is never shown, and a bad caller ID is refused", async ({ page }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await page.getByRole("link", { name: "Dialer Preferences" }).click();
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Dialer Preferences" })).toBeVisible();
  const savedCallerId = await page.getByLabel("Caller ID").inputValue();
  await page.getByLabel("Caller ID").fill("555-0100");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("alert")).toContainText("Caller ID: '555-0100' is not a 10-digit North American number");
  // Refused means unchanged: a reload shows what was stored before.
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel("Caller ID")).toHaveValue(savedCallerId);

  await page.getByLabel("Caller ID").fill("(555) 555-0199");
  await page.getByLabel("Auth token (saved; type to replace)").fill("local-voice-provider-token");
  await page.getByLabel("Error email list").fill("ops@demo.herald.test\nit@demo.herald.test");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toContainText("Saved");
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel("Caller ID")).toHaveValue("+15555550199");
  await expect(page.getByLabel("Auth token (saved; type to replace)")).toHaveValue("");
  await expect(page.getByLabel("Error email list")).toHaveValue("ops@demo.herald.test\nit@demo.herald.test");
  expect(await page.content()).not.toContain("local-voice-provider-token");
});

test("a phone message is called through the provider and every call is counted", async ({ page, request }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  // Calling hours all day, so the test does not depend on the time it runs.
  await page.getByRole("link", { name: "Dialer Preferences" }).click();
  await hydrated(page);
  await page.getByLabel("Calling hours from").fill("00:00");
  await page.getByLabel("Calling hours until").fill("23:59");
  await page.getByLabel("Calls per second").fill("40");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toContainText("Saved");

  // A school and calendar in the toolbar: the message goes to its guardians.
  const select = page.getByLabel("School and calendar");
  const first = (await select.locator("option:not([disabled])").allInnerTexts())[0];
  await Promise.all([
    page.waitForResponse((r) => r.url().includes("choose_calendar")),
    select.selectOption({ label: first }),
  ]);

  const before = ((await (await request.get(`${VOICE}/local/calls`)).json()) as unknown[]).length;
  const subject = `Snow day ${Date.now()}`;
  await page.getByRole("link", { name: "Compose Message" }).click();
  await hydrated(page);
  await expect(page.getByTestId("audience-count")).toContainText("recipients");
  await page.getByLabel("Subject").fill(subject);
  await page.getByLabel("Message body (HTML email)").fill("<p>Schools are closed tomorrow.</p>");
  await page.locator('input[name="device-email"]').uncheck();
  await page.locator('input[name="device-inbox"]').uncheck();
  await page.locator('input[name="device-phone"]').check();
  await page.getByText("Plain-text email, portal notice and voice script").click();
  await page.getByLabel("Voice script (phone)").fill("This is {{school}}. Schools are closed tomorrow, {{guardian}}.");
  await page.getByLabel("Dial window from").fill("00:00");
  await page.getByLabel("until", { exact: true }).fill("23:59");
  await page.getByRole("button", { name: "Send now" }).click();
  await expect(page).toHaveURL(/\/admin\/messenger\/messages\//);
  await expect(page.getByTestId("message-state")).toHaveText("Finished", { timeout: 60_000 });
  const row = page.getByTestId("tally").locator("tbody tr", { hasText: "Phone" });
  const cells = await row.locator("td").allInnerTexts();
  // Device, Total, Sent, Failed, Canceled, In queue: every call answered.
  expect(Number(cells[1])).toBeGreaterThan(0);
  expect(cells[2]).toBe(cells[1]);
  expect(cells[5]).toBe("0");

  const calls = (await (await request.get(`${VOICE}/local/calls`)).json()) as Array<{ twiml: string; from: string; status: string }>;
  const ours = calls.slice(before);
  expect(ours.length).toBe(Number(cells[1]));
  expect(ours.every((c) => c.status === "completed" && c.from === "+15555550199")).toBe(true);
  expect(ours[0].twiml).toContain("Schools are closed tomorrow,");
  expect(ours[0].twiml).not.toContain("{{guardian}}");

  // The Delivery Report says how each call ended: the demo's people answer themselves.
  await page.getByRole("link", { name: "View Delivery Report" }).click();
  await expect(page.getByTestId("phone-answers")).toHaveText(
    `Completed calls: ${cells[1]} (${cells[1]} answered by a person, 0 by an answering machine).`,
  );
  const recipients = page.getByTestId("recipients");
  await expect(recipients.locator("thead")).toContainText("Call");
  await expect(recipients.locator("tbody tr").first()).toContainText("Answered by a person");
});
