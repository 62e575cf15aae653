#!/usr/bin/env node
// dist/bundle is `npm run build`'s output: the CLI bundled for start-up time (src/build/bundle.mjs).
import { runMain } from '../dist/bundle/main.js';

await runMain();
