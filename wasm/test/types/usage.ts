// Compiled (never run) by wasm/test/types.test.mjs: the package's .d.ts files
// check strictly and describe what the JS does.
import { createEngine, createTokenizer, FoldbackError, type AskResult, type Citation, type Embedder, type FeedbackRecord, type NeedResult, type SearchHit, type StoredTrace } from '@foldback/core';
import { createLlmHost } from '@foldback/core/host';
import { createOnnxEmbedder } from '@foldback/core/embedder';
import { openStorage } from '@foldback/core/storage';

export async function usage(model: Uint8Array, vocab: Uint8Array): Promise<void> {
  const plain = await createEngine({ index: { embedder: 'none' } });
  plain.add({ id: 'a', text: 'The Supplier shall indemnify.', metadata: { party: ['Supplier'] } });
  await plain.addMany([{ id: 'b' }], { onProgress: ({ done, total, chunks }) => void [done, total, chunks] });
  const hits: SearchHit[] = plain.search('indemnify', { mode: 'bm25', topK: 5, allowedMatters: ['m1'] });
  const snapshot: Uint8Array = plain.snapshot();

  const embedder = await createOnnxEmbedder({ model, vocabulary: vocab, tokenizer: { maxLength: 256 } });
  const vectors: Float32Array[] = await embedder.embed(['x']);
  const custom: Embedder = { dimension: 3, embed: async (texts) => texts.map(() => [0, 0, 1]) };
  const engine = await createEngine({ embedder: custom, snapshot });
  const n: number = await engine.embedPending({ batchSize: 8, onProgress: ({ done }) => void done });
  const found = await engine.search('indemnify', { mode: 'hybrid' });
  const first: string | undefined = found[0]?.docId;

  const tok = await createTokenizer({ vocabulary: vocab, lowercase: true });
  const enc = tok.encodeBatch(['a', 'b']);
  const ids: Int32Array = enc.ids;
  const pieces: string[] = tok.tokenize('unaffable');

  const store = await openStorage({ name: 'x', chunkBytes: 1 << 20 });
  await store.saveSnapshot('m', snapshot, { documents: 2 });
  const loaded: Uint8Array | null = await store.loadSnapshot('m');
  const seq: number = await store.appendFeedback({ id: 'r1', rating: 5 });
  const log = await store.readFeedback<{ rating: number }>({ after: 0 });
  const rating: number | undefined = log[0]?.record.rating;
  try {
    plain.search('x', { filter: { colour: 'blue' } });
  } catch (e) {
    if (e instanceof FoldbackError) void e.code;
  }
  void [hits, vectors, n, first, ids, pieces, loaded, seq, rating];
}

export async function askUsage(storage: import('@foldback/core/storage').Storage): Promise<void> {
  const engine = await createEngine({ storage, name: 'matter-1', user: 'u1', index: { embedder: 'none' } });
  const host = createLlmHost({ endpoint: 'http://localhost:11434/v1', provider: 'ollama', model: 'llama3.1' });
  const run = engine.ask('Can they terminate early?', { hops: 2, depth: 5, topK: 5, answer: true, deadlineMs: 20000, allowedMatters: ['m1'] }, host);
  for await (const e of run) {
    if (e.kind === 'query') void e.query;
    if (e.kind === 'retrieved') void e.hits.map((p) => p.text);
  }
  const result: AskResult = await run;
  const citation: Citation | undefined = result.citations[0];
  const record: FeedbackRecord = await engine.feedback({ traceId: result.traceId, rating: 'up', labels: { [result.passages[0]!.chunkId]: 'relevant' }, consentToTrain: true });
  const jsonl: string = engine.export('triplets', { allowedMatters: ['m1'] });
  const { forgotten } = await engine.forgetMatter('m2');
  await engine.save();
  const stored: StoredTrace | null = await engine.trace(result.traceId);
  const need: NeedResult = await host.perform({ id: 1, kind: 'llm', hop: 1, purpose: 'rewrite', messages: [{ role: 'user', content: 'x' }], temperature: 0, maxTokens: 10, jsonSchema: '', jsonSchemaName: '', timeoutMs: 0 });
  const kv: unknown = await storage.getItem('settings');
  void [citation, record, jsonl, forgotten, stored, need, kv];
}
