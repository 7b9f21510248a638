// Whether an endpoint URL is within a list of allowed origins (the build's
// CSP list, a policy's allowedEndpoints). No dependencies: the policy module
// and its tests use it without the engine.

/** Origins an LLM endpoint may have: exact origins or "scheme://host:*". */
export function endpointAllowed(endpoint: string, allowed: readonly string[]): boolean {
  let url: URL;
  try { url = new URL(endpoint); } catch { return false; }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return false;
  if (url.username || url.password) return false;  // no credentials in URLs
  for (const pattern of allowed) {
    const m = /^(https?):\/\/([^/:]+)(?::(\*|\d+))?$/.exec(pattern);
    if (!m) continue;
    if (url.protocol !== `${m[1]}:` || url.hostname !== m[2]) continue;
    if (m[3] === '*') return true;
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    if ((m[3] ?? (m[1] === 'https' ? '443' : '80')) === port) return true;
  }
  return false;
}
