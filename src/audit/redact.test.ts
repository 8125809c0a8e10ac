// The redactor: every detector on values of the real shape (made up here from a
// seeded generator: no real secret is in this file), what must stay as it is
// (identifiers, digests, UUIDs, paths, URLs, prose), JSON values with secret-named
// members, the bounded copy for storage, and inputs built to make a scanner slow.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prng } from '../lib/prng.ts';
import { argumentsDigest } from './event.ts';
import {
  COPY_LIMITS, MAX_REDACT_DEPTH, looksRandom, redactText, redactValue, redactedCopy, redactionMarker, secretNameKind, type SecretKind,
} from './redact.ts';

const random = prng(20260901);
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const ALNUM = UPPER + LOWER + DIGITS;
const BASE64URL = `${ALNUM}-_`;
const HEX = '0123456789abcdef';

/** `length` characters of `alphabet`, with at least one upper case letter, one lower case letter and one digit when it has them. */
function fake(alphabet: string, length: number): string {
  for (;;) {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[Math.floor(random() * alphabet.length)];
    const wants = [UPPER, LOWER, DIGITS].filter((set) => [...set].some((c) => alphabet.includes(c)));
    if (wants.every((set) => [...out].some((c) => set.includes(c)))) return out;
  }
}

const b64url = (text: string): string => Buffer.from(text).toString('base64url');

/** Asserts `text` redacts to exactly `expected` and finds exactly `kinds`. */
function redactsTo(text: string, expected: string, kinds: SecretKind[]): void {
  const redacted = redactText(text);
  assert.equal(redacted.text, expected, text);
  assert.deepEqual(redacted.found, kinds, text);
}

const unchanged = (text: string): void => redactsTo(text, text, []);

