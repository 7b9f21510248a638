// Settings a firm's IT pushes centrally, and the one decision every plugin
// makes with them.
//
// Where a policy comes from:
//   - the Chromium extension: chrome.storage.managed (Chrome/Edge policy
//     "3rdparty" → extensions → <id>; schema browser/managed_schema.json,
//     referenced by the manifest's storage.managed_schema);
//   - the Office add-ins: foldback-settings.json served next to the task
//     pane (fetched at start; absent = no policy).
// Both hold the same keys (docs/config.md):
//   allowedEndpoints  origins LLM endpoints may have ("https://llm.firm.example",
//                     "http://localhost:*"); narrows the build's list (the
//                     page's CSP), never widens it
//   defaultEndpoint, defaultModel   what Settings start with
//   allowedMatters    the ethical wall: matters a search or a question may see
//   redactPatterns    replaced in everything sent to an endpoint (the core's
//                     redaction language)
//   serverUrl         the firm server (`foldback serve`) every search and
//                     question goes to; pinned: a user cannot change it or
//                     switch back to the local engine. Its origin must be
//                     one the plugin was built for (FOLDBACK_SERVER_ORIGIN,
//                     the page's CSP), or nothing can reach it.
//
// A user cannot override a wall or an endpoint allow-list set by policy:
// enforcePolicy is the only place a search's or a question's endpoint and
// matters are decided, and LocalEngine (every plugin's engine) calls it on
// every search and ask. A policy that is present but invalid fails closed:
// parsePolicy reports problems, and the plugins refuse to search with it.

import { endpointAllowed } from './endpoint-allowed';
import type { Settings } from './settings';

export interface Policy {
  allowedEndpoints?: string[];
  defaultEndpoint?: string;
  defaultModel?: string;
  allowedMatters?: string[];
  redactPatterns?: string[];
  serverUrl?: string;
}

export interface ParsedPolicy {
  policy: Policy;
  /** Empty when the policy is usable. */
  problems: string[];
}

const ORIGIN_PATTERN = /^(https?):\/\/([^/:]+)(?::(\*|\d+))?$/;
const KNOWN = new Set(['allowedEndpoints', 'defaultEndpoint', 'defaultModel', 'allowedMatters', 'redactPatterns', 'serverUrl']);
const SECRET = /^(api_?key|apikey|key|secret|token|password|bearer|authorization)$/i;

function strings(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v as string[] : undefined;
}

/**
 * A policy from what managed storage or the settings file holds. Unknown
 * keys, wrong types, bad origins and keys that would hold a secret are
 * problems (the value of a secret is never repeated); `source` names where
 * it came from in messages.
 */
export function parsePolicy(raw: unknown, source: string): ParsedPolicy {
  const policy: Policy = {};
  const problems: string[] = [];
  if (raw === undefined || raw === null) return { policy, problems };
  if (typeof raw !== 'object' || Array.isArray(raw)) return { policy, problems: [`${source}: must be a JSON object`] };
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (SECRET.test(k)) {
      problems.push(`${source}: '${k}': a policy never holds a key; each user enters it in Settings`);
      continue;
    }
    if (!KNOWN.has(k)) {
      problems.push(`${source}: unknown key '${k}' (known: ${[...KNOWN].join(', ')})`);
      continue;
    }
    if (k === 'serverUrl') {
      let url: URL | null = null;
      try { url = typeof v === 'string' ? new URL(v.trim()) : null; } catch { url = null; }
      if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.search) {
        problems.push(`${source}: 'serverUrl' must be the firm server's URL, such as https://foldback.firm.example`);
        continue;
      }
      policy.serverUrl = url.href.replace(/\/+$/, '');
      continue;
    }
    if (k === 'defaultEndpoint' || k === 'defaultModel') {
      if (typeof v !== 'string') { problems.push(`${source}: '${k}' must be a string`); continue; }
      policy[k] = v.trim();
      continue;
    }
    const list = strings(v);
    if (!list) { problems.push(`${source}: '${k}' must be an array of strings`); continue; }
    if (k === 'allowedEndpoints') {
      const bad = list.map((o) => o.trim().replace(/\/+$/, '')).filter((o) => !ORIGIN_PATTERN.test(o));
      if (bad.length) { problems.push(`${source}: 'allowedEndpoints' holds origins such as https://llm.firm.example or http://localhost:* (not ${bad.join(', ')})`); continue; }
      policy.allowedEndpoints = list.map((o) => o.trim().replace(/\/+$/, ''));
    } else if (k === 'allowedMatters') {
      if (list.some((m) => !m.trim())) { problems.push(`${source}: 'allowedMatters' holds non-empty matter names`); continue; }
      policy.allowedMatters = list.map((m) => m.trim());
    } else {
      policy.redactPatterns = [...list];
    }
  }
  if (policy.defaultEndpoint && policy.allowedEndpoints && !endpointAllowed(policy.defaultEndpoint, policy.allowedEndpoints)) {
    problems.push(`${source}: 'defaultEndpoint' is not in 'allowedEndpoints'`);
  }
  return { policy, problems };
}

