// The javascript.info "digits" server (https://javascript.info/server-sent-events),
// written for these tests: a plain Node.js `http` server nobody here wrote the
// HTTP side of. Each connection sends three digits, one per tick, each with an
// id, then `event: bye`, and ends the response; a reconnect resumes after the
// Last-Event-ID it sends. It listens on a free loopback port and prints it.
'use strict';
const http = require('http');

const TICK_MS = Number(process.env.DIGITS_TICK_MS || 20);

const server = http.createServer((req, res) => {
  if (req.url !== '/digits') {
    res.writeHead(404);
    res.end();
    return;
  }
  const last = parseInt(req.headers['last-event-id'] || '0', 10) || 0;
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
  });
  let n = last;
  let sent = 0;
  const timer = setInterval(write, TICK_MS);
  write();
  function write() {
    if (sent === 3) {
      res.write('event: bye\ndata: bye-bye\n\n');
      clearInterval(timer);
      res.end();
      return;
    }
    n += 1;
    sent += 1;
    res.write(`id: ${n}\ndata: ${n}\n\n`);
  }
  req.on('close', () => clearInterval(timer));
});

server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
