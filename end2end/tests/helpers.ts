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
