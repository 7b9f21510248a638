// An OpenAI-compatible chat completions server on loopback, for tests.
// It answers rewrite prompts with a JSON query built from the question, and
// answer prompts with text that cites passage [1] and carries active content
// (a Markdown image, an HTML image, a link) that the UI must show as text.
// Every request is recorded (headers included) so tests can check where the
// key went. `failures` makes the next N requests fail with a status.
import http from 'node:http';

export async function startLlmServer() {
  const requests = [];
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
    const question = /Question: (.*)/.exec(user)?.[1] ?? '';
    let content;
    if (system.includes('search queries')) {
      const hop = (user.match(/^- /gm) ?? []).length + 1;
      content = JSON.stringify({ query: `${question} notice period written notice hop${hop}` });
    } else {
      content = `Either party may end the agreement on written notice [1]. ${state.answerExtra}See [9] too.`;
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
