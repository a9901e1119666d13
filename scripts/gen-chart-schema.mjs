// @ts-check
/* global process, URL */
// Regenerates the `providers` part of the Helm chart's values.schema.json from the provider types'
// settings schemas (run by `npm run gen:chart-schema`, after the build).
import { readFileSync, writeFileSync } from 'node:fs';
import { BUILT_IN_PROVIDER_TYPES } from '../dist/src/provider/built-in.js';
import { chartValuesSchemaText } from '../dist/src/provider/chart-schema.js';

const file = new URL('../deploy/helm/keymount/values.schema.json', import.meta.url);
writeFileSync(file, chartValuesSchemaText(readFileSync(file, 'utf8'), BUILT_IN_PROVIDER_TYPES));
process.stdout.write(`wrote ${file.pathname}\n`);
