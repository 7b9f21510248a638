// A real OpenAI-compatible HTTP server on loopback, scripted per test.
//
//   const server = await startOpenAiServer();
//   server.script(
//     { status: 429, headers: { 'retry-after': '0.2' } },   // first request
//     { reply: '[[ ## query ## ]]\ntermination notice' },     // second
//   );
//   ... server.requests: [{method, url, headers, body, at}]
//
// A step is one of:
//   {reply: text, model?}            a chat completion whose content is `text`
//   {status, headers?, body?}         any status with a body (string or object)
//   {raw: string, headers?}           200 with this body as is (invalid JSON ...)
//   {truncate: string}                200 whose Content-Length promises more than
//                                     is sent, then the connection is destroyed
//   {hang: true}                      never answers (until the client gives up)
//   {delayMs, ...step}                waits first
// With no script left, `fallback(request)` answers (default: a query reply
// naming the hop number). Every request is recorded, headers included, so
// that tests can check where the key went.
import http from 'node:http';

export function completion(content, model = 'test-model') {
  return { id: 'chatcmpl-test', object: 'chat.completion', created: 0, model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } };
}

// A reply in DSPy's marker format for whichever predictor asked.
export function defaultReply(body) {
  const system = body.messages?.[0]?.content ?? '';
  if (/\[\[ ## answer ## \]\]/.test(system) && !/\[\[ ## (search_)?query ## \]\]/.test(system)) {
    return '[[ ## answer ## ]]\nEither party may terminate on written notice [1]. See also [9].\n\n[[ ## completed ## ]]';
  }
  const user = body.messages?.at(-1)?.content ?? '';
  const hop = (user.match(/<passage n=/g) ?? []).length > 0 ? 'later' : 'first';
  return `[[ ## query ## ]]\ntermination for convenience written notice ${hop}\n\n[[ ## completed ## ]]`;
}

export async function startOpenAiServer({ fallback } = {}) {
  const requests = [];
  const steps = [];
  const sockets = new Set();
  const answer = fallback || ((req) => ({ reply: defaultReply(req.body) }));
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString('utf8');
    let body = null;
    try { body = JSON.parse(text); } catch { body = text; }
    const record = { method: req.method, url: req.url, headers: req.headers, body, at: performance.now(), closed: false };
    requests.push(record);
    res.on('close', () => { record.closed = !res.writableFinished; });
    const step = steps.length ? steps.shift() : answer(record);
    const run = typeof step === 'function' ? await step(record) : step;
    if (run.delayMs) await new Promise((r) => setTimeout(r, run.delayMs));
    if (run.hang) return;  // the client aborts
    const headers = { 'content-type': 'application/json', ...(run.headers || {}) };
    if (run.truncate !== undefined) {
      res.writeHead(200, { ...headers, 'content-length': String(Buffer.byteLength(run.truncate) + 100) });
      res.write(run.truncate);
      setTimeout(() => res.destroy(), 20);
      return;
    }
    if (run.raw !== undefined) {
      res.writeHead(run.status || 200, headers);
      res.end(run.raw);
      return;
    }
    if (run.reply !== undefined) {
      res.writeHead(200, headers);
      res.end(JSON.stringify(completion(run.reply, run.model)));
      return;
    }
    res.writeHead(run.status || 500, headers);
    res.end(typeof run.body === 'string' ? run.body : JSON.stringify(run.body ?? { error: { message: `scripted ${run.status}` } }));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    endpoint: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    /** Queues steps for the next requests, in order. */
    script(...s) { steps.push(...s); },
    reset() { requests.length = 0; steps.length = 0; },
    pending() { return steps.length; },
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A port nothing listens on (bound, then closed). */
export async function deadPort() {
  const s = http.createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}
