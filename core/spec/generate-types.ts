import { compile } from 'json-schema-to-typescript';
import { loadCrdSchema, type OpenApiSchema } from './crd.js';
import { toJsonSchema } from './json-schema.js';

const HEADER = `/* eslint-disable */
/**
 * Generated from crds/mlpipeline.dev_mlpipelines.yaml by \`npm run gen:types\`.
 * Do not edit: change the CRD and regenerate. Fields with a default in the CRD
 * are required here, because a validated spec always has them.
 */`;

/** The TypeScript source of the spec types, as derived from the CRD. */
export async function renderSpecTypes(): Promise<string> {
  const schema = toJsonSchema(loadCrdSchema(), { defaultsRequired: true });
  const properties = schema.properties as Record<string, OpenApiSchema>;
  // Named types for the parts code passes around; the rest stay inline.
  const spec = properties.spec as OpenApiSchema & { properties: Record<string, OpenApiSchema> };
  spec.title = 'MLPipelineSpec';
  const specProps = spec.properties;
  (specProps.source as OpenApiSchema).title = 'SourceSpec';
  // The same definition appears twice in the CRD (a YAML anchor); one type for both.
  const predict = specProps.predict as OpenApiSchema & {
    properties: Record<string, OpenApiSchema>;
  };
  predict.properties.source = specProps.source as OpenApiSchema;
  (specProps.features as OpenApiSchema).tsType = 'string[]';
  (specProps.train as OpenApiSchema).title = 'TrainSpec';
  (specProps.clean as OpenApiSchema).title = 'CleanSpec';
  (specProps.modelStore as OpenApiSchema).title = 'ModelStoreSpec';
  (specProps.predict as OpenApiSchema).title = 'PredictSpec';
  const stages = specProps.stages as OpenApiSchema & { properties: Record<string, OpenApiSchema> };
  const settings = stages.properties.collect as OpenApiSchema;
  settings.title = 'StageSettings';
  for (const name of Object.keys(stages.properties)) stages.properties[name] = settings;
  delete properties.status;

  const ts = await compile({ ...schema, title: 'MLPipelineDocument' }, 'MLPipelineDocument', {
    bannerComment: HEADER,
    additionalProperties: false,
    strictIndexSignatures: true,
    format: true,
    unknownAny: true,
    style: { singleQuote: true, printWidth: 100, trailingComma: 'all' },
  });
  return ts;
}
