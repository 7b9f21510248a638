// An OpenAI-compatible chat completions server on loopback, for tests. It
// reads the prompts foldback's ask session sends (DSPy ChatAdapter layout:
// `[[ ## field ## ]]` markers) and answers in kind: a query writer gets a
// query built from the question and the hop ("... hop2"), the answer writer
// gets text that cites passage [1] (and [9], which points at nothing) and
// carries active content (a Markdown image, an HTML image, a link) that the
// UI must show as text. Every request is recorded (headers included) so tests
// can check where the key went. `failures` makes the next N requests fail
// with a status.
import http from 'node:http';

export async function startLlmServer() {
  const requests = [];
  const hops = new Map();  // question -> the last hop a query was written for
  const state = { failures: 0, failStatus: 503, retryAfter: '0', answerExtra: '' };
  const server = http.createServer(async (req, res) => {
    const cors = {
      'access-control-allow-origin': '*',
      'access-control-allow-headers': 'authorization, content-type',
      'access-control-allow-methods': 'POST, OPTIONS',
    };
    if (req.method === 'OPTIONS') { res.writeHead(204, cors).end(); return; }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const bodyText = Buffer.concat(chunks).toString('utf8');
    let body = {};
    try { body = JSON.parse(bodyText); } catch { /* recorded as is */ }
    requests.push({ method: req.method, url: req.url, headers: req.headers, body });
    if (req.url !== '/v1/chat/completions' || req.method !== 'POST') {
      res.writeHead(404, cors).end();
      return;
    }
    if (state.failures > 0) {
      state.failures--;
      res.writeHead(state.failStatus, { ...cors, 'retry-after': state.retryAfter, 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'test failure' } }));
      return;
    }
    const messages = body.messages ?? [];
    const system = messages[0]?.content ?? '';
    const user = messages[messages.length - 1]?.content ?? '';
    const question = /\[\[ ## question ## \]\]\n([^\n]*)/.exec(user)?.[1] ?? '';
    let content;
    if (/\[\[ ## (search_)?query ## \]\]/.test(system)) {
      // Hop 1 sees no passages yet; later hops see what was found.
      const key = question;
      const hop = /<passage n=/.test(user) ? (hops.get(key) ?? 1) + 1 : 1;
      hops.set(key, hop);
      content = `[[ ## query ## ]]\n${question} notice period written notice hop${hop}\n\n[[ ## completed ## ]]`;
    } else {
      content = `[[ ## answer ## ]]\nEither party may end the agreement on written notice [1]. ${state.answerExtra}See [9] too.\n\n[[ ## completed ## ]]`;
    }
    res.writeHead(200, { ...cors, 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'x', object: 'chat.completion', model: body.model || 'test-model',
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    endpoint: `http://127.0.0.1:${port}/v1`,
    requests,
    state,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