describe('redactText: secrets of known formats', () => {
  const samples: Array<[SecretKind, string]> = [
    ['aws_access_key_id', `AKIA${fake(UPPER + DIGITS, 16)}`],
    ['aws_access_key_id', `ASIA${fake(UPPER + DIGITS, 16)}`],
    ['github_token', `ghp_${fake(ALNUM, 36)}`],
    ['github_token', `gho_${fake(ALNUM, 36)}`],
    ['github_token', `ghu_${fake(ALNUM, 36)}`],
    ['github_token', `ghs_${fake(ALNUM, 36)}`],
    ['github_token', `ghr_${fake(ALNUM, 36)}`],
    ['github_token', `github_pat_${fake(ALNUM, 22)}_${fake(ALNUM, 59)}`],
    ['gitlab_token', `glpat-${fake(`${ALNUM}-_`, 20)}`],
    ['slack_token', `xoxb-${fake(DIGITS, 12)}-${fake(DIGITS, 13)}-${fake(ALNUM, 24)}`],
    ['slack_token', `xoxp-${fake(DIGITS, 12)}-${fake(DIGITS, 12)}-${fake(DIGITS, 13)}-${fake(HEX, 32)}`],
    ['stripe_key', `sk_live_${fake(ALNUM, 24)}`],
    ['stripe_key', `rk_live_${fake(ALNUM, 24)}`],
    ['stripe_key', `sk_test_${fake(ALNUM, 24)}`],
    ['google_api_key', `AIza${fake(BASE64URL, 35)}`],
    ['openai_api_key', `sk-${fake(ALNUM, 48)}`],
    ['openai_api_key', `sk-proj-${fake(BASE64URL, 120)}`],
    ['anthropic_api_key', `sk-ant-api03-${fake(BASE64URL, 93)}AA`],
    ['npm_token', `npm_${fake(ALNUM, 36)}`],
    ['twilio_api_key', `SK${fake(HEX, 32)}`],
    ['sendgrid_api_key', `SG.${fake(BASE64URL, 22)}.${fake(BASE64URL, 43)}`],
    ['jwt', `${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url('{"sub":"alice","exp":1900000000}')}.${fake(BASE64URL, 43)}`],
    ['jwt', `${b64url('{"alg":"none"}')}.${b64url('{"sub":"alice"}')}.`],
  ];
  for (const [kind, secret] of samples) {
    it(`replaces ${kind} ${secret.slice(0, 8)}… inside text`, () => {
      redactsTo(`value: ${secret}`, `value: ${redactionMarker(kind)}`, [kind]);
      redactsTo(`"${secret}"`, `"${redactionMarker(kind)}"`, [kind]);
      redactsTo(`${secret}\n${secret} and ${secret}.`, `${redactionMarker(kind)}\n${redactionMarker(kind)} and ${redactionMarker(kind)}.`, [kind]);
    });
  }

  it('replaces a Slack webhook URL after its path, keeping the host', () => {
    const url = `https://hooks.slack.com/services/T${fake(UPPER + DIGITS, 8)}/B${fake(UPPER + DIGITS, 10)}/${fake(ALNUM, 24)}`;
    redactsTo(`posting to ${url} now`, `posting to https://hooks.slack.com/services/${redactionMarker('slack_webhook')} now`, ['slack_webhook']);
  });

  it('replaces a PEM private key block whole, of every key type, and one cut short to the end', () => {
    const body = Array.from({ length: 6 }, () => fake(`${ALNUM}+/`, 64)).join('\n');
    for (const type of ['', 'RSA ', 'EC ', 'OPENSSH ', 'ENCRYPTED ', 'DSA ']) {
      const pem = `-----BEGIN ${type}PRIVATE KEY-----\n${body}\n-----END ${type}PRIVATE KEY-----`;
      redactsTo(`key:\n${pem}\ndone`, `key:\n${redactionMarker('private_key')}\ndone`, ['private_key']);
      redactsTo(JSON.stringify({ key: pem }).slice(1, -1), `"key":"${redactionMarker('private_key')}"`, ['private_key']);
    }
    redactsTo(`-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n${body}\n-----END PGP PRIVATE KEY BLOCK-----`, redactionMarker('private_key'), ['private_key']);
    redactsTo(`start -----BEGIN RSA PRIVATE KEY-----\n${body.slice(0, 100)}`, `start ${redactionMarker('private_key')}`, ['private_key']);
  });

  it('leaves certificates and public keys alone, in PEM and in OpenSSH form', () => {
    const body = Array.from({ length: 4 }, () => fake(`${ALNUM}+/`, 64)).join('\n');
    unchanged(`-----BEGIN PUBLIC KEY-----\n${body}\n-----END PUBLIC KEY-----`);
    unchanged(`chain:\n-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`);
    unchanged(`ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${fake(`${ALNUM}+/`, 43)} alice@laptop`);
    unchanged(`ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ${fake(`${ALNUM}+/`, 300)} deploy`);
  });

  it('replaces the password of a URL, keeping scheme, user, host and the rest', () => {
    const password = fake(ALNUM, 16);
    const marker = redactionMarker('url_password');
    redactsTo(`postgres://app:${password}@db.internal:5432/orders?sslmode=require`, `postgres://app:${marker}@db.internal:5432/orders?sslmode=require`, ['url_password']);
    redactsTo(`DATABASE_URL="mysql://root:${password}@localhost/app"`, `DATABASE_URL="mysql://root:${marker}@localhost/app"`, ['url_password']);
    redactsTo(`redis://:${password}@cache:6379/0`, `redis://:${marker}@cache:6379/0`, ['url_password']);
    redactsTo(`mongodb+srv://svc:${password}@cluster0.example.net/db`, `mongodb+srv://svc:${marker}@cluster0.example.net/db`, ['url_password']);
    redactsTo(`https://deploy:p%40ss${password}@git.example.com/repo.git`, `https://deploy:${marker}@git.example.com/repo.git`, ['url_password']);
    redactsTo('amqp://guest:guest@rabbit/', `amqp://guest:${marker}@rabbit/`, ['url_password']);
  });

  it('replaces Authorization credentials, keeping the header and its scheme', () => {
    const token = fake(BASE64URL, 40);
    const marker = redactionMarker('authorization');
    redactsTo(`Authorization: Bearer ${token}`, `Authorization: Bearer ${marker}`, ['authorization']);
    redactsTo(`curl -H "authorization: bearer ${token}" https://api.example.com`, `curl -H "authorization: bearer ${marker}" https://api.example.com`, ['authorization']);
    redactsTo(`{"Authorization":"Basic ${Buffer.from('alice:opensesame').toString('base64')}"}`, `{"Authorization":"Basic ${marker}"}`, ['authorization']);
    redactsTo(`Proxy-Authorization: Basic ${Buffer.from('bob:hunter2').toString('base64')}`, `Proxy-Authorization: Basic ${marker}`, ['authorization']);
    redactsTo(`authorization=${token}`, `authorization=${marker}`, ['authorization']);
    redactsTo(`send it as Bearer ${token} in the header`, `send it as Bearer ${marker} in the header`, ['authorization']);
    redactsTo(`Basic ${Buffer.from('aladdin:opensesame').toString('base64')}`, `Basic ${marker}`, ['authorization']);
    unchanged('Bearer tokens are short-lived; basic authentication is not offered.');
  });

  it('replaces the value after a secret\'s name, keeping the name and the quotes', () => {
    const value = fake(ALNUM, 20);
    redactsTo(`DB_PASSWORD=${value}\nDB_USER=app`, `DB_PASSWORD=${redactionMarker('password')}\nDB_USER=app`, ['password']);
    redactsTo(`password: "correct horse battery"`, `password: "${redactionMarker('password')}"`, ['password']);
    redactsTo(`{"client_secret": "${value}", "client_id": "app"}`, `{"client_secret": "${redactionMarker('secret_field')}", "client_id": "app"}`, ['secret_field']);
    redactsTo(`{\\"api_key\\": \\"${value}\\"}`, `{\\"api_key\\": \\"${redactionMarker('secret_field')}\\"}`, ['secret_field']);
    redactsTo(`GET /v1/data?api_key=${value}&page=2`, `GET /v1/data?api_key=${redactionMarker('secret_field')}&page=2`, ['secret_field']);
    redactsTo(`mytool --access-token=${value} --verbose`, `mytool --access-token=${redactionMarker('secret_field')} --verbose`, ['secret_field']);
    redactsTo(`X-Api-Key: ${value}`, `X-Api-Key: ${redactionMarker('secret_field')}`, ['secret_field']);
    redactsTo(`Cookie: session=${value}; theme=dark\nAccept: */*`, `Cookie: ${redactionMarker('secret_field')}\nAccept: */*`, ['secret_field']);
    redactsTo(`aws_secret_access_key = ${fake(`${ALNUM}+/`, 40)}`, `aws_secret_access_key = ${redactionMarker('aws_secret_access_key')}`, ['aws_secret_access_key']);
    redactsTo(`"SecretAccessKey": "${fake(`${ALNUM}+/`, 40)}"`, `"SecretAccessKey": "${redactionMarker('aws_secret_access_key')}"`, ['aws_secret_access_key']);
    redactsTo(`Password: hunter2`, `Password: ${redactionMarker('password')}`, ['password']);
  });

  it('leaves a secret\'s name alone when what follows is no value: prose, placeholders, masks, variables', () => {
    unchanged('Password: required. The token: expired.');
    unchanged('password: ******** token=*** secret: "" api_key: <your key> client_secret=${CLIENT_SECRET} token: null');
    unchanged('{"password": null, "has_token": true, "max_tokens": 1024, "token_count": 3, "nextPageToken": "CAIQAA", "secret_name": "prod-db"}');
    unchanged('"dependencies": { "jsonwebtoken": "^9.0.3" }, "_meta": { "progressToken": "p-7" }');
  });

  it('leaves code that names secrets alone: types, comparisons, references, calls', () => {
    unchanged('constructor(baseUrl: string, token: string | null) {');
    unchanged('if (token === null) throw unauthorized(\'send Authorization: Bearer <admin credential>\');');
    unchanged('const token = bearerToken(req);\nconst password = await vault.read(path);\nthis.#token = token;');
    unchanged('headers: { authorization: req.headers.authorization, cookie: [...jar].join(), secret: 3 }');
    unchanged('Every request needs `Authorization: DPoP <task token>`; the control plane takes `Authorization: Bearer` with the admin credential.');
    unchanged('headers: { authorization: `Bearer ${token}` }');
  });

  it('names every kind found once, sorted, and finds nothing twice in its own markers', () => {
    const text = `jwt ${b64url('{"alg":"HS256"}')}.${b64url('{"sub":"a"}')}.${fake(BASE64URL, 43)} key AKIA${fake(UPPER + DIGITS, 16)} again AKIA${fake(UPPER + DIGITS, 16)}`;
    const once = redactText(text);
    assert.deepEqual(once.found, ['aws_access_key_id', 'jwt']);
    assert.deepEqual(redactText(once.text), { text: once.text, found: [] });
  });
});

