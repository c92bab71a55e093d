// The web console in a real browser: Debian's headless Chromium driven by
// Playwright, against `warden hub serve` on 127.0.0.1 over a copy of a demo
// workspace, with a stand-in identity provider (authorization code + PKCE,
// ES256 ID tokens) served here. It signs people in, browses a model and its
// evaluation, verifies an audit proof in the page (and sees a tampered one
// and a wrong pinned key fail), sees a CLI promotion appear, sees pages
// refused to the wrong role, checks every page with axe-core (no serious or
// critical violation), at 375 px (nothing scrolls sideways), and by
// keyboard; screenshots go to $WARDEN_SCREENSHOTS.
//   node browser.cjs WARDEN_BIN WORKSPACE NODE_MODULES_DIR
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');
const { spawn, execFileSync } = require('child_process');

const [WARDEN, WS, MODULES] = process.argv.slice(2);
const { chromium } = require(path.join(MODULES, 'playwright-core'));
const AXE = path.join(MODULES, 'axe-core', 'axe.min.js');
const SHOTS = process.env.WARDEN_SCREENSHOTS || '';
const ISS = 'https://idp.console-test.invalid/';
const AUD = 'warden-hub';

let failures = 0;
function check(ok, what) {
  if (ok) {
    console.log('  ok   ' + what);
  } else {
    failures++;
    console.log('  FAIL ' + what);
  }
}

// ---------------------------------------------------------------------------
// The stand-in identity provider.

const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = publicKey.export({ format: 'jwk' });
const b64u = (b) => Buffer.from(b).toString('base64url');
function idToken(claims) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64u(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: 'k1' }));
  const body = b64u(JSON.stringify({ iss: ISS, aud: AUD, iat: now, exp: now + 900, ...claims }));
  const sig = crypto.sign('sha256', Buffer.from(header + '.' + body), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return header + '.' + body + '.' + b64u(sig);
}
const idp = { who: 'aud@example.com', codes: new Map(), n: 0 };
const idpServer = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://idp');
  if (url.pathname === '/authorize') {
    const q = url.searchParams;
    if (q.get('code_challenge_method') !== 'S256' || q.get('response_type') !== 'code') {
      res.writeHead(400).end('bad request');
      return;
    }
    const code = 'c' + ++idp.n;
    idp.codes.set(code, { challenge: q.get('code_challenge'), nonce: q.get('nonce'), who: idp.who, redirect: q.get('redirect_uri') });
    const to = new URL(q.get('redirect_uri'));
    to.searchParams.set('code', code);
    to.searchParams.set('state', q.get('state'));
    res.writeHead(302, { Location: to.toString() }).end();
    return;
  }
  if (url.pathname === '/token' && req.method === 'POST') {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const p = new URLSearchParams(body);
      const g = idp.codes.get(p.get('code'));
      idp.codes.delete(p.get('code'));
      const verifier = p.get('code_verifier') || '';
      const ok = g && b64u(crypto.createHash('sha256').update(verifier).digest()) === g.challenge && p.get('redirect_uri') === g.redirect;
      res.setHeader('Content-Type', 'application/json');
      if (!ok) {
        res.writeHead(400).end(JSON.stringify({ error: 'invalid_grant' }));
        return;
      }
      res.end(JSON.stringify({ token_type: 'Bearer', access_token: 'opaque', id_token: idToken({ sub: g.who, email: g.who, nonce: g.nonce }) }));
    });
    return;
  }
  res.writeHead(404).end();
});

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

function warden(actor, args) {
  return execFileSync(WARDEN, args, { cwd: WS, env: { ...process.env, WARDEN_ACTOR: actor, WARDEN_PROGRESS: 'none' }, encoding: 'utf8' });
}

