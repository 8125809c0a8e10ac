// Where the key-encryption key comes from, and how a missing, malformed, exposed or
// wrong key is refused: by name, never by crashing, never showing the key.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MandateError } from '../errors.ts';
import { KEK_FILE, KekRing, kekId, loadKekRing, newKekText, parseKek, readKekFile, writeNewKekFile } from './kek.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mandate-kek-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const code = (expected: string) => (error: unknown): boolean => {
  assert.ok(error instanceof MandateError, String(error));
  assert.equal(error.code, expected, error.message);
  return true;
};

describe('the key-encryption key', () => {
  it('is 32 bytes of base64, known by an id derived from it', () => {
    const text = newKekText();
    const kek = parseKek(text, 'MANDATE_KEK');
    assert.equal(kek.key.length, 32);
    assert.match(kek.id, /^kek_[A-Za-z0-9_-]{16}$/);
    assert.equal(kek.id, kekId(Buffer.from(text, 'base64')));
    assert.equal(parseKek(`${text.replace(/\+/g, '-').replace(/\//g, '_')}\n`, 'x').id, kek.id, 'base64url and a final newline are the same key');
  });

  it('refuses what is not such a key, without quoting it', () => {
    for (const bad of ['', 'short', Buffer.alloc(16).toString('base64'), Buffer.alloc(48).toString('base64'), `${newKekText()}!`]) {
      assert.throws(() => parseKek(bad, 'MANDATE_KEK'), (error: unknown) => code('kek_invalid')(error) && !(error as Error).message.includes(bad || '\u0000'));
    }
  });

  it('reads a file only its owner may read', async () => {
    const file = join(dir, 'owner-only');
    const kek = await writeNewKekFile(file);
    assert.equal((await readKekFile(file)).id, kek.id);
    await assert.rejects(writeNewKekFile(file), /EEXIST/);
    await chmod(file, 0o644);
    await assert.rejects(readKekFile(file), code('kek_file_permissions'));
    await assert.rejects(readKekFile(join(dir, 'absent')), code('kek_missing'));
  });

  it('is taken from MANDATE_KEK_FILE, else MANDATE_KEK, else the data directory', async () => {
    const dataDir = join(dir, 'data');
    const config = { dataDir, kekFile: null, kekPreviousFile: null };
    const empty = await loadKekRing(config, {});
    assert.equal(empty.current, null);
    assert.throws(() => empty.wrapping(), code('kek_missing'));
    assert.throws(() => empty.unwrapping('kek_x', 'credential crd_1'), code('kek_missing'));

    const inline = newKekText();
    assert.equal((await loadKekRing(config, { MANDATE_KEK: inline })).current?.id, parseKek(inline, 'x').id);
    const file = join(dir, 'configured');
    const fromFile = await writeNewKekFile(file);
    assert.equal((await loadKekRing({ ...config, kekFile: file }, {})).current?.id, fromFile.id);
    await assert.rejects(loadKekRing({ ...config, kekFile: file }, { MANDATE_KEK: inline }), code('invalid_config'));
    await assert.rejects(loadKekRing({ ...config, kekFile: join(dir, 'absent') }, {}), code('kek_missing'));
    await assert.rejects(loadKekRing(config, { MANDATE_KEK: 'not a key' }), code('kek_invalid'));

    const { mkdir } = await import('node:fs/promises');
    await mkdir(dataDir);
    const own = await writeNewKekFile(join(dataDir, KEK_FILE));
    assert.equal((await loadKekRing(config, {})).current?.id, own.id);
    assert.equal((await loadKekRing(config, { MANDATE_KEK: inline })).current?.id, parseKek(inline, 'x').id, 'configured wins over the data directory');
  });

  it('accepts the previous key for unwrapping only, and names a key that is not loaded', async () => {
    const current = parseKek(newKekText(), 'a');
    const previous = parseKek(newKekText(), 'b');
    const ring = new KekRing(current, [previous]);
    assert.equal(ring.wrapping().id, current.id);
    assert.equal(ring.unwrapping(previous.id, 'credential crd_1').id, previous.id);
    assert.throws(() => ring.unwrapping('kek_elsewhere', 'credential crd_1 (github)'), (error: unknown) => {
      code('kek_mismatch')(error);
      assert.match((error as Error).message, /credential crd_1 \(github\) is sealed under key-encryption key kek_elsewhere, which is not loaded/);
      return true;
    });
    const previousFile = join(dir, 'previous');
    const written = await writeNewKekFile(previousFile);
    const loaded = await loadKekRing({ dataDir: dir, kekFile: null, kekPreviousFile: previousFile }, { MANDATE_KEK: newKekText() });
    assert.deepEqual(loaded.previous.map((k) => k.id), [written.id]);
    ring.destroy();
    assert.ok(current.key.every((b) => b === 0), 'destroyed keys are overwritten');
  });

  it('writes nothing of the key into an error about its file', async () => {
    const file = join(dir, 'exposed');
    const text = newKekText();
    await writeFile(file, text, { mode: 0o666 });
    await chmod(file, 0o666);
    await assert.rejects(readKekFile(file), (error: unknown) => code('kek_file_permissions')(error) && !(error as Error).message.includes(text));
  });
});
