// Placeholder for the LR tab's entry module, replaced by the frontend.
// TensorBoard loads this file (es_module_path "/index.js") in an iframe and
// calls render().
export function render() {
  const message = document.createElement('p');
  message.textContent = 'The LR tab frontend is not built yet.';
  document.body.appendChild(message);
}
