// The offscreen document: hosts the engine. It talks only to the background
// service worker, over the 'engine' port it opens itself; offscreen
// documents have no other extension APIs, and need none.

import { LocalEngine } from '../shared/engine-adapter';
import { openStorage } from '@foldback/core/storage';
import { ALLOWED_ORIGINS } from '../shared/boot';
import type { EngineOp, Envelope, Reply } from './protocol';

const enginePromise = (async () => LocalEngine.open({
  storage: await openStorage({ name: 'foldback-browser' }),
  wasmUrl: chrome.runtime.getURL('foldback_core.wasm'),
  allowedOrigins: ALLOWED_ORIGINS,
}))();

async function run(engine: LocalEngine, body: EngineOp, event: (r: Reply) => void, id: number): Promise<unknown> {
  switch (body.op) {
    case 'status': return engine.status();
    case 'index': return engine.index(body.docs);
    case 'remove': return engine.remove(body.id);
    case 'documents': return engine.documents();
    case 'loadSnapshot': return engine.loadSnapshot(new Uint8Array(body.bytes), body.name);
    case 'search': return engine.search(body.query, body.options ?? {});
    case 'ask': return engine.ask(body.question, body.options, (e) => event({ id, ok: true, event: e }), body.llm);
    case 'feedback': return engine.feedback(body.input);
    case 'history': return engine.history();
    case 'exportFeedback': return engine.exportFeedback(body.format);
    case 'forgetMatter': return engine.forgetMatter(body.matter);
    default: throw new Error('unknown engine request');
  }
}

let delay = 100;
function connect(): void {
  const port = chrome.runtime.connect({ name: 'engine' });
  port.onMessage.addListener(async (msg: Envelope<EngineOp>) => {
    const id = msg.id;
    try {
      const engine = await enginePromise;
      const value = await run(engine, msg.body, (r) => port.postMessage(r), id);
      port.postMessage({ id, ok: true, value } satisfies Reply);
    } catch (e) {
      port.postMessage({ id, ok: false, error: (e as Error).message } satisfies Reply);
    }
  });
  // The service worker was stopped: reconnecting wakes it.
  port.onDisconnect.addListener(() => {
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 5000);
  });
  delay = 100;
}
connect();
