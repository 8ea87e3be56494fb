// Writes core/spec/types.generated.ts from the CRD, so the TypeScript types are
// derived from the one schema. `npm test` fails when the file is out of date.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderSpecTypes } from '../core/spec/generate-types.js';

const target = fileURLToPath(new URL('../core/spec/types.generated.ts', import.meta.url));
writeFileSync(target, await renderSpecTypes());
console.log(`wrote ${target}`);
