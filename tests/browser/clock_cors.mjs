// Opens the `clock` example cross-origin with credentials from two pages:
// one on an origin the clock allows, one on another origin. Prints, for
// each, what its EventSource saw, as JSON:
//   {"allowed": {"messages": [...], "readyState": n}, "denied": {...}}
//
//   node tests/browser/clock_cors.mjs ALLOWED_PAGE_URL DENIED_PAGE_URL
// Each page runs `new EventSource(<clock>, { withCredentials: true })` and
// records messages, and whether the connection failed for good
// (readyState 2: a CORS refusal is not retried).
import { launchChromium } from './launch.mjs';

const [allowedUrl, deniedUrl] = process.argv.slice(2);
if (!allowedUrl || !deniedUrl) {
  console.error('usage: node clock_cors.mjs ALLOWED_PAGE_URL DENIED_PAGE_URL');
  process.exit(2);
}
const { context, close } = await launchChromium();
const result = {};
try {
  for (const [name, url] of [['allowed', allowedUrl], ['denied', deniedUrl]]) {
    const page = await context.newPage();
    await page.goto(url);
    // Allowed: the hello and two ticks. Denied: the connection fails and
    // stays failed.
    await page.waitForFunction(
      () => window.messages.length >= 3 || window.source.readyState === 2,
      null,
      { timeout: 20000 },
    );
    result[name] = await page.evaluate(() => ({
      messages: window.messages,
      readyState: window.source.readyState,
      credentials: window.source.withCredentials,
    }));
    await page.evaluate(() => window.source.close());
    await page.close();
  }
} catch (e) {
  result.error = String(e);
} finally {
  await close();
}
console.log(JSON.stringify(result));
