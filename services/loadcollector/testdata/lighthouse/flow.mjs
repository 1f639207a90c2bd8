// A Lighthouse user flow (timespan mode) over loadtarget's /page: click Pay,
// whose handler blocks for 300 ms, and write the timespan step's result
// (with interaction-to-next-paint). Run by make-fixtures.sh:
//   node flow.mjs URL OUT.json
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { startFlow } from 'lighthouse';

const [url, out] = process.argv.slice(2);
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lh-flow-'));
const browser = await puppeteer.launch({
  executablePath: process.env.CHROME_PATH,
  userDataDir,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const page = await browser.newPage();
  await page.goto(url, { waitUntil: 'networkidle0' });
  const flow = await startFlow(page, { config: { extends: 'lighthouse:default', settings: { onlyCategories: ['performance'] } } });
  await flow.startTimespan({ name: 'Pay' });
  await page.click('#pay');
  await page.waitForFunction(() => document.querySelector('#pay').textContent === 'Paid');
  await new Promise((r) => setTimeout(r, 500));
  await flow.endTimespan();
  const result = await flow.createFlowResult();
  fs.writeFileSync(out, JSON.stringify(result.steps[0].lhr, null, 2));
} finally {
  await browser.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
