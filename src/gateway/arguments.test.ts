// The mapping of request arguments to the views Cedar policies test: every kind of
// value, the derived views, determinism, and the odd JSON that is refused instead of
// mapped in part — and the mapped entities as real Cedar reads them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { ARGUMENT_LIMITS, NO_ARGUMENTS, argumentEntities, commonPath, emailDomains, mapArguments, normalPath, numericReadings, urlHost, type ArgumentViews } from './arguments.ts';

function views(value: unknown): ArgumentViews {
  const mapped = mapArguments(value);
  assert.ok(mapped.ok, JSON.stringify(mapped));
  return mapped.views;
}

/** Plain objects to compare with (the views are prototype-less). */
const plain = (v: ArgumentViews) => JSON.parse(JSON.stringify(v)) as Record<string, unknown>;

function refused(value: unknown, code: string, message: RegExp): void {
  const mapped = mapArguments(value);
  assert.equal(mapped.ok, false, JSON.stringify(mapped));
  if (mapped.ok) return;
  assert.equal(mapped.code, code);
  assert.match(mapped.message, message);
}

describe('argument mapping', () => {
  it('maps each kind of value by its path, nested objects joined with "." and array positions as numbers', () => {
    const v = plain(views({ path: '/reports/q3.txt', amount: 12.5, cents: 1250, force: false, nothing: null, to: { address: 'a@example.com' }, tags: ['x', 'y'] }));
    assert.deepEqual(v.keys, ['amount', 'cents', 'force', 'nothing', 'path', 'tags', 'tags.0', 'tags.1', 'to', 'to.address']);
    assert.deepEqual(v.strings, { path: '/reports/q3.txt', 'tags.0': 'x', 'tags.1': 'y', 'to.address': 'a@example.com' });
    assert.deepEqual(v.numbers, { cents: 1250 });
    assert.deepEqual(v.decimals, { amount: '12.5', cents: '1250.0' });
    assert.deepEqual(v.booleans, { force: false });
  });

  it('reads plain decimal strings as numbers too, and leaves out what no view holds exactly', () => {
    const v = plain(views({ a: '100.50', b: '42', c: '007', d: '1e3', e: 1e21, f: 0.12345, g: 2 ** 53, h: '-0', i: -3 }));
    assert.deepEqual(v.numbers, { b: 42, h: 0, i: -3 });
    assert.deepEqual(v.decimals, { a: '100.5', b: '42.0', h: '0.0', i: '-3.0' });
    assert.equal(Object.keys(v.strings as object).length, 5, 'strings stay strings');
  });

  it('reads numbers within Long and decimal ranges, and only there', () => {
    assert.deepEqual(numericReadings('9007199254740991'), { number: 9007199254740991 }, 'beyond the decimal range');
    assert.deepEqual(numericReadings('9007199254740992'), {}, 'beyond ±(2^53 − 1), and the decimal range');
    assert.deepEqual(numericReadings('922337203685477.5807'), { decimal: '922337203685477.5807' });
    assert.deepEqual(numericReadings('922337203685477.5808'), {});
    assert.deepEqual(numericReadings('-922337203685477.5808'), { decimal: '-922337203685477.5808' });
    assert.deepEqual(numericReadings('12.50000'), { decimal: '12.5' });
    assert.deepEqual(numericReadings('12.00001'), {});
    assert.deepEqual(numericReadings('+1'), {});
    assert.deepEqual(numericReadings('1.'), {});
  });

  it('normalises absolute paths, and gives several paths their deepest common directory', () => {
    assert.equal(normalPath('/reports/../etc/passwd'), '/etc/passwd');
    assert.equal(normalPath('//reports/./q3//x/'), '/reports/q3/x');
    assert.equal(normalPath('/../..'), '/');
    assert.equal(commonPath(['/reports/a.txt']), '/reports/a.txt');
    assert.equal(commonPath(['/reports/a.txt', '/reports/sub/b.txt']), '/reports/');
    assert.equal(commonPath(['/reports/a.txt', '/reports']), '/reports');
    assert.equal(commonPath(['/reports/a', '/etc/passwd']), '/');
    assert.equal(commonPath(['/reportsX/a', '/reports/b']), '/');
    const v = plain(views({ path: '/reports/../etc/passwd', paths: ['/reports/a', '/reports/b/c'], mixed: ['/reports/a', 'relative/b'], rel: 'reports/a' }));
    assert.deepEqual(v.paths, { path: '/etc/passwd', paths: '/reports/' }, 'a key with any value that is no absolute path has no path');
  });

  it('finds the domain after every "@", in every form an address takes', () => {
    assert.deepEqual(emailDomains('bob@Example.COM'), ['example.com']);
    assert.deepEqual(emailDomains('Bob <bob@example.com>'), ['example.com']);
    assert.deepEqual(emailDomains('a@example.com, b@evil.test'), ['example.com', 'evil.test']);
    assert.deepEqual(emailDomains('"x@evil.test"@example.com'), ['evil.test', 'example.com']);
    assert.deepEqual(emailDomains('bob@bücher.example'), ['xn--bcher-kva.example']);
    assert.deepEqual(emailDomains('bob@example.com.'), ['example.com']);
    assert.equal(emailDomains('bob'), null);
    assert.equal(emailDomains('bob@'), null);
    assert.equal(emailDomains('bob@[127.0.0.1]'), null);
    const v = plain(views({ to: ['Bob <bob@example.com>', 'amy@Example.com'], cc: [], bcc: null, reply: 'nobody', list: [{ address: 'x@a.test' }, { address: 'y@b.test' }] }));
    assert.deepEqual(v.emailDomains, { bcc: [], cc: [], 'list.address': ['a.test', 'b.test'], to: ['example.com'] });
  });

  it('reads URL hosts as WHATWG URL parsing does', () => {
    assert.equal(urlHost('https://docs.example.com/a?b'), 'docs.example.com');
    assert.equal(urlHost('https://docs.example.com@evil.test/'), 'evil.test');
    assert.equal(urlHost('HTTPS://EXAMPLE.com./x'), 'example.com');
    assert.equal(urlHost('https:\\\\evil.test\\x'), 'evil.test');
    assert.equal(urlHost('http://[::1]:8080/'), '[::1]');
    assert.equal(urlHost('mailto:bob@example.com'), null);
    assert.equal(urlHost('example.com/x'), null);
    assert.equal(urlHost('file:///etc/passwd'), null);
    const v = plain(views({ url: 'https://docs.example.com/x', urls: ['https://a.test/', 'https://b.test/'], partly: ['https://a.test/', 'b.test'] }));
    assert.deepEqual(v.urlHosts, { url: ['docs.example.com'], urls: ['a.test', 'b.test'] });
  });

  it('never lets an object, a number or an unreadable value narrow a derived view', () => {
    const v = plain(views({ to: { address: 'evil@evil.test' }, mixed: ['a@example.com', 7], long: `https://${'a'.repeat(ARGUMENT_LIMITS.stringLength)}.test/` }));
    assert.deepEqual(v.emailDomains, { 'to.address': ['evil.test'] });
    assert.deepEqual(v.urlHosts, {});
    assert.ok((v.keys as string[]).includes('long'));
    assert.equal((v.strings as Record<string, string>).long, undefined, 'a string over the limit is in no view but keys');
  });

  it('is deterministic: equal arguments in any key order give equal views', () => {
    const a = mapArguments({ b: 1, a: { y: 'x', x: ['/p', '/q'] } });
    const b = mapArguments({ a: { x: ['/p', '/q'], y: 'x' }, b: 1 });
    assert.equal(JSON.stringify(a), JSON.stringify(b));
  });

  it('has no arguments for absent or null ones', () => {
    assert.equal(views(undefined), NO_ARGUMENTS);
    assert.equal(views(null), NO_ARGUMENTS);
    assert.deepEqual(plain(views({})).keys, []);
  });

  it('keeps keys that name Object.prototype members as plain keys', () => {
    const v = views(JSON.parse('{"__proto__": {"admin": true}, "constructor": "x", "toString": 1}'));
    assert.deepEqual(v.keys, ['__proto__', '__proto__.admin', 'constructor', 'toString']);
    assert.equal(v.booleans['__proto__.admin'], true);
    assert.equal(Object.getPrototypeOf(v.strings), null);
    assert.equal(v.strings.constructor, 'x');
  });

  it('maps odd but valid keys deterministically: empty, dotted, numeric, unicode', () => {
    const v = plain(views({ '': 'empty', '0': 'zero', 'ünï': 'u', a: { '': 1 }, 'x.y': 'dotted' }));
    assert.deepEqual(v.keys, ['', '0', 'a', 'a.', 'x.y', 'ünï']);
  });

  it('refuses arguments it cannot map faithfully, saying why', () => {
    refused([1, 2], 'arguments_invalid', /must be a JSON object, not an array/);
    refused('rm -rf', 'arguments_invalid', /not a string/);
    refused(42, 'arguments_invalid', /not a number/);
    refused({ 'to.address': 'ok@example.com', to: { address: 'evil@evil.test' } }, 'arguments_ambiguous', /two values have the path "to.address"/);
    refused({ 'a.0': 'x', a: ['y'] }, 'arguments_ambiguous', /"a.0"/);
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < ARGUMENT_LIMITS.depth; i++) deep = (deep.x = {}) as Record<string, unknown>;
    refused(root, 'arguments_too_complex', /nest deeper than 16 levels/);
    refused({ list: Array.from({ length: ARGUMENT_LIMITS.entries }, (_, i) => i) }, 'arguments_too_complex', /more than 1024 values/);
    refused({ [`k${'x'.repeat(ARGUMENT_LIMITS.keyLength)}`]: 1 }, 'arguments_too_complex', /longer than 512 characters/);
  });

  it('maps up to the limits', () => {
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < ARGUMENT_LIMITS.depth - 1; i++) deep = (deep.x = {}) as Record<string, unknown>;
    assert.ok(mapArguments(root).ok);
    assert.ok(mapArguments({ list: Array.from({ length: ARGUMENT_LIMITS.entries - 1 }, (_, i) => i) }).ok);
    assert.ok(mapArguments({ text: 'x'.repeat(10 * ARGUMENT_LIMITS.stringLength) }).ok, 'long strings are mapped (to keys only), not refused');
  });

  it('gives Cedar entities it reads as the views say, leaving empty views out', () => {
    const entities = argumentEntities(views({ path: '/reports/../etc/x', amount: '999.99', cents: 5, to: ['a@example.com'], flag: true, __proto__x: 'p' }));
    assert.deepEqual(entities.map((e) => e.uid.type), ['Arguments', 'ArgumentNumbers', 'ArgumentDecimals', 'ArgumentBooleans', 'ArgumentPaths', 'ArgumentEmailDomains']);
    const ask = (condition: string) => {
      const answer = cedar.isAuthorized({
        principal: { type: 'Agent', id: 'a' }, action: { type: 'Action', id: 'tools/call' }, resource: { type: 'Tool', id: 't' },
        context: { arguments: { __entity: { type: 'Arguments', id: 'request' } } },
        policies: { staticPolicies: { p: `permit (principal, action, resource) when { ${condition} };` } },
        entities: entities as cedar.Entities,
      });
      assert.equal(answer.type, 'success', JSON.stringify(answer));
      return answer.type === 'success' && answer.response.decision === 'allow' && answer.response.diagnostics.errors.length === 0;
    };
    assert.ok(ask('context.arguments.getTag("path") == "/reports/../etc/x"'));
    assert.ok(ask('context.arguments.paths.getTag("path") == "/etc/x"'));
    assert.ok(ask('context.arguments.numbers.getTag("cents") == 5'));
    assert.ok(ask('context.arguments.decimals.getTag("amount").lessThan(decimal("1000.0"))'));
    assert.ok(ask('context.arguments.booleans.getTag("flag")'));
    assert.ok(ask('context.arguments.email_domains.getTag("to") == ["example.com"]'));
    assert.ok(ask('context.arguments.keys.containsAll(["path", "to", "to.0"])'));
    assert.ok(ask('!context.arguments.url_hosts.hasTag("to")'), 'an empty view is absent: hasTag is false');
    assert.ok(ask('context.arguments.getTag("__proto__x") == "p"'));
  });
});
