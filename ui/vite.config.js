// Build the web client into dist/, served by the server at /app/ (server/ui_routes.py).
// Output is deterministic: content-hashed file names, no timestamps, no source maps,
// so `.ci/run` can rebuild and compare it with the committed copy.
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import vuetify from 'vite-plugin-vuetify'

export default defineConfig({
  base: '/app/',
  plugins: [vue(), vuetify({ autoImport: true })],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    // `npm run dev` proxies the API to a running `langgraph dev` (VITE_API, default :2024).
    proxy: Object.fromEntries(['/threads', '/runs', '/assistants', '/files', '/info'].map(
      (p) => [p, process.env.VITE_API || 'http://127.0.0.1:2024'])),
  },
})
