import type { OpenApiSchema } from './crd.js';

/**
 * Turns the CRD's OpenAPI v3 (Kubernetes dialect) schema into a JSON Schema that
 * Ajv understands, keeping the meaning the API server gives it:
 * - `exclusiveMinimum: true` (OpenAPI 3.0) becomes the numeric form;
 * - `x-kubernetes-list-type: set` becomes `uniqueItems`;
 * - objects with declared properties reject unknown fields, as `kubectl apply`
 *   does with strict field validation (the server would otherwise drop them
 *   silently, which hides typos);
 * - `x-kubernetes-validations` stay, and are evaluated as CEL by a keyword.
 *
 * With `defaultsRequired`, properties that have a default become required:
 * that is the shape of a spec after defaulting, used for the TypeScript types.
 */
export function toJsonSchema(
  schema: OpenApiSchema,
  options: { defaultsRequired?: boolean } = {},
): OpenApiSchema {
  const out: OpenApiSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'properties' && isRecord(value)) {
      out.properties = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [
          name,
          toJsonSchema(sub as OpenApiSchema, options),
        ]),
      );
    } else if ((key === 'items' || key === 'additionalProperties') && isRecord(value)) {
      out[key] = toJsonSchema(value, options);
    } else if (key === 'anyOf' && Array.isArray(value)) {
      out.anyOf = value.map((sub) => toJsonSchema(sub as OpenApiSchema, options));
    } else {
      out[key] = value;
    }
  }

  if (schema.exclusiveMinimum === true) {
    out.exclusiveMinimum = schema.minimum;
    delete out.minimum;
  }
  if (schema['x-kubernetes-list-type'] === 'set') out.uniqueItems = true;

  const properties = isRecord(schema.properties) ? schema.properties : undefined;
  if (
    properties &&
    schema.additionalProperties === undefined &&
    schema['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    out.additionalProperties = false;
  }
  if (options.defaultsRequired && properties) {
    const required = new Set((schema.required as string[] | undefined) ?? []);
    for (const [name, sub] of Object.entries(properties)) {
      if (isRecord(sub) && 'default' in sub) required.add(name);
    }
    if (required.size > 0) out.required = [...required];
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