/** A request as a user (or the UI) makes it. */
export interface PolicyRequest {
  endpoint?: string;
  allowedMatters?: readonly string[];
  redactPatterns?: readonly string[];
}

export interface PolicyDecision {
  /** The endpoint may be called (always true without one). */
  endpointAllowed: boolean;
  /** Why not, for the user ("" when allowed). */
  reason: string;
  /** The wall to search behind: the policy's, narrowed by the user's; undefined = no wall. */
  allowedMatters?: string[];
  /** The policy's patterns, then the user's. */
  redactPatterns: string[];
}

/**
 * THE decision, for every plugin: whether `request.endpoint` may be
 * called — it must be in the build's list (`buildOrigins`, what the CSP
 * allows) AND in the policy's allowedEndpoints when the policy has one —
 * and which matters a search may see: the policy's wall intersected with
 * what the user asked (a user can narrow a wall, never widen it).
 */
export function enforcePolicy(policy: Policy, buildOrigins: readonly string[], request: PolicyRequest): PolicyDecision {
  let allowed = true;
  let reason = '';
  if (request.endpoint) {
    if (!endpointAllowed(request.endpoint, buildOrigins)) {
      allowed = false;
      reason = "the endpoint is not in this plugin's allowed endpoints";
    } else if (policy.allowedEndpoints && !endpointAllowed(request.endpoint, policy.allowedEndpoints)) {
      allowed = false;
      reason = "the endpoint is not in the endpoints your firm's policy allows";
    }
  }
  let matters: string[] | undefined;
  if (policy.allowedMatters) {
    const wall = new Set(policy.allowedMatters);
    matters = request.allowedMatters ? request.allowedMatters.filter((m) => wall.has(m)) : [...policy.allowedMatters];
  } else if (request.allowedMatters) {
    matters = [...request.allowedMatters];
  }
  return {
    endpointAllowed: allowed, reason,
    ...(matters ? { allowedMatters: matters } : {}),
    redactPatterns: [...(policy.redactPatterns ?? []), ...(request.redactPatterns ?? [])],
  };
}

/** The endpoints to show a user: the policy's list when it has one, else the build's. */
export function shownOrigins(policy: Policy, buildOrigins: readonly string[]): readonly string[] {
  return policy.allowedEndpoints ?? buildOrigins;
}

/** Settings with the policy's defaults where the user chose nothing. */
export function withPolicyDefaults(policy: Policy, settings: Settings): Settings {
  const out = { ...settings };
  if (policy.serverUrl) out.serverUrl = policy.serverUrl;  // pinned, not a default
  if (!out.endpoint && policy.defaultEndpoint) {
    out.endpoint = policy.defaultEndpoint;
    if (!out.model && policy.defaultModel) out.model = policy.defaultModel;
  }
  return out;
}

/**
 * The Office add-ins' policy: foldback-settings.json next to the task pane.
 * A missing file (404) is no policy; a file that cannot be read or parsed is
 * a problem (fail closed: the wall it may hold must not silently vanish).
 */
export async function fetchServedPolicy(url: string, fetchFn: typeof fetch = fetch): Promise<ParsedPolicy> {
  let res: Response;
  try {
    res = await fetchFn(url, { cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    return { policy: {}, problems: [`${url}: could not be fetched (${(e as Error).message})`] };
  }
  if (res.status === 404) return { policy: {}, problems: [] };
  if (!res.ok) return { policy: {}, problems: [`${url}: HTTP ${res.status}`] };
  let raw: unknown;
  try {
    raw = JSON.parse(await res.text());
  } catch {
    return { policy: {}, problems: [`${url}: not valid JSON`] };
  }
  return parsePolicy(raw, 'foldback-settings.json');
}
