// The LR tab's entry module. TensorBoard loads it into the tab's iframe
// (frontend_metadata es_module_path "/index.js", served from
// /data/plugin/lr/) and calls render(). Everything it needs is imported
// from beside it: no other origin is allowed by TensorBoard's CSP.

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
 * @returns {Promise<import('./app.js').App>}
 */
export async function render() {
  const meta = document.createElement('meta');
  meta.name = 'color-scheme';
  meta.content = 'light dark';
  document.head.appendChild(meta);
  // The run list, the stylesheets and the rest of the code load at once (the
  // charts' widths, which decide how many points to fetch, need the styles).
  // Every module is named here, none imported statically, so the browser
  // fetches them all in parallel as soon as render() is called rather than
  // finding app.js's imports, then chart.js's, one level at a time. (The
  // update-ratio and range-test sections' modules load when a selected run
  // needs them.)
  const listing = import('./api.js').then((api) => api.fetchRuns()).catch((error) => error);
  // Asked first (a browser asks a server six files at a time): what the run
  // list needs, then the largest.
  const first = [import('./packed_arrays.js'), import('./vendor/uplot/uPlot.esm.js')];
  const [{App}] = await Promise.all([
    import('./app.js'),
    ...first,
    import('./chart.js'),
    import('./colors.js'),
    import('./constants.js'),
    import('./data_loading.js'),
    import('./deviation_rows.js'),
    import('./downloads.js'),
    import('./format.js'),
    import('./main_lines.js'),
    import('./preferences.js'),
    import('./run_selection.js'),
    import('./series_math.js'),
    import('./series_names.js'),
    import('./side_panels.js'),
    import('./small_charts.js'),
    import('./views.js'),
    import('./x_axis.js'),
    addStylesheet('./vendor/uplot/uPlot.min.css'),
    addStylesheet('./style.css'),
  ]);
  const root = document.createElement('div');
  root.className = 'lr-app';
  document.body.appendChild(root);
  try {
    const app = new App(root);
    await app.start(await listing);
    return app;
  } catch (error) {
    // A bug, not bad data (the app reports those itself): say so on the page too.
    const message = document.createElement('p');
    message.className = 'lr-fatal';
    message.textContent = `The LR tab failed to start: ${error.message}`;
    root.replaceChildren(message);
    throw error;
  }
}
