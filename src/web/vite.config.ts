// Builds the staff app into src/web/dist, which the HTTP server serves at / (src/http/server.ts).
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  plugins: [react()],
  build: { outDir: `${root}dist`, emptyOutDir: true },
  // `npm run dev:web` talks to an `arrears start` on the default port.
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
});
