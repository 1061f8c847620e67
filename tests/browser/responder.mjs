// Drives Debian's Chromium (playwright-core, no bundled browser) against the incident page
// served by the responder under `cargo lambda watch` (tests/responder-e2e.sh calls it).
//
//   node responder.mjs view LINK ARTIFACTS        GET only: checks, screenshot, axe-core
//   node responder.mjs acknowledge LINK ARTIFACTS acknowledge through the form, as a person
//
// Prints one line per check ("ok   …" / "FAIL …") and exits 1 if any failed.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [mode, link, artifacts] = process.argv.slice(2);
if (!mode || !link || !artifacts) {
  console.error('usage: node responder.mjs view|acknowledge LINK ARTIFACTS');
  process.exit(2);
}
fs.mkdirSync(artifacts, { recursive: true });
const axeSource = fs.readFileSync(
  new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
let failed = 0;
const check = (name, ok, detail = '') => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok || !detail ? '' : `: ${detail}`}`);
  if (!ok) failed += 1;
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});

// axe-core needs to run a script in the page, which the page's policy forbids: only this
// check runs in a context that bypasses CSP (the other contexts keep it, and check it).
async function accessibility(label) {
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(link);
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
  });
  fs.writeFileSync(path.join(artifacts, `axe-${label}.json`), JSON.stringify(violations, null, 2));
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(`axe-core (${label}): no serious or critical violation`, serious.length === 0, JSON.stringify(serious));
  await context.close();
}

try {
  if (mode === 'view') {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const blocked = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) blocked.push(m.text()); });
    const response = await page.goto(link);
    check('GET answers 200', response.status() === 200, String(response.status()));
    const headers = response.headers();
    check('Cache-Control: no-store', headers['cache-control'] === 'no-store', headers['cache-control']);
    check('Referrer-Policy: no-referrer', headers['referrer-policy'] === 'no-referrer', headers['referrer-policy']);
    const csp = headers['content-security-policy'] || '';
    check('CSP: nothing but the hashed style, no framing',
      csp.includes("default-src 'none'") && csp.includes("frame-ancestors 'none'") && !csp.includes('unsafe-inline'), csp);
    check('the style sheet applies under the CSP (no violation reported)', blocked.length === 0, blocked.join(' | '));
    const status = await page.locator('p.status').innerText();
    check('status in words: open, not acknowledged', status === 'Open, not acknowledged', status);
    check('no script on the page', (await page.locator('script').count()) === 0);
    const buttons = await page.locator('button').count();
    check('action buttons are there', buttons >= 4, String(buttons));
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), textarea, select')]
      .filter((el) => !(el.labels && el.labels.length)).map((el) => el.name));
    check('every control has a label', unlabelled.length === 0, unlabelled.join(','));
    await page.screenshot({ path: path.join(artifacts, 'incident-desktop.png'), fullPage: true });
    await context.close();
    await accessibility('before');
  } else if (mode === 'acknowledge') {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    });
    const page = await context.newPage();
    await page.goto(link);
    const target = await page.getByRole('button', { name: 'Acknowledge' }).boundingBox();
    check('touch target at least 44 px high', target && target.height >= 44, JSON.stringify(target));
    await page.getByLabel('Your name').fill('Ana <b>Browser</b>');
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Acknowledge' }).click(),
    ]);
    const announced = await page.getByRole('status').innerText();
    check('the result is announced in the status region', announced.startsWith('Acknowledged.'), announced);
    const status = await page.locator('p.status').innerText();
    check('status: acknowledged by the name as given', status === 'Open, acknowledged by Ana <b>Browser</b> (name as given)', status);
    const timeline = await page.locator('ol.timeline').innerText();
    check('the timeline shows the action with actor and channel',
      /acknowledged[\s\S]*Ana <b>Browser<\/b> \(name as given\) via link/.test(timeline), timeline);
    check('the name is text, never markup', (await page.locator('ol.timeline b').count()) === 0);
    await page.screenshot({ path: path.join(artifacts, 'incident-phone.png'), fullPage: true });
    const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const after = await desktop.newPage();
    await after.goto(link);
    await after.screenshot({ path: path.join(artifacts, 'incident-desktop-acknowledged.png'), fullPage: true });
    await desktop.close();
    await context.close();
    await accessibility('after');
  } else {
    console.error(`unknown mode ${mode}`);
    process.exit(2);
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
