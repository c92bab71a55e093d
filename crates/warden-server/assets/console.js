// Warden console: checks audit-log inclusion proofs and checkpoint
// signatures in the browser, so an auditor need not take the hub's word.
// Leaf and node hashes follow RFC 9162 section 2.1 (SHA-256 of 0x00 || leaf,
// 0x01 || left || right), the inclusion check its section 2.1.3.2; the
// checkpoint is a C2SP signed note checked with WebCrypto's Ed25519
// against the key the auditor pinned. No page needs this script to read.
'use strict';
(function (root) {
  const enc = new TextEncoder();

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  function fromHex(h) {
    if (typeof h !== 'string' || h.length % 2 || /[^0-9a-f]/i.test(h)) throw new Error('malformed hash');
    const out = new Uint8Array(h.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
    return out;
  }
  function fromB64(s) {
    const bin = atob(s);
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  async function sha256(...parts) {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', concat(...parts)));
  }
  function same(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  /** RFC 9162 leaf hash of an event's canonical JSON text (or of bytes). */
  async function leafHash(data) {
    return sha256(Uint8Array.of(0), typeof data === 'string' ? enc.encode(data) : data);
  }

  /** The root an inclusion proof leads to (RFC 9162 2.1.3.2), or an error. */
  async function rootFromInclusion(index, size, leaf, path) {
    if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size)) || index < 0 || index >= size) {
      throw new Error('the event is not within the tree');
    }
    if (leaf.length !== 32 || path.some((p) => p.length !== 32)) throw new Error('a hash of the proof is not 32 bytes');
    let fn = index, sn = size - 1, r = leaf;
    for (const p of path) {
      if (sn === 0) throw new Error('the proof is too long');
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256(Uint8Array.of(1), p, r);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        r = await sha256(Uint8Array.of(1), r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error('the proof is too short');
    return r;
  }

  /** Parses a verifier key `name+keyid+base64(0x01 || key)`. */
  async function parseVkey(vkey) {
    // name+keyid+base64: the base64 may itself hold '+', so only the
    // first two separate.
    const text = (vkey || '').trim();
    const i = text.indexOf('+');
    const j = i < 0 ? -1 : text.indexOf('+', i + 1);
    const parts = j < 0 ? [] : [text.slice(0, i), text.slice(i + 1, j), text.slice(j + 1)];
    if (parts.length !== 3 || !parts[0] || !/^[0-9a-f]{8}$/.test(parts[1])) throw new Error('the verifier key is malformed');
    let raw;
    try { raw = fromB64(parts[2]); } catch (_) { throw new Error('the verifier key is malformed'); }
    if (raw.length !== 33 || raw[0] !== 1) throw new Error('the verifier key is not an Ed25519 key');
    const id = (await sha256(enc.encode(parts[0] + '\n'), raw)).slice(0, 4);
    if (hex(id) !== parts[1]) throw new Error('the verifier key\'s id does not match its key');
    return { name: parts[0], id, key: raw.slice(1) };
  }

  /**
   * Checks a checkpoint note's signature by the pinned key and returns
   * its origin, size and root; throws when it does not verify.
   */
  async function verifyCheckpoint(note, vkey) {
    const k = await parseVkey(vkey);
    const split = note.indexOf('\n\n');
    if (split < 0) throw new Error('the checkpoint is not a signed note');
    const text = note.slice(0, split + 1);
    const lines = text.split('\n');
    if (lines.length < 4) throw new Error('the checkpoint is malformed');
    const size = Number(lines[1]);
    if (!/^[0-9]+$/.test(lines[1]) || !Number.isSafeInteger(size)) throw new Error('the checkpoint\'s size is malformed');
    const rootHash = fromB64(lines[2]);
    if (rootHash.length !== 32) throw new Error('the checkpoint\'s root is malformed');
    const key = await crypto.subtle.importKey('raw', k.key, { name: 'Ed25519' }, false, ['verify']);
    for (const line of note.slice(split + 2).split('\n')) {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m || m[1] !== k.name) continue;
      const blob = fromB64(m[2]);
      if (blob.length !== 68 || !same(blob.slice(0, 4), k.id)) continue;
      if (await crypto.subtle.verify({ name: 'Ed25519' }, key, blob.slice(4), enc.encode(text))) {
        return { origin: lines[0], size, root: rootHash };
      }
      throw new Error('the checkpoint\'s signature does not verify with the trusted key');
    }
    throw new Error('the checkpoint is not signed by the trusted key');
  }

  /**
   * Checks an inclusion proof document (`warden audit proof --json`)
   * against the pinned key; returns what was proved or throws why not.
   */
  async function verifyInclusion(doc, vkey) {
    if (!doc || doc.type !== 'inclusion') throw new Error('not an inclusion proof');
    const cp = await verifyCheckpoint(doc.checkpoint, vkey);
    if (cp.origin !== doc.log_origin) throw new Error('the proof names another log');
    if (cp.size !== doc.tree_size) throw new Error('the proof is not against the signed checkpoint\'s size');
    const leaf = await leafHash(doc.event);
    const root = await rootFromInclusion(doc.leaf_index, doc.tree_size, leaf, doc.proof.map(fromHex));
    if (!same(root, cp.root)) throw new Error('the event is not in the signed tree');
    const event = JSON.parse(doc.event);
    return { event, size: cp.size, origin: cp.origin };
  }

  root.WardenVerify = { leafHash, rootFromInclusion, verifyCheckpoint, verifyInclusion, hex, fromHex };

  if (typeof document === 'undefined') return;
  document.addEventListener('DOMContentLoaded', () => {
    const panel = document.getElementById('verify');
    if (!panel) return;
    if (!(root.crypto && crypto.subtle)) return;
    panel.hidden = false;
    const input = document.getElementById('vkey');
    const out = document.getElementById('verify-out');
    try {
      const pinned = localStorage.getItem('warden.vkey');
      if (pinned) input.value = pinned;
    } catch (_) { /* storage off: the field still works */ }
    input.addEventListener('change', () => {
      try { localStorage.setItem('warden.vkey', input.value.trim()); } catch (_) { /* ignore */ }
    });
    for (const el of document.querySelectorAll('.js-only')) el.hidden = false;
    for (const b of document.querySelectorAll('button.verify')) {
      b.addEventListener('click', async () => {
        const i = Number(b.dataset.index);
        const cell = document.getElementById('r' + i);
        const row = document.getElementById('e' + i);
        cell.textContent = 'checking…';
        try {
          const resp = await fetch('/console/audit/proof/' + i, { credentials: 'same-origin' });
          if (!resp.ok) throw new Error('the hub answered ' + resp.status);
          const got = await verifyInclusion(await resp.json(), input.value);
          const cells = row.querySelectorAll('td');
          if (got.event.seq !== i || got.event.actor !== cells[1].textContent || got.event.action !== cells[2].textContent) {
            throw new Error('the proved event is not the one this row shows');
          }
          cell.textContent = '\u2713 verified';
          cell.className = 'result ok';
          out.textContent = 'Event ' + i + ' is in the log of ' + got.size + ' events (' + got.origin + '), whose checkpoint the trusted key signed.';
        } catch (e) {
          cell.textContent = '\u2717 failed';
          cell.className = 'result bad';
          out.textContent = 'Event ' + i + ' did not verify: ' + e.message + '.';
        }
      });
    }
  });
})(globalThis);
