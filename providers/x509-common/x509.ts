/**
 * The one place that loads @peculiar/x509; certificate providers import it
 * from here (values) or as `import type` (types).
 */
// tsyringe, a dependency of @peculiar/x509, needs the Reflect metadata API at load time.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// The library keeps one process-wide crypto provider; pin it to node's WebCrypto.
x509.cryptoProvider.set(webcrypto);

export { x509 };
