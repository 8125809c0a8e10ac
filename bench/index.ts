// `npm run bench`: Mandate's benchmarks. Speed targets live here, never in tests.
//   npm run bench            readable tables
//   npm run bench -- --json  machine-readable results
import { freePort } from '../src/lib/free-port.ts';
import { printTokenExchange, tokenExchangeBench } from './token-exchange.ts';

const json = process.argv.includes('--json');
const results = { node: process.version, tokenExchange: await tokenExchangeBench(await freePort()) };
if (json) console.log(JSON.stringify(results, null, 2));
else {
  console.log(`Mandate benchmarks — node ${process.version}\n`);
  printTokenExchange(results.tokenExchange);
}
