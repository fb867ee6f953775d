// Drives the `digits` example in headless Chromium: opens the page, presses
// Start, waits until the page saw 1, 2, 3, bye, a reconnect and the first
// digit again, presses Stop, and prints what the page logged as JSON.
//
//   node tests/browser/digits.mjs http://127.0.0.1:PORT/
import { launchChromium } from './launch.mjs';

const url = process.argv[2];
if (!url) {
  console.error('usage: node digits.mjs URL');
  process.exit(2);
}
const { context, close } = await launchChromium();
let result;
try {
  const page = context.pages()[0] ?? await context.newPage();
  await page.goto(url);
  await page.click('#start');
  // 1, 2, 3, bye, then the reconnect: a second open followed by 1.
  await page.waitForFunction(() => {
    const ev = window.events;
    const second = ev.indexOf('open', ev.indexOf('bye:bye-bye'));
    return second >= 0 && ev.indexOf('message:1', second) >= 0;
  }, null, { timeout: 20000 });
  await page.click('#stop');
  result = { events: await page.evaluate(() => window.events) };
} catch (e) {
  result = { error: String(e) };
} finally {
  await close();
}
console.log(JSON.stringify(result));