describe('redactText: high-entropy tokens', () => {
  it('replaces random base64 and base64url tokens of 24 characters and more', () => {
    for (const length of [24, 32, 40, 64, 200]) {
      const tokens = Array.from({ length: 200 }, () => fake(BASE64URL, length));
      const flagged = tokens.filter((t) => redactText(`x ${t} y`).text === `x ${redactionMarker('high_entropy')} y`).length;
      assert.ok(flagged >= (length === 24 ? 180 : 194), `${flagged} of 200 random tokens of ${length} replaced`);
    }
    const standard = Buffer.from(Array.from({ length: 48 }, () => Math.floor(random() * 256))).toString('base64');
    redactsTo(`secret blob ${standard}`, `secret blob ${redactionMarker('high_entropy')}`, ['high_entropy']);
  });

  it('replaces only the random segment of a path', () => {
    const token = fake(ALNUM, 32);
    redactsTo(`GET /v1/files/${token}/download`, `GET /v1/files/${redactionMarker('high_entropy')}/download`, ['high_entropy']);
  });

  it('leaves hex, UUIDs, digests, identifiers, paths, URLs, encoded short words and prose alone', () => {
    const hex = fake(HEX, 64);
    unchanged(argumentsDigest({ path: '/reports/q3.txt', password: 'x' }));
    unchanged(`sha256:${hex} sha1:${hex.slice(0, 40)} commit ${hex.slice(0, 40)} ${hex.toUpperCase()}`);
    unchanged('123e4567-e89b-12d3-a456-426614174000 550E8400-E29B-41D4-A716-446655440000 01ARZ3NDEKTSV4RRFFQ69G5FAV');
    unchanged(`integrity sha512-${Buffer.from(hex, 'hex').toString('base64')}`);
    unchanged('getUserNameFromDatabase2Async AbstractSingletonProxyFactoryBean2 test_UserCanLoginWithOAuth2Token x86_64-unknown-linux-gnu2Target');
    unchanged('/usr/local/lib/node_modules/typescript/lib/typescript.js C:\\Users\\alice\\AppData\\Local\\Programs2024\\Code.exe ./src/gateway/StreamableHttpSession2.ts');
    unchanged('https://github.com/modelcontextprotocol/typescript-sdk/blob/main/README.md https://example.com/api/v2/items?page=2&sort=created_at#section-3');
    unchanged(`${Buffer.from('hello').toString('base64')} ${Buffer.from('Hello, world').toString('base64')} ${b64url('password')}`);
    unchanged('The quick brown fox jumps over the lazy dog. Invoice 2024-00017 is due on 2024-01-15T10:30:00Z; call +1 555 0100.');
    unchanged('read_file {"path":"/reports/q3.txt"} ran in 12.5 ms');
  });

  it('reads as random only tokens that mix case and digits, are not hex and are not words', () => {
    assert.equal(looksRandom(fake(BASE64URL, 40)), true);
    assert.equal(looksRandom(fake(LOWER + DIGITS, 40)), false);
    assert.equal(looksRandom(fake(UPPER + LOWER, 40)), false);
    assert.equal(looksRandom(fake(HEX, 40)), false);
    assert.equal(looksRandom('aA1'.repeat(20)), false);
    assert.equal(looksRandom(fake(BASE64URL, 23)), false);
  });
});