async function startHub(idpBase, port) {
  fs.writeFileSync(path.join(WS, 'console-jwks.json'), JSON.stringify({ keys: [{ ...jwk, kid: 'k1', alg: 'ES256', use: 'sig' }] }));
  const cfg = path.join(WS, 'console-hub.toml');
  fs.writeFileSync(cfg, [
    `addr = "127.0.0.1:${port}"`,
    'reload_interval_seconds = 0.3',
    'default_rate_limit = { per_second = 1000.0, burst = 1000 }',
    '[[issuer]]', 'name = "corp"', `issuer = "${ISS}"`, `audience = "${AUD}"`,
    'jwks_file = "console-jwks.json"', 'algorithms = ["ES256"]', 'principal_claim = "email"',
    '[issuer.browser]', 'client_id = "warden-console"',
    `authorization_endpoint = "${idpBase}/authorize"`, `token_endpoint = "${idpBase}/token"`,
    `redirect_uri = "http://127.0.0.1:${port}/console/callback"`, '',
  ].join('\n'));
  const hub = spawn(WARDEN, ['hub', 'serve', '--config', cfg], { cwd: WS, env: { ...process.env, WARDEN_ACTOR: 'omar' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the hub did not start: ' + err)), 30000);
    hub.stderr.on('data', (c) => {
      err += c;
      if (err.includes('listening on')) { clearTimeout(t); resolve(); }
    });
    hub.on('exit', (code) => reject(new Error('the hub exited ' + code + ': ' + err)));
  });
  // Keep draining its log: a full pipe would stall it.
  hub.stderr.on('data', () => {});
  return hub;
}

async function shot(page, name) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

async function signIn(context, base, who) {
  idp.who = who;
  const page = await context.newPage();
  await page.goto(base + '/console/');
  // No session: the sign-in page.
  await page.waitForURL('**/console/login');
  await page.getByRole('link', { name: /Sign in with corp/ }).click();
  await page.waitForURL(base + '/console/');
  return page;
}

(async () => {
  await new Promise((r) => idpServer.listen(0, '127.0.0.1', r));
  const idpBase = 'http://127.0.0.1:' + idpServer.address().port;
  warden('ana', ['roles', 'grant', 'corp.aud@example.com', 'auditor']);
  warden('ana', ['roles', 'grant', 'corp.ops@example.com', 'operator']);
  const port = await freePort();
  const base = 'http://127.0.0.1:' + port;
  const hub = await startHub(idpBase, port);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    console.log('console-browser: sign-in and browsing (auditor)');
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(ctx, base, 'aud@example.com');
    check((await page.locator('#who').innerText()).includes('corp.aud@example.com'), 'signed in as corp.aud@example.com through the identity provider');
    const cookies = await ctx.cookies();
    const session = cookies.find((c) => c.name === '__Host-warden-session');
    check(session && session.httpOnly && session.secure && session.sameSite === 'Strict', 'the session cookie is HttpOnly, Secure, SameSite=Strict');
    check(!(await page.evaluate(() => document.cookie)).includes('warden-session'), 'page scripts cannot read the session');
    await shot(page, 'models');
    await page.getByRole('link', { name: 'credit', exact: true }).first().click();
    await page.waitForURL('**/console/models/credit');
    await shot(page, 'model');
    await page.getByRole('link', { name: 'v1', exact: true }).first().click();
    await page.waitForURL('**/console/models/credit/versions/1');
    check(await page.locator('#metrics').isVisible(), 'the version page shows the evaluation figures with intervals');
    check((await page.locator('#fairness tbody tr').count()) > 0, 'and fairness per group');
    check((await page.locator('#lineage ~ figure svg').count()) === 1, 'and the lineage graph');
    await shot(page, 'version');
    await page.getByRole('link', { name: /^Evaluation \d+$/ }).first().click();
    await page.waitForURL('**/evaluations/*');
    check((await page.locator('svg').count()) >= 2, 'the evaluation report opens with its charts');
    await shot(page, 'evaluation');

    console.log('console-browser: the audit log verified in the browser');
    await page.goto(base + '/console/audit');
    check(await page.locator('#verify').isVisible(), 'the verification panel appears when scripts run');
    const first = page.locator('button.verify').first();
    const idx = await first.getAttribute('data-index');
    await first.click();
    await page.locator('#r' + idx).filter({ hasText: /verified|failed/ }).waitFor();
    check((await page.locator('#r' + idx).innerText()).includes('verified'), `event ${idx}: inclusion proof and checkpoint signature verify in the page (${await page.locator('#verify-out').innerText()})`);
    await shot(page, 'audit');
    // A proof tampered on the way (one hash of the path changed).
    await page.route('**/console/audit/proof/*', async (route) => {
      const resp = await route.fetch();
      const doc = await resp.json();
      if (doc.proof.length) {
        const h = doc.proof[0];
        doc.proof[0] = (h[0] === '0' ? '1' : '0') + h.slice(1);
      } else {
        doc.event = doc.event.replace('"seq"', '"seq" ');
      }
      await route.fulfill({ response: resp, json: doc });
    });
    const second = page.locator('button.verify').nth(1);
    const idx2 = await second.getAttribute('data-index');
    await second.click();
    await page.locator('#r' + idx2).filter({ hasText: /verified|failed/ }).waitFor();
    check((await page.locator('#r' + idx2).innerText()).includes('failed'), `event ${idx2}: a tampered proof fails`);
    await page.unroute('**/console/audit/proof/*');
    // A pinned key other than the log's.
    const vkey = await page.locator('#vkey').inputValue();
    await page.locator('#vkey').fill(vkey.replace(/\+([0-9a-f]{8})\+/, '+00000000+'));
    await second.click();
    await page.locator('#r' + idx2).filter({ hasText: /verified|failed/ }).waitFor();
    check((await page.locator('#r' + idx2).innerText()).includes('failed'), 'a proof checked against another pinned key fails');
    check((await page.locator('#verify-out').innerText()).length > 0, 'and the page says why');
    await page.locator('#vkey').fill(vkey);
    await shot(page, 'audit-tampered');

    console.log('console-browser: a CLI promotion appears');
    warden('sam', ['promote', 'credit-weekly@1', '--to', 'dev']);
    await page.goto(base + '/console/environments');
    const dev = page.locator('h2:text-is("dev") + div table');
    check((await dev.innerText()).includes('credit-weekly'), 'credit-weekly@1, promoted with the CLI, is listed in dev');
    await shot(page, 'environments');

    console.log('console-browser: the wrong role is refused');
    await page.goto(base + '/console/models/credit/versions/3');
    await page.locator('form[action$="/promote"] button').first().click();
    check((await page.locator('h1').innerText()).includes('Forbidden'), 'an auditor pressing Promote gets a refusal page');
    check((await page.locator('#message').innerText()).includes('your roles do not allow'), 'saying the roles do not allow it');
    await shot(page, 'forbidden');
    const nobody = await signIn(await browser.newContext(), base, 'new@example.com');
    check((await nobody.locator('#message').innerText()).includes('your roles do not allow'), 'a person with no role sees no model');

    console.log('console-browser: an operator promotes from the console');
    const opsCtx = await browser.newContext();
    const ops = await signIn(opsCtx, base, 'ops@example.com');
    await ops.goto(base + '/console/models/credit-mlp/versions/1');
    await ops.locator('form[action$="/promote"]:has(input[value="dev"]) button').click();
    check((await ops.locator('#outcome').innerText()).includes('credit-mlp v1 to dev'), 'the promotion form answers with the gate\'s decision');
    const log = JSON.parse(warden('ana', ['audit', 'log', '--json']));
    const last = log[log.length - 1];
    check(last.actor === 'corp.ops@example.com' && last.action.startsWith('model.'), 'recorded under the operator\'s principal');
    await ops.getByRole('button', { name: 'Sign out' }).click();
    await ops.waitForURL('**/console/login');
    await ops.goto(base + '/console/');
    check(ops.url().endsWith('/console/login'), 'signed out, the console asks to sign in again');

    console.log('console-browser: accessibility (axe-core), 375 px, keyboard');
    const pages = ['/console/', '/console/models/credit', '/console/models/credit/versions/1', '/console/models/credit/versions/1/passport', '/console/models/credit/versions/1/card', '/console/models/credit/drift',
      '/console/environments', '/console/approvals', '/console/incidents', '/console/keys', '/console/audit'];
    // axe is injected as a script, which the console's policy forbids:
    // this context alone bypasses the policy, to measure.
    const axeCtx = await browser.newContext({ bypassCSP: true });
    const axePage = await signIn(axeCtx, base, 'aud@example.com');
    for (const p of ['/console/login', ...pages]) {
      await axePage.goto(base + p);
      await axePage.addScriptTag({ path: AXE });
      const r = await axePage.evaluate(async () => {
        const out = await globalThis.axe.run(document, { resultTypes: ['violations'] });
        return out.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map((v) => v.id + ' (' + v.nodes.length + '): ' + v.nodes.slice(0, 2).map((n) => n.target.join(' ')).join(', '));
      });
      check(r.length === 0, `axe: ${p}: no serious or critical violation${r.length ? ': ' + r.join('; ') : ''}`);
    }
    const phone = await browser.newContext({ viewport: { width: 375, height: 800 }, isMobile: true });
    const phonePage = await signIn(phone, base, 'aud@example.com');
    for (const p of pages) {
      await phonePage.goto(base + p);
      const m = await phonePage.evaluate(() => {
        const cw = document.documentElement.clientWidth;
        // The outermost elements that stick out, to say what to fix.
        const out = [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > cw + 1 && !(e.parentElement && e.parentElement.getBoundingClientRect().right > cw + 1))
          .slice(0, 3)
          .map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ')[0] : ''));
        return { sw: document.documentElement.scrollWidth, cw, out };
      });
      check(m.sw <= m.cw, `375 px: ${p} does not scroll sideways (${m.sw} in ${m.cw})${m.out.length ? ': ' + m.out.join(', ') : ''}`);
    }
    await phonePage.goto(base + '/console/models/credit/versions/1');
    await shot(phonePage, 'version-375');
    // Keyboard: the skip link comes first, then every link and control by Tab.
    await page.goto(base + '/console/');
    await page.keyboard.press('Tab');
    check(await page.evaluate(() => document.activeElement.classList.contains('skip')), 'keyboard: the first Tab reaches "Skip to content"');
    const reached = new Set();
    let onAudit = false;
    for (let i = 0; i < 40 && !onAudit; i++) {
      await page.keyboard.press('Tab');
      const text = await page.evaluate(() => document.activeElement.textContent.trim());
      reached.add(text);
      onAudit = text === 'Audit log';
    }
    check(['Models', 'Environments', 'Approvals', 'Audit log'].every((t) => reached.has(t)), 'keyboard: Tab walks the navigation in order');
    await page.keyboard.press('Enter');
    await page.waitForURL('**/console/audit');
    check(true, 'keyboard: Enter on "Audit log" opens the audit log');
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(() => document.activeElement.matches('button.verify'))) break;
    }
    check(await page.evaluate(() => document.activeElement.matches('button.verify')), 'keyboard: the Verify buttons are reachable by Tab');
  } finally {
    await browser.close();
    hub.kill();
    idpServer.close();
  }
  if (failures) {
    console.log(`console-browser: ${failures} check(s) failed`);
    process.exit(1);
  }
  console.log('console-browser: every check passed' + (SHOTS ? '; screenshots in ' + SHOTS : ''));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
