import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { baseImages } from './dockerfile.js';

describe('baseImages', () => {
  const cases: { name: string; dockerfile: string; expected: string[] | RegExp }[] = [
    {
      name: 'a plain FROM',
      dockerfile: 'FROM debian:bookworm\nRUN true\n',
      expected: ['debian:bookworm'],
    },
    {
      name: 'an ARG default, in both spellings, used by two stages',
      dockerfile:
        'ARG BASE="node:22-slim"\nFROM ${BASE} AS build\nRUN true\nFROM $BASE\nCOPY --from=build /a /a\n',
      expected: ['node:22-slim'],
    },
    {
      name: 'a stage built on an earlier stage is not a base',
      dockerfile: 'FROM alpine AS deps\nFROM deps AS build\nFROM --platform=linux/amd64 busybox\n',
      expected: ['alpine', 'busybox'],
    },
    {
      name: 'comments and continued lines',
      dockerfile: '# FROM not-this\nARG \\\n  IMG=scratch-ish\nFROM \\\n  ${IMG}\n',
      expected: ['scratch-ish'],
    },
    {
      name: 'an ARG declared after the first FROM does not name a base',
      dockerfile: 'FROM a\nARG LATER=b\nFROM ${LATER}\n',
      expected: /ARG LATER, which has no default/,
    },
    { name: 'an ARG without a default', dockerfile: 'ARG X\nFROM $X\n', expected: /ARG X/ },
  ];

  for (const c of cases) {
    it(c.name, () => {
      if (c.expected instanceof RegExp) assert.throws(() => baseImages(c.dockerfile), c.expected);
      else assert.deepEqual(baseImages(c.dockerfile), c.expected);
    });
  }

  it("names one fully qualified Node LTS slim image for the project's Dockerfile", () => {
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    const bases = baseImages(dockerfile);
    assert.equal(bases.length, 1, `expected one base image, got ${bases.join(', ')}`);
    const m = /^docker\.io\/library\/node:(\d+)-bookworm-slim$/.exec(bases[0]!);
    assert.ok(m, `${bases[0]} is not docker.io/library/node:<major>-bookworm-slim`);
    assert.equal(Number(m[1]) % 2, 0, `node ${m[1]} is not an LTS line`);
    assert.ok(Number(m[1]) >= 22, `node ${m[1]} is past its end of life`);
  });
});
