// Types for @foldback/core/host: the fetch host for OpenAI-compatible endpoints.
import type { AskHost, Need, NeedResult } from './index.js';

export type Provider = 'openai' | 'azure' | 'ollama' | 'vllm' | 'tei';

export interface LlmHostOptions {
  /** OpenAI-compatible base URL (https://api.openai.com/v1, http://localhost:11434/v1), or an Azure resource / deployment URL. */
  endpoint: string;
  /** Model name; Azure: the deployment (unless the URL names it). */
  model?: string;
  /** Held in memory by the host only: sent in one header, redacted from everything it returns. */
  apiKey?: string;
  /** Where the key came from, for a 401's message ("check the API key in ..."), e.g. "the key saved in Settings"; never the key. Default: "createLlmHost's apiKey". */
  keySource?: string;
  /** Default: 'openai' ('azure' for *.openai.azure.com). */
  provider?: Provider;
  /** Azure api-version. Default: 2024-10-21. */
  apiVersion?: string;
  /** Send response_format json_schema when the session asks for JSON. Default: true. */
  structuredOutput?: boolean;
  /** Retries after the first attempt. Default: 2. */
  maxRetries?: number;
  /** Backoff min(initial * 2^n, max) * (1 - 0.25 U). Defaults: 500, 8000 ms. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Retry-After honoured up to this; longer ends the retries. Default: 60000 ms. */
  maxRetryAfterMs?: number;
  /** A need's time when it has no timeoutMs. Default: 120000 ms. */
  defaultTimeoutMs?: number;
  /** Limit of one attempt; 0 = what is left of the need's time. Default: 0. */
  attemptTimeoutMs?: number;
  /** Requests in flight at once. Default: 16. */
  maxInFlight?: number;
  /** Largest reply accepted. Default: 32 MiB. */
  maxReplyBytes?: number;
  /** Patterns of the core's redaction language (foldback/redact.h; a RegExp's `i` flag becomes (?i)): engine.ask
   *  replaces matches by [REDACTED] in everything it sends, in linear time, and records trace.redactions. */
  redactPatterns?: Array<RegExp | string>;
  fetch?: typeof fetch;
  /** Source of the per-need retry jitter seed, in [0, 1). Default: Math.random. */
  random?: () => number;
}

export interface LlmHost extends AskHost {
  /** The chat completions URL ('' when no endpoint); no secrets in it. */
  readonly url: string;
  readonly provider: Provider;
  readonly model: string;
  /** redactPatterns as the core's language; engine.ask applies them. */
  readonly redactPatterns: string[];
  /** Resolves with the need's result; never rejects. */
  perform(need: Need, options?: { signal?: AbortSignal }): Promise<NeedResult>;
  /** Text with the key (and any 12-character piece of it) replaced by [REDACTED]. */
  redact(text: string): string;
}

export declare function createLlmHost(options: LlmHostOptions): LlmHost;
/** The chat completions URL of an endpoint, as the core resolves it. Needs the module loaded (createEngine first). */
export declare function resolveEndpointUrl(config: { endpoint: string; provider?: Provider; model?: string; apiVersion?: string }): string;
export declare function httpStatusText(status: number): string;
export declare function retryDelayMs(policy: { initialDelayMs?: number; maxDelayMs?: number; maxRetryAfterMs?: number },
  retry: number, retryAfterMs: number, u: number): number;
export declare function parseRetryAfterMs(retryAfterMs: string, retryAfter: string, nowMs?: number): number;
export declare function redactKey(text: string, key: string): string;