describe('redactValue', () => {
  it('redacts inside strings at every depth, keeping structure, numbers, booleans and null', () => {
    const key = `AKIA${fake(UPPER + DIGITS, 16)}`;
    const value = { path: '/reports/q3.txt', n: 3, ok: true, none: null, nested: [{ note: `use ${key} for it` }, [`${key}`]] };
    const redacted = redactValue(value);
    assert.deepEqual(redacted.value, {
      path: '/reports/q3.txt', n: 3, ok: true, none: null,
      nested: [{ note: `use ${redactionMarker('aws_access_key_id')} for it` }, [redactionMarker('aws_access_key_id')]],
    });
    assert.deepEqual(redacted.found, ['aws_access_key_id']);
    assert.equal((value.nested[0] as { note: string }).note, `use ${key} for it`, 'the original is not touched');
  });

  it('replaces the whole value of a member named as a secret, whatever the case and separators', () => {
    const names = ['password', 'Passwd', 'db_password', 'secret', 'client_secret', 'clientSecret', 'client-secret', 'token', 'access_token', 'refreshToken',
      'api_key', 'apiKey', 'API-KEY', 'apikey', 'x-api-key', 'access_key', 'AccessKey', 'private_key', 'privateKey', 'Authorization', 'cookie', 'Set-Cookie',
      'passphrase', 'credentials', 'aws_secret_access_key', 'SecretAccessKey', 'db.password'];
    for (const name of names) {
      const kind = secretNameKind(name);
      assert.ok(kind, name);
      assert.deepEqual(redactValue({ [name]: 'plain words here', other: 'kept' }).value, { [name]: redactionMarker(kind), other: 'kept' }, name);
      assert.deepEqual(redactValue({ [name]: { user: 'u', nested: [1, 2] } }).value, { [name]: redactionMarker(kind) }, name);
      assert.deepEqual(redactValue({ [name]: 123456 }).value, { [name]: redactionMarker(kind) }, name);
    }
    assert.equal(secretNameKind('password'), 'password');
    assert.equal(secretNameKind('Authorization'), 'authorization');
    assert.equal(secretNameKind('aws_secret_access_key'), 'aws_secret_access_key');
    assert.equal(secretNameKind('api_key'), 'secret_field');
  });

  it('keeps members whose names only look like a secret\'s, and secret members with nothing to hide', () => {
    for (const name of ['max_tokens', 'token_count', 'tokens', 'nextPageToken', 'next_token', 'secret_name', 'password_policy', 'key', 'keys', 'public_key', 'monkey', 'author']) {
      assert.equal(secretNameKind(name), null, name);
    }
    const value = { password: '', secret: null, token: false, api_key: '********', client_secret: '${CLIENT_SECRET}', max_tokens: 100 };
    assert.deepEqual(redactValue(value), { value, found: [] });
  });

  it('redacts member names too, and keeps a member named __proto__ as data', () => {
    const token = `ghp_${fake(ALNUM, 36)}`;
    const value = JSON.parse(`{"${token}": 1, "__proto__": {"password": "p"}}`) as Record<string, unknown>;
    const redacted = redactValue(value).value as Record<string, unknown>;
    assert.deepEqual(Object.keys(redacted), [redactionMarker('github_token'), '__proto__']);
    assert.deepEqual(redacted.__proto__, { password: redactionMarker('password') });
    assert.equal(Object.getPrototypeOf(redacted), Object.prototype);
  });

  it(`replaces what is nested deeper than ${MAX_REDACT_DEPTH} levels instead of walking it`, () => {
    let deep: unknown = `AKIA${fake(UPPER + DIGITS, 16)}`;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    const text = JSON.stringify(redactValue(deep).value);
    assert.doesNotMatch(text, /AKIA/);
    assert.match(text, /TRUNCATED: nested deeper than 64 levels/);
  });
});

