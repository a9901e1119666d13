/* global process, console */
// Prints vitest's JSON results as the plain closing line CI reads: "N passed, N failed".
import { readFileSync } from 'node:fs';

const label = process.argv[3] ?? 'Tests';
const results = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const skipped = results.numPendingTests + results.numTodoTests;
console.log(`${label}: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped`);
