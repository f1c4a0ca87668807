// Shared steps for the end-to-end tests: the demo sign-ins, and signing in through the form.
import { expect, Page } from "@playwright/test";

export const ADMIN = { email: "admin@demo.herald.test", password: "herald-admin" };
export const PARENT = { email: "parent@demo.herald.test", password: "herald-parent" };

/** Waits until the WASM bundle has hydrated the page, so clicks are handled by Leptos. */
export async function hydrated(page: Page) {
  await page.locator("body[data-hydrated]").waitFor({ state: "attached" });
}

export async function signIn(page: Page, who: { email: string; password: string }) {
  await page.goto("/sign-in");
  await hydrated(page);
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

export async function expectSignedInAsAdmin(page: Page) {
  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
}

/** Chooses, in the Campus Toolbar, the calendar the demo parent's child is enrolled in. */
export async function chooseParentsCalendar(page: Page) {
  await page.getByRole("link", { name: "People" }).click();
  await hydrated(page);
  await page.getByLabel("Search people").fill("parent@demo");
  await page.locator(".hits a").first().click();
  const person = page.getByRole("region", { name: "Person" });
  await expect(person.getByRole("heading", { name: "Students" })).toBeVisible();
  const detail = await person.innerText();
  const select = page.getByLabel("School and calendar");
  const options = await select.locator("option:not([disabled])").allInnerTexts();
  const school = options.find((o) => detail.includes(o.split(" · ")[0]));
  expect(school, `one of ${options.join(", ")} is on the parent's card`).toBeTruthy();
  await Promise.all([
    page.waitForResponse((r) => r.url().includes("choose_calendar")),
    select.selectOption({ label: school! }),
  ]);
}

type Message = {
  subject: string;
  body: string;
  devices: ("email" | "inbox" | "phone")[];
  /** "Send emails at", as the datetime-local field takes it (district time). */
  emailAt?: string;
};

/** Signs in as the admin and sends a message to the demo parent's calendar on exactly `devices`,
 * waiting until it is Finished. */
export async function sendToParentsCalendar(page: Page, message: Message) {
  await startSendToParentsCalendar(page, message);
  await expect(page.getByTestId("message-state")).toHaveText("Finished", { timeout: 20_000 });
}

/** Signs in as the admin and sends a message to the demo parent's calendar on exactly `devices`;
 * returns on the message's page, without waiting for the send. */
export async function startSendToParentsCalendar(page: Page, message: Message) {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  await chooseParentsCalendar(page);
  await page.getByRole("link", { name: "Compose Message" }).click();
  await hydrated(page);
  await expect(page.getByTestId("audience-count")).toContainText("recipients");
  await page.getByLabel("Subject").fill(message.subject);
  await page.getByLabel("Message body (HTML email)").fill(message.body);
  for (const device of ["email", "inbox", "phone"] as const) {
    await page.locator(`input[name="device-${device}"]`).setChecked(message.devices.includes(device));
  }
  if (message.emailAt) await page.getByLabel("Send emails at (optional)").fill(message.emailAt);
  await page.getByRole("button", { name: "Send now" }).click();
  await expect(page).toHaveURL(/\/admin\/messenger\/messages\//);
}
