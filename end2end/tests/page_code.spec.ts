// User action: opening a page for the first time, and what the browser downloads for it. The
// bundle is split by route (app/src/lazy.rs): a parent reading notices never downloads the admin
// tools' code, and an admin's tool arrives when it is first opened, in the browser or on a reload.
import { test, expect, Page } from "@playwright/test";
import { ADMIN, PARENT, signIn, expectSignedInAsAdmin, hydrated } from "./helpers";

/** The page chunks (`/pkg/split_…`) the browser asks for from now on. */
function pageChunks(page: Page): string[] {
  const chunks: string[] = [];
  page.on("request", (r) => {
    const file = new URL(r.url()).pathname.split("/").pop() ?? "";
    if (file.startsWith("split_")) chunks.push(file);
  });
  return chunks;
}

test("a parent's first visit, signing in and reading notices, downloads no page's own code", async ({ page }) => {
  const chunks = pageChunks(page);
  await signIn(page, PARENT);
  await expect(page).toHaveURL(/\/portal$/);
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "User Notices" })).toBeVisible();
  expect(chunks).toEqual([]);
});

test("an admin's tool downloads its own code when opened, and works after a reload too", async ({ page }) => {
  await signIn(page, ADMIN);
  await expectSignedInAsAdmin(page);
  const chunks = pageChunks(page);
  await page.getByRole("link", { name: "Sent Messages" }).click();
  await expect(page.getByRole("heading", { name: "Sent Messages" })).toBeVisible();
  expect(chunks.some((c) => c.startsWith("split___sent_messages_view_")), chunks.join(", ")).toBe(true);
  expect(chunks.some((c) => c.startsWith("split___compose_view_")), chunks.join(", ")).toBe(false);

  // A first visit straight to the tool's address: the server renders it, and the page becomes
  // interactive once its chunk has arrived.
  await page.reload();
  await hydrated(page);
  // The filter is handled by the page's own code: choosing a type asks the server again.
  await Promise.all([
    page.waitForResponse((r) => r.url().includes("/api/sent_messages") && r.ok()),
    page.getByLabel("Type").selectOption({ index: 1 }),
  ]);
});
