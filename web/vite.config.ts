// `npm run build:web`: the page (web/) and the library as one browser bundle, to dist/web/.
// The page imports the engine from src/ (TypeScript, resolved by Vite); the library bundle
// is src/browser.ts as an ES module (dist/web/lib/webgpu-dl.js), usable from a <script type="module">.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

const here = import.meta.dirname;
const lib = process.env.WEB_BUILD === 'lib';

export default defineConfig({
  root: here,
  base: './',
  logLevel: 'warn',
  build: lib
    ? {
        outDir: resolve(here, '../dist/web/lib'),
        emptyOutDir: true,
        target: 'es2022',
        sourcemap: true,
        lib: { entry: resolve(here, '../src/browser.ts'), formats: ['es'], fileName: () => 'webgpu-dl.js' },
      }
    : {
        outDir: resolve(here, '../dist/web'),
        emptyOutDir: true,
        target: 'es2022',
        sourcemap: true,
      },
});
