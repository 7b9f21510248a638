// The offscreen document: starts the engine's dedicated worker
// (engine-worker.ts), which a service worker cannot do, and relays between
// it and the background service worker over the 'engine' port it opens
// itself. Offscreen documents have no extension API but chrome.runtime, and
// need no other.

import type { EngineOp, Envelope, Reply } from './protocol';

const worker = new Worker(new URL('engine-worker.js', location.href), { type: 'module', name: 'foldback-engine' });
let port: chrome.runtime.Port | null = null;
const inFlight = new Set<number>();

worker.addEventListener('message', (e: MessageEvent<Reply>) => {
  const r = e.data;
  if (!r.event) inFlight.delete(r.id);
  port?.postMessage(r);
});
// A worker that failed to load or crashed: every request in flight gets a clear answer.
worker.addEventListener('error', (e) => {
  for (const id of inFlight) port?.postMessage({ id, ok: false, error: `the engine failed: ${e.message || 'worker error'}` } satisfies Reply);
  inFlight.clear();
});

let delay = 100;
function connect(): void {
  const p = chrome.runtime.connect({ name: 'engine' });
  port = p;
  p.onMessage.addListener((msg: Envelope<EngineOp>) => {
    inFlight.add(msg.id);
    worker.postMessage(msg);
  });
  // The service worker was stopped: reconnecting wakes it.
  p.onDisconnect.addListener(() => {
    if (port === p) port = null;
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 5000);
  });
  delay = 100;
}
connect();
