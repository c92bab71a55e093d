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
  // Generated keys and checkpoints, as the hub makes them: every key's
  // text form tried until one has a '+' in its base64 (which is also the
  // separator of the key's fields), plus keys without.
  let generated = 0;
  let withPlus = 0;
  const nodeCrypto = require('crypto');
  for (let n = 0; n < 400 && (generated < 40 || withPlus < 5); n++) {
    const { privateKey, publicKey } = nodeCrypto.generateKeyPairSync('ed25519');
    const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    const name = 'warden.test/log' + n;
    const raw = Buffer.concat([Buffer.from([1]), pub]);
    const id = nodeCrypto.createHash('sha256').update(Buffer.concat([Buffer.from(name + '\n'), raw])).digest().subarray(0, 4);
    const vkey = `${name}+${id.toString('hex')}+${raw.toString('base64')}`;
    const plus = raw.toString('base64').includes('+');
    if (!plus && generated >= 40) continue;
    const text = `${name}\n8\n${Buffer.from(V.fromHex(d.roots_by_tree_size['8'])).toString('base64')}\n`;
    const sig = nodeCrypto.sign(null, Buffer.from(text), privateKey);
    const note = `${text}\n\u2014 ${name} ${Buffer.concat([id, sig]).toString('base64')}\n`;
    try {
      const got = await V.verifyCheckpoint(note, vkey);
      if (got.size !== 8) fail(`generated key ${n}: size ${got.size}`);
    } catch (e) {
      fail(`generated key ${vkey}: ${e.message}`);
    }
    generated++;
    if (plus) withPlus++;
  }
  if (withPlus < 5) fail(`only ${withPlus} generated keys had a '+' in their base64`);
  if (failures) process.exit(1);
  console.log(`console-verify: ${d.inclusion_proofs.length} inclusion proofs, ${probes} probes, the signed checkpoint and 5 forgeries: all as the vectors say; ${generated} checkpoints signed by generated keys (${withPlus} with a '+' in the key's base64) verify`);
})().catch((e) => { console.error(e); process.exit(1); });
