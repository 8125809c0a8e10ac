// `npm run bench`: Mandate's benchmarks. Speed targets live here, never in tests.
//   npm run bench                    every benchmark, readable tables
//   npm run bench -- gateway         only the named ones (token-exchange, gateway, policy, audit, revocation)
//   npm run bench -- --json          machine-readable results
import { freePort } from '../src/lib/free-port.ts';
import { auditBench, printAudit, type AuditBenchResult } from './audit.ts';
import { gatewayBench, printGateway, type GatewayBenchResult } from './gateway.ts';
import { policyBench, printPolicy, type PolicyBenchResult } from './policy.ts';
import { printRevocation, revocationBench, type RevocationBenchResult } from './revocation.ts';
import { printTokenExchange, tokenExchangeBench, type TokenExchangeResult } from './token-exchange.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
/** Options that take a value, as `--name N` or `--name=N`. */
const VALUED = ['--proof-entries'];
const optionValue = (name: string): string | undefined => {
  const at = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (at < 0) return undefined;
  return (args[at] as string).includes('=') ? (args[at] as string).slice(name.length + 1) : args[at + 1];
};
const named = args.filter((a, i) => !a.startsWith('--') && !VALUED.includes(args[i - 1] ?? ''));
const proofEntries = optionValue('--proof-entries');
if (proofEntries !== undefined && !/^[1-9]\d*$/.test(proofEntries)) {
  console.error(`--proof-entries takes a whole number of events, got ${proofEntries}`);
  process.exit(2);
}
const BENCHES = ['token-exchange', 'gateway', 'policy', 'audit', 'revocation'];
const unknown = named.filter((n) => !BENCHES.includes(n));
if (unknown.length) {
  console.error(`unknown benchmark: ${unknown.join(', ')} (choose from ${BENCHES.join(', ')})`);
  process.exit(2);
}
const wanted = (name: string) => named.length === 0 || named.includes(name);

const results: { node: string; tokenExchange?: TokenExchangeResult; gateway?: GatewayBenchResult; policy?: PolicyBenchResult; audit?: AuditBenchResult; revocation?: RevocationBenchResult } = { node: process.version };
if (!json) console.log(`Mandate benchmarks — node ${process.version}\n`);
if (wanted('token-exchange')) {
  results.tokenExchange = await tokenExchangeBench(await freePort());
  if (!json) printTokenExchange(results.tokenExchange);
}
if (wanted('gateway')) {
  if (!json && results.tokenExchange) console.log('');
  results.gateway = await gatewayBench();
  if (!json) printGateway(results.gateway);
}
if (wanted('policy')) {
  if (!json && (results.tokenExchange || results.gateway)) console.log('');
  results.policy = await policyBench({ progress: json ? undefined : (line) => process.stderr.write(`${line}\n`) });
  if (!json) printPolicy(results.policy);
}
if (wanted('audit')) {
  if (!json && (results.tokenExchange || results.gateway || results.policy)) console.log('');
  results.audit = await auditBench({ ...(proofEntries ? { proofEntries: Number(proofEntries) } : {}), progress: json ? undefined : (line) => process.stderr.write(`${line}\n`) });
  if (!json) printAudit(results.audit);
}
if (wanted('revocation')) {
  if (!json && (results.tokenExchange || results.gateway || results.policy || results.audit)) console.log('');
  results.revocation = await revocationBench({ progress: json ? undefined : (line) => process.stderr.write(`${line}\n`) });
  if (!json) printRevocation(results.revocation);
}
if (json) console.log(JSON.stringify(results, null, 2));
if (results.revocation && results.revocation.violations > 0) {
  console.error(`revocation: ${results.revocation.violations} calls were allowed after their revocation was acknowledged`);
  process.exitCode = 1;
}