describe('redactedCopy', () => {
  const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

  it('is the redacted value itself when it is within the limits', () => {
    const args = { to: 'bob@example.com', password: 'hunter2', body: 'see you' };
    assert.deepEqual(redactedCopy(args), { value: { to: 'bob@example.com', password: redactionMarker('password'), body: 'see you' }, found: ['password'] });
    assert.deepEqual(COPY_LIMITS, { maxString: 1024, maxBytes: 8192 });
  });

  it('cuts long strings after redacting them, saying how long they were', () => {
    const key = `AKIA${fake(UPPER + DIGITS, 16)}`;
    const text = `${'a '.repeat(505)}${key}${' b'.repeat(1000)}`; // the key straddles the cut at 1024
    const copy = redactedCopy({ text }).value as { text: string };
    assert.equal(copy.text, `${`${'a '.repeat(505)}${redactionMarker('aws_access_key_id')}${' b'.repeat(1000)}`.slice(0, 1024)}[TRUNCATED: ${text.length - key.length + redactionMarker('aws_access_key_id').length} characters in all]`);
    assert.doesNotMatch(copy.text, /AKIA/);
    assert.deepEqual(redactedCopy({ text: 'x'.repeat(50) }, { maxString: 10 }).value, { text: `${'x'.repeat(10)}[TRUNCATED: 50 characters in all]` });
  });

  it('keeps the copy within maxBytes, replacing the largest parts with their size', () => {
    const args = { query: 'select 1', options: { limit: 10 }, rows: Array.from({ length: 200 }, (_, i) => ({ id: i, text: 'y'.repeat(300) })), blob: 'z'.repeat(1000) };
    const copy = redactedCopy(args).value as typeof args;
    assert.ok(bytes(copy) <= 8192, `${bytes(copy)} bytes`);
    assert.equal(copy.query, 'select 1');
    assert.deepEqual(copy.options, { limit: 10 });
    assert.equal(copy.blob, 'z'.repeat(1000));
    assert.ok(copy.rows.length > 10 && copy.rows.length < 200);
    assert.deepEqual(copy.rows.slice(0, 3), args.rows.slice(0, 3));
    assert.match(String(copy.rows.at(-1)), /^\[TRUNCATED \d+ bytes\]$/);
    const small = redactedCopy(args, { maxBytes: 512 }).value;
    assert.ok(bytes(small) <= 512, `${bytes(small)} bytes`);
    assert.deepEqual(redactedCopy(Array.from({ length: 20 }, () => 'x'.repeat(100)), { maxBytes: 40 }).value, `[TRUNCATED ${20 * 102 + 21} bytes]`);
  });

  it('stays within the limits for any shape', () => {
    const shapes: unknown[] = [
      Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, i])),
      Array.from({ length: 10_000 }, (_, i) => i),
      { a: { b: { c: { d: Array.from({ length: 100 }, () => ({ e: 'f'.repeat(2000) })) } } } },
      'g'.repeat(100_000),
    ];
    for (const shape of shapes) assert.ok(bytes(redactedCopy(shape).value) <= 8192);
  });
});

