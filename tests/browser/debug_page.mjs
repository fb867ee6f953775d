// Drives the hub's debug page in headless Chromium for crates/sse-cli/tests.
// Opens URL?autosubscribe (the page subscribes with a real EventSource),
// prints {"ready":true} once the stream is open, then obeys stdin:
//   wait N   print {"events":[...]} once the page has received N events
//   quit     close the browser and exit
//
//   node tests/browser/debug_page.mjs http://127.0.0.1:PORT/
import { launchChromium } from './launch.mjs';
import { createInterface } from 'node:readline';

const url = process.argv[2];
if (!url) {
  console.error('usage: node debug_page.mjs URL');
  process.exit(2);
}
const say = (o) => console.log(JSON.stringify(o));
const { context, close } = await launchChromium();
try {
  const page = context.pages()[0] ?? await context.newPage();
  await page.goto(url + '?autosubscribe');
  await page.waitForFunction(() => window.hubState === 'open', null, { timeout: 20000 });
  say({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === 'wait') {
      const n = Number(arg);
      try {
        await page.waitForFunction((n) => window.events.length >= n, n, { timeout: 20000 });
        say({ events: await page.evaluate(() => window.events), state: await page.evaluate(() => window.hubState) });
      } catch (e) {
        say({ error: String(e), events: await page.evaluate(() => window.events) });
      }
    } else if (cmd === 'quit') {
      break;
    }
  }
} catch (e) {
  say({ error: String(e) });
} finally {
  await close();
  // Do not wait for stdin to close: the caller may still hold it.
  process.exit(0);
}
