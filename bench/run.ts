// Runs every benchmark on this machine, in one session, and writes the figures
// with their references to bench/REPORT.md. Benchmarks report; they do not
// pass or fail.
import { cpus, totalmem } from 'node:os';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { benchControllerScale } from './controller-scale.js';
import { benchChaining } from './chaining.js';
import { benchIrisRun } from './iris-run.js';
import { benchPredictions } from './predictions.js';
import { benchTrain } from './train.js';

const only = process.argv.slice(2);
const benches: [string, () => Promise<string>][] = [
  ['iris', benchIrisRun],
  ['chaining', benchChaining],
  ['predictions', benchPredictions],
  ['train', benchTrain],
  ['scale', benchControllerScale],
];

const sections: string[] = [];
for (const [name, bench] of benches) {
  if (only.length > 0 && !only.includes(name)) continue;
  console.error(`bench ${name}...`);
  sections.push(await bench());
}

const report = [
  '# Benchmarks',
  '',
  `Measured ${new Date().toISOString()} on ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}. Written by \`npm run bench\`.`,
  '',
  ...sections,
].join('\n');
const target = fileURLToPath(new URL('./REPORT.md', import.meta.url));
writeFileSync(target, report);
console.log(report);
