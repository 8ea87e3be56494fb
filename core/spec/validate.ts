import { evaluate } from '@marcbachmann/cel-js';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { API_GROUP, API_VERSION, KIND, loadCrdSchema, type OpenApiSchema } from './crd.js';
import { toJsonSchema } from './json-schema.js';

/** One problem with a pipeline document, at a field path such as `spec.features[2]`. */
export interface SpecProblem {
  path: string;
  message: string;
}

interface CelRule {
  rule: string;
  message?: string;
  fieldPath?: string;
}

const IDENTIFIER_PATTERN_WORDS: Record<string, string> = {
  '^[A-Za-z_][A-Za-z0-9_$]{0,63}$':
    'must be a SQL identifier: up to 64 letters, digits, _ or $, not starting with a digit',
  '^[A-Za-z_][A-Za-z0-9_$]{0,63}(\\.[A-Za-z_][A-Za-z0-9_$]{0,63})?$':
    'must be a table name (table or database.table; letters, digits, _ or $)',
  '^\\S+(\\s+\\S+){4}$':
    'must be a cron expression of five fields: minute hour day-of-month month day-of-week',
  '^[A-Za-z][A-Za-z0-9_+\\-]*(/[A-Za-z0-9_+\\-]+)*$':
    'must be an IANA time zone name such as Europe/Berlin',
  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$':
    'must be lowercase letters, digits and -, starting and ending with a letter or digit',
};

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (compiled) return compiled;
  const schema = toJsonSchema(loadCrdSchema());
  // metadata is an ObjectMeta: the CRD only constrains its name.
  const metadata = (schema.properties as Record<string, OpenApiSchema>).metadata;
  if (metadata) metadata.additionalProperties = true;

  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
  ajv.addKeyword({ keyword: 'x-kubernetes-list-type' });
  ajv.addKeyword({ keyword: 'x-kubernetes-int-or-string' });
  ajv.addKeyword({ keyword: 'x-kubernetes-preserve-unknown-fields' });
  ajv.addKeyword({
    keyword: 'x-kubernetes-validations',
    errors: true,
    validate: function celRules(this: unknown, rules: CelRule[], data: unknown): boolean {
      const failed = rules.filter((r) => !celHolds(r.rule, data));
      if (failed.length === 0) return true;
      (celRules as unknown as { errors: Partial<ErrorObject>[] }).errors = failed.map((r) => ({
        keyword: 'x-kubernetes-validations',
        message: r.message ?? `failed rule: ${r.rule}`,
        params: { fieldPath: r.fieldPath ?? '' },
      }));
      return false;
    },
  });
  compiled = ajv.compile(schema);
  return compiled;
}

// A rule that cannot be evaluated (a field it reads is missing, say) counts as
// holding: the schema's own required/type errors already report that field.
function celHolds(rule: string, self: unknown): boolean {
  try {
    return evaluate(rule, { self }) === true;
  } catch {
    return true;
  }
}

/**
 * Checks one document against the CRD schema, as the API server would, and
 * fills in defaults in place. Returns every problem found, in document order.
 */
export function checkAgainstSchema(doc: unknown): SpecProblem[] {
  const problems: SpecProblem[] = [];
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return [{ path: '', message: 'must be a YAML mapping (an MLPipeline document)' }];
  }
  const { apiVersion, kind } = doc as { apiVersion?: unknown; kind?: unknown };
  if (apiVersion !== `${API_GROUP}/${API_VERSION}`) {
    problems.push({ path: 'apiVersion', message: `must be ${API_GROUP}/${API_VERSION}` });
  }
  if (kind !== KIND) problems.push({ path: 'kind', message: `must be ${KIND}` });

  const validate = validator();
  if (!validate(doc)) problems.push(...dedupe((validate.errors ?? []).map(toProblem)));
  return problems;
}

function toProblem(error: ErrorObject): SpecProblem {
  let path = pointerToPath(error.instancePath);
  let message = error.message ?? 'is invalid';
  switch (error.keyword) {
    case 'required':
      path = join(path, String(error.params.missingProperty));
      message = 'is required';
      break;
    case 'additionalProperties':
      path = join(path, String(error.params.additionalProperty));
      message = 'is not a known field';
      break;
    case 'enum':
      message = `must be one of: ${(error.params.allowedValues as unknown[]).join(', ')}`;
      break;
    case 'pattern':
      message =
        IDENTIFIER_PATTERN_WORDS[String(error.params.pattern)] ??
        `must match the pattern ${String(error.params.pattern)}`;
      break;
    case 'uniqueItems':
      // Named at the repeated entry, as the API server names it.
      {
        const [first, second] = [Number(error.params.i), Number(error.params.j)].sort(
          (a, b) => a - b,
        );
        path = `${path}[${second}]`;
        message = `repeats entry ${first}; every entry must be different`;
      }
      break;
    case 'x-kubernetes-validations': {
      const fieldPath = String(error.params.fieldPath ?? '');
      if (fieldPath) path = path + fieldPath;
      break;
    }
  }
  return { path, message };
}

function pointerToPath(pointer: string): string {
  if (!pointer) return '';
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : join(acc, part)), '');
}

function join(path: string, field: string): string {
  return path ? `${path}.${field}` : field;
}

// Ajv can report the same problem twice (once per failing branch); a user needs it once.
function dedupe(problems: SpecProblem[]): SpecProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
