// The LR tab's entry module. TensorBoard loads it into the tab's iframe
// (frontend_metadata es_module_path "/index.js", served from
// /data/plugin/lr/) and calls render(). Everything it needs is imported
// from beside it: no other origin is allowed by TensorBoard's CSP.

import {App} from './app.js';

function addStylesheet(path) {
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = new URL(path, import.meta.url).href;
  document.head.appendChild(link);
  return new Promise((resolve) => {
    link.addEventListener('load', resolve, {once: true});
    // A missing stylesheet leaves the page plain, not empty.
    link.addEventListener('error', resolve, {once: true});
  });
}

/**
 * Builds the LR tab in this document and starts loading its data.
 * @returns {Promise<App>}
 */
export async function render() {
  const meta = document.createElement('meta');
  meta.name = 'color-scheme';
  meta.content = 'light dark';
  document.head.appendChild(meta);
  await Promise.all([
    addStylesheet('./vendor/uplot/uPlot.min.css'),
    addStylesheet('./style.css'),
  ]);
  const root = document.createElement('div');
  root.className = 'lr-app';
  document.body.appendChild(root);
  const app = new App(root);
  await app.start();
  return app;
}
