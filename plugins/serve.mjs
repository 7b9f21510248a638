#!/usr/bin/env node
// Serves build/plugins for sideloading the Office add-ins (HTTPS), and for
// the end-to-end tests (HTTP on loopback).
//
//   node plugins/serve.mjs --cert localhost.crt --key localhost.key [--port 3000]
//
// Office requires task panes over HTTPS; the manifests point at
// https://localhost:3000 unless built with FOLDBACK_ADDIN_ORIGIN. The server
// listens on 127.0.0.1 only and sends the same Content-Security-Policy as the
// pages' <meta> tag, plus nosniff.
import http from 'node:http';
import https from 'node:https';
import { readFile, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', '.png': 'image/png', '.svg': 'image/svg+xml',
  '.json': 'application/json', '.xml': 'application/xml; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
};

/**
 * startServer({root, port = 0, tls?: {cert, key}, routes?: {[path]: (req, res) => void}})
 * -> {url, close()}. Files outside root are never served.
 */
export async function startServer({ root, port = 0, tls, routes = {} }) {
  const base = path.resolve(root);
  const handler = async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const route = routes[url.pathname];
    if (route) return route(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405).end(); return; }
    let file = path.resolve(base, '.' + decodeURIComponent(url.pathname));
    if (file !== base && !file.startsWith(base + path.sep)) { res.writeHead(403).end(); return; }
    try {
      if ((await stat(file)).isDirectory()) file = path.join(file, 'index.html');
      const body = await readFile(file);
      const headers = {
        'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
      };
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const { port: actual } = server.address();
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${actual}`,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : undefined; };
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = opt('root') || path.resolve(here, '../build/plugins');
  const cert = opt('cert');
  const key = opt('key');
  if (!cert || !key) {
    console.error('usage: node plugins/serve.mjs --cert CERT.pem --key KEY.pem [--port 3000] [--root build/plugins]\n' +
      'Office loads task panes over HTTPS only; see README "Sideloading the plugins".');
    process.exit(2);
  }
  const s = await startServer({ root, port: Number(opt('port') || 3000), tls: { cert: readFileSync(cert), key: readFileSync(key) } });
  console.log(`serving ${root} at ${s.url.replace('127.0.0.1', 'localhost')} (Ctrl-C to stop)`);
}
