// render.mjs - renders reportd's sample HTML reports in Debian's Chromium and
// measures them: each report inside an iframe 375 px and 800 px wide (headless
// windows do not go narrower than ~500 px), light and dark colour schemes,
// with and without the <style> block (several mail clients strip it).
//
//   node tests/html/render.mjs SAMPLES_DIR [SCREENSHOT_DIR]
//
// Prints one JSON object: {"checked": N, "problems": [...]}; exits 1 when
// there are problems.  With SCREENSHOT_DIR, saves one PNG per rendering.
import { readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { join, basename } from 'node:path';
import { chromium } from 'playwright-core';

const WIDTHS = [375, 800];
const SCHEMES = ['light', 'dark'];
// Every report has these sections (ids in templates/body.html.mustache).
const SECTIONS = ['header', 'greeting', 'score', 'tasks', 'advice', 'skills', 'level', 'about'];
// WCAG AA for body text.
const MIN_CONTRAST = 4.5;

const [samplesDir, shotDir] = process.argv.slice(2);
if (!samplesDir) {
  console.error('usage: node render.mjs SAMPLES_DIR [SCREENSHOT_DIR]');
  process.exit(64);
}
if (shotDir) mkdirSync(shotDir, { recursive: true });

const stripStyle = (html) => html.replace(/<style[\s\S]*?<\/style>/gi, '');

// The wrapper: the report in an iframe of the given width, as a narrow mail reader shows it.
const wrapper = (html, width) =>
  `<!DOCTYPE html><html><body style="margin:0">` +
  `<iframe id="mail" style="border:0; width:${width}px; height:400px; display:block" ` +
  `srcdoc="${html.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"></iframe></body></html>`;

// Runs inside the report's frame: what overflows, which sections are missing or
// unreadable, and the card's colours.
function measure(args) {
  const { sections, minContrast } = args;
  const problems = [];
  const doc = document.documentElement;
  const width = doc.clientWidth;
  const parse = (c) => {
    const m = c.match(/rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/);
    return m ? { r: +m[1], g: +m[2], b: +m[3], a: m[4] === undefined ? 1 : +m[4] } : null;
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c && c.a > 0.5) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const contrast = (a, b) => {
    const [x, y] = [lum(a) + 0.05, lum(b) + 0.05];
    return x > y ? x / y : y / x;
  };
  if (doc.scrollWidth > width) problems.push(`page scrolls sideways: ${doc.scrollWidth}px in ${width}px`);
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    const st = getComputedStyle(el);
    if (st.display === 'none' || r.width === 0) continue;
    if (r.right > width + 0.5) {
      problems.push(`<${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}> ends at ${Math.round(r.right)}px`);
      break;
    }
  }
  for (const id of sections) {
    const el = document.getElementById(id);
    if (!el) { problems.push(`section #${id} missing`); continue; }
    const r = el.getBoundingClientRect();
    const st = getComputedStyle(el);
    if (r.height < 10 || r.width < 100 || st.visibility === 'hidden' || st.display === 'none') {
      problems.push(`section #${id} not visible (${Math.round(r.width)}x${Math.round(r.height)})`);
      continue;
    }
    // Readable: the section's text against what is actually behind it.
    const text = [...el.querySelectorAll('p, h1, h2, li, th, td')].find((x) => x.textContent.trim());
    if (text) {
      const fg = parse(getComputedStyle(text).color);
      const ratio = contrast(fg, background(text));
      if (ratio < minContrast) problems.push(`section #${id}: text contrast ${ratio.toFixed(2)}`);
    }
  }
  const card = document.querySelector('.bg-card');
  return {
    problems,
    height: doc.scrollHeight,
    cardLuminance: card ? lum(parse(getComputedStyle(card).backgroundColor)) : null,
  };
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const problems = [];
let checked = 0;
try {
  const files = readdirSync(samplesDir).filter((f) => f.endsWith('.html')).sort();
  for (const scheme of SCHEMES) {
    const page = await browser.newPage({ viewport: { width: 900, height: 800 } });
    await page.emulateMedia({ colorScheme: scheme });
    for (const file of files) {
      const original = readFileSync(join(samplesDir, file), 'utf8');
      for (const styled of [true, false]) {
        const html = styled ? original : stripStyle(original);
        for (const width of WIDTHS) {
          const name = `${basename(file, '.html')}-${width}-${scheme}${styled ? '' : '-nostyle'}`;
          await page.setContent(wrapper(html, width), { waitUntil: 'load' });
          const frame = page.frames().find((f) => f !== page.mainFrame());
          const got = await frame.evaluate(measure, { sections: SECTIONS, minContrast: MIN_CONTRAST });
          for (const p of got.problems) problems.push(`${name}: ${p}`);
          // With the style block, dark mode must turn the card dark; without it the light design stays.
          if (scheme === 'dark' && styled && !(got.cardLuminance < 0.1))
            problems.push(`${name}: dark mode left the card light`);
          if (scheme === 'light' && !(got.cardLuminance > 0.8))
            problems.push(`${name}: light mode card is not light`);
          if (shotDir) {
            await page.evaluate((h) => { document.getElementById('mail').style.height = `${h}px`; }, got.height);
            await page.locator('#mail').screenshot({ path: join(shotDir, `${name}.png`) });
          }
          checked++;
        }
      }
    }
    await page.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ checked, problems }));
process.exit(problems.length ? 1 : 0);
