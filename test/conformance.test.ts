// The MCP conformance suite passes through the gateway wherever it passes directly:
// the whole comparison of `npm run conformance` (every server scenario, against the
// fixture directly, through Mandate to it over stdio and over streamable HTTP).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareConformance, TARGETS } from '../scripts/conformance.ts';

describe('npm run conformance', () => {
  it('passes through the gateway every server scenario that passes directly, over stdio and HTTP upstreams', { timeout: 150_000 }, async () => {
    const { scenarios, regressions } = await compareConformance();
    const failures = (target: typeof TARGETS[number]) => scenarios.filter((s) => !s.results[target]?.passed)
      .map((s) => `${s.scenario}: ${s.results[target]?.failures.join('; ') ?? 'not run'}`);
    assert.ok(scenarios.length >= 30, `the suite ran ${scenarios.length} server scenarios`);
    // The fixture implements what every scenario asks of a server.
    assert.deepEqual(failures('direct'), []);
    assert.deepEqual(regressions, [], `through the gateway:\n${[...failures('gateway-stdio'), ...failures('gateway-http')].join('\n')}`);
    for (const target of TARGETS) assert.ok(scenarios.every((s) => s.results[target] !== null), `every scenario ran ${target}`);
  });
});
