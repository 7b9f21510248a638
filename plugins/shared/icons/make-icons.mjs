// Renders icon.svg to the PNG sizes the manifests use, with Debian's Chromium;
// and the unified manifest's outline icon (32x32, white on transparent).
//   node plugins/shared/icons/make-icons.mjs
import { chromium } from 'playwright-core';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const svg = await readFile(path.join(here, 'icon.svg'), 'utf8');
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage();
for (const size of [16, 32, 48, 64, 80, 128, 192]) {
  await page.setViewportSize({ width: size, height: size });
  await page.setContent(`<html><body style="margin:0;background:transparent">${svg.replace('<svg ', `<svg width="${size}" height="${size}" `)}</body></html>`);
  await page.screenshot({ path: path.join(here, `icon-${size}.png`), omitBackground: true });
}
await page.setViewportSize({ width: 32, height: 32 });
// The outline: the same square as a white stroke, the same glyph in white, on transparent.
const outline = svg.replace('<svg ', '<svg width="32" height="32" ')
  .replace('fill="#1f4e79"', 'fill="none" stroke="#ffffff" stroke-width="4"');
await page.setContent(`<html><body style="margin:0;background:transparent">${outline}</body></html>`);
await page.screenshot({ path: path.join(here, 'icon-outline-32.png'), omitBackground: true });
await browser.close();
