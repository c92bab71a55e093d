// The console's in-browser proof checker (crates/warden-server/assets/
// console.js) against the RFC 6962 / RFC 9162 vectors the Rust log is
// tested with: every inclusion proof leads to its root, every probe that
// must fail does, and the signed checkpoint verifies with the C2SP
// signed-note test key and fails when a byte of it changes.
//   node scripts/console/verify.cjs
'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');

const repo = path.join(__dirname, '..', '..');
const ctx = { crypto: globalThis.crypto, atob, TextEncoder, console };
ctx.globalThis = ctx;
vm.runInNewContext(fs.readFileSync(path.join(repo, 'crates/warden-server/assets/console.js'), 'utf8'), ctx);
const V = ctx.WardenVerify;
const d = JSON.parse(fs.readFileSync(path.join(repo, 'crates/warden-store/tests/data/rfc6962-vectors.json'), 'utf8'));

let failures = 0;
function fail(what) { failures++; console.error('console-verify: ' + what); }

(async () => {
  for (const [i, input] of d.leaf_inputs_hex.entries()) {
    const got = V.hex(await V.leafHash(V.fromHex(input)));
    if (got !== d.node_hashes_by_level[0][i]) fail(`leaf ${i}: ${got}`);
  }
  for (const p of d.inclusion_proofs) {
    const root = await V.rootFromInclusion(p.leaf_index, p.tree_size, V.fromHex(p.leaf_hash), p.proof.map(V.fromHex));
    if (V.hex(root) !== p.root) fail(`inclusion ${p.leaf_index}/${p.tree_size}: root ${V.hex(root)}`);
  }
  let probes = 0;
  for (const p of d.inclusion_probes) {
    let ok;
    try {
      const root = await V.rootFromInclusion(p.leafIdx, p.treeSize, V.fromHex(p.leafHash), p.proof.map(V.fromHex));
      ok = V.hex(root) === p.root;
    } catch (_) {
      ok = false;
    }
    if (ok === p.wantErr) fail(`probe ${p.file} (${p.desc}): ${ok ? 'accepted' : 'refused'}`);
    probes++;
  }
  const cp = d.checkpoint_example_derived;
  const key = d.signed_note_ed25519.verifier_key;
  const got = await V.verifyCheckpoint(cp.note, key);
  if (got.size !== cp.tree_size || V.hex(got.root) !== d.roots_by_tree_size['8']) fail('checkpoint: wrong size or root');
  for (const [what, note, k] of [
    ['a changed root', cp.note.replace('XcnaeacG', 'XcnaeacH'), key],
    ['a changed size', cp.note.replace('\n8\n', '\n9\n'), key],
    ['another key', cp.note, 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX'],
    ['a key id that is not its key', cp.note, key.replace('c74f20a3', 'c74f20a4')],
    ['no signature', cp.note.split('\n\n')[0] + '\n\n', key],
  ]) {
    try {
      await V.verifyCheckpoint(note, k);
      fail(`checkpoint with ${what} verified`);
    } catch (_) { /* refused, as it must be */ }
  }
  if (failures) process.exit(1);
  console.log(`console-verify: ${d.inclusion_proofs.length} inclusion proofs, ${probes} probes, the signed checkpoint and 5 forgeries: all as the vectors say`);
})().catch((e) => { console.error(e); process.exit(1); });
