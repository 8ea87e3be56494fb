// Runs every benchmark on this machine, in one session, and writes the figures
// with their references to bench/REPORT.md. Benchmarks report; they do not
// pass or fail.
import { cpus, totalmem } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { benchControllerScale } from './controller-scale.js';
import { benchChaining } from './chaining.js';
import { benchIrisRun } from './iris-run.js';
import { benchPredictions } from './predictions.js';
import { benchPredictionsPage } from './predictions-page.js';
import { benchTrain } from './train.js';

const only = process.argv.slice(2);
const benches: [string, () => Promise<string>][] = [
  ['iris', benchIrisRun],
  ['chaining', benchChaining],
  ['predictions', benchPredictions],
  ['page', benchPredictionsPage],
  ['train', benchTrain],
  ['scale', benchControllerScale],
];

const target = fileURLToPath(new URL('./REPORT.md', import.meta.url));
// Each section is marked with its bench's name, so running a few benches
// replaces only their sections and keeps the others' last figures.
const previous = existsSync(target)
  ? sectionsOf(readFileSync(target, 'utf8'))
  : new Map<string, string>();
const sections: string[] = [];
for (const [name, bench] of benches) {
  if (only.length > 0 && !only.includes(name)) {
    const kept = previous.get(name);
    if (kept !== undefined) sections.push(kept);
    continue;
  }
  console.error(`bench ${name}...`);
  sections.push(`${MARK(name)}\n${await bench()}`);
}

const report = [
  '# Benchmarks',
  '',
  `Last written ${new Date().toISOString()} on ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, by \`npm run bench\`` +
    (only.length > 0 ? ` (${only.join(', ')}; the other sections are from earlier runs).` : '.'),
  '',
  ...sections,
].join('\n');
writeFileSync(target, report);
console.log(report);

function MARK(name: string): string {
  return `<!-- bench:${name} -->`;
}

function sectionsOf(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = text.split(/^(?=<!-- bench:[a-z]+ -->$)/m);
  for (const part of parts) {
    const name = /^<!-- bench:([a-z]+) -->$/m.exec(part)?.[1];
    if (name !== undefined) out.set(name, part.trimEnd() + '\n');
  }
  return out;
}