describe('redaction of adversarial input', () => {
  const MB = 1 << 20;
  const fill = (unit: string): string => unit.repeat(Math.ceil(MB / unit.length)).slice(0, MB);
  const secret = `ghp_${fake(ALNUM, 36)}`;

  it('completes on a megabyte built against each pattern, and still finds the secret after it', () => {
    const units = ['eyJ', 'eyJab.', 'a://b:', '-----BEGIN RSA PRIVATE KEY-----', 'password=', 'password: "', `${'x'.repeat(63)}:`, 'Bearer ', 'Authorization: ',
      'aA1', 'AKIA', 'sk-', 'ghp_', 'SG.', `SG.${'a'.repeat(22)}.`, 'https://hooks.slack.com/services/', '\\"password\\": \\"', 'Ab1/', ':', '=', '"', 'a '];
    for (const unit of units) {
      const redacted = redactText(`${fill(unit)} ${secret}`);
      assert.ok(!redacted.text.includes(secret) || unit.startsWith('-----BEGIN'), unit);
      assert.ok(redacted.text.length > 0);
    }
    const noise = Buffer.from(Array.from({ length: MB }, () => Math.floor(random() * 256))).toString('base64');
    assert.deepEqual(redactText(noise), { text: redactionMarker('high_entropy'), found: ['high_entropy'] });
  });

  it('redacts a megabyte of JSON with secrets spread through it', () => {
    const rows = Array.from({ length: 5000 }, (_, i) => ({ id: i, name: `row ${i}`, note: i % 500 === 0 ? `key ${secret}` : 'nothing here at all', token: i % 1000 === 0 ? `t${i}` : null }));
    const redacted = redactValue(rows);
    const text = JSON.stringify(redacted.value);
    assert.doesNotMatch(text, /ghp_/);
    assert.deepEqual(redacted.found, ['github_token', 'secret_field']);
    assert.equal((redacted.value as typeof rows)[1]?.note, 'nothing here at all');
  });
});
