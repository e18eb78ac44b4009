// Drives headless Chromium through the status page for
// tests/status_page.rs: node status-page.mjs URL STATUS_TOKEN ADMIN_TOKEN
// SCREENSHOT PROFILE_DIR. Prints one JSON line: the page's text before and
// after requeuing the first dead letter through its form.
import { chromium } from 'playwright-core';

const [url, statusToken, adminToken, screenshot, profile] = process.argv.slice(2);
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  extraHTTPHeaders: { Authorization: `Bearer ${statusToken}` },
  viewport: { width: 900, height: 900 },
});
try {
  const page = await context.newPage();
  const first = await page.goto(url);
  const status = first.status();
  const before = await page.innerText('body');
  await page.screenshot({ path: screenshot, fullPage: true });
  const form = page.locator('form[action*="/requeue"]').first();
  await form.locator('input[name=admin_token]').fill(adminToken);
  await Promise.all([page.waitForNavigation(), form.locator('button').click()]);
  const after = await page.innerText('body');
  console.log(JSON.stringify({ status, before, after, final_url: page.url() }));
} finally {
  await context.close();
}
