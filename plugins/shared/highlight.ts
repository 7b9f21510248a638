// Query-term highlighting as text nodes and <mark> elements.

const STOPWORDS = new Set((
  'a an and are as at be been but by can could do does for from had has have how if in into is ' +
  'it its may might must no not of on or our shall should so such than that the their them then ' +
  'there these they this those to under upon was we were what when where which who whom whose why ' +
  'will with would you your any all each other about after before between during over also only ' +
  'same same very just more most some own out up down off again further once here both few nor too'
).split(' '));

export function isStopword(word: string): boolean {
  return STOPWORDS.has(word);
}

/** Lower-case word tokens of a text (letters and digits, Unicode-aware). */
export function tokenize(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+(?:['’][\p{L}]+)?/gu) || []);
}

/** A crude stem, enough to highlight "terminate" for "termination". */
export function stem(word: string): string {
  let w = word.toLowerCase();
  for (const suffix of ['ations', 'ation', 'ings', 'ing', 'ions', 'ion', 'ies', 'ied', 'es', 'ed', 'ly', 's', 'e']) {
    if (w.length - suffix.length >= 4 && w.endsWith(suffix)) {
      w = w.slice(0, -suffix.length);
      break;
    }
  }
  return w;
}

/** Terms worth highlighting for a set of queries. */
export function highlightTerms(queries: string[]): string[] {
  const out = new Set<string>();
  for (const q of queries) {
    for (const t of tokenize(q)) {
      if (t.length < 3 || isStopword(t)) continue;
      out.add(stem(t));
    }
  }
  return [...out];
}

/** Splits text into runs; `marked` runs contain a query term. */
export function highlightRuns(text: string, stems: string[]): Array<{ text: string; marked: boolean }> {
  const runs: Array<{ text: string; marked: boolean }> = [];
  if (stems.length === 0) return [{ text, marked: false }];
  const stemSet = new Set(stems);
  const re = /[\p{L}\p{N}]+/gu;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const word = m[0];
    const s = stem(word);
    const hit = stemSet.has(s) || stems.some((t) => t.length >= 5 && word.toLowerCase().startsWith(t));
    if (!hit) continue;
    if (m.index > last) runs.push({ text: text.slice(last, m.index), marked: false });
    runs.push({ text: word, marked: true });
    last = m.index + word.length;
  }
  if (last < text.length) runs.push({ text: text.slice(last), marked: false });
  return runs;
}

/** Nodes for a passage with its query terms in <mark>: text only, never HTML. */
export function highlightNodes(text: string, stems: string[]): Node[] {
  return highlightRuns(text, stems).map((run) => {
    if (!run.marked) return document.createTextNode(run.text);
    const mark = document.createElement('mark');
    mark.textContent = run.text;
    return mark;
  });
}
