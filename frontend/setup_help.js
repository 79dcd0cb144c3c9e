// What to add to a training script so that a run gets our data: shown for a run without it, and
// when there is no run at all. Each snippet has a Copy button.
import { el, setText } from "./dom.js";

const CUSTOM_LOOP = `import tb_stuckplugin as stuckplugin

with writer.as_default():
    # after optimizer.apply_gradients(zip(grads, model.trainable_variables)):
    stuckplugin.summary.gradient_norms(grads, model.trainable_variables, step=step)
    stuckplugin.summary.weight_deltas(model.trainable_variables, step=step)
    stuckplugin.summary.output_spread(predictions, step=step, inputs=x)`;

const KERAS = `import keras
import tb_stuckplugin as stuckplugin

model.fit(..., callbacks=[keras.callbacks.TensorBoard(log_dir), stuckplugin.keras.StuckMonitor(log_dir)])`;

export function createSetupHelp(intro) {
  return el(
    "section",
    { class: "setup-help" },
    el("p", {}, intro),
    snippet("In a custom training loop", CUSTOM_LOOP),
    snippet("With Keras model.fit", KERAS),
    el(
      "p",
      { class: "muted" },
      "Then keep training: this panel picks the new data up by itself.",
    ),
  );
}

function snippet(title, code) {
  const codeBlock = el("code", {}, code);
  const button = el("button", { type: "button", class: "copy-button" }, "Copy");
  const status = el("span", { class: "copy-status", role: "status" });
  button.addEventListener("click", () => copy(code, codeBlock, status));
  return el(
    "div",
    { class: "snippet" },
    el("div", { class: "snippet-header" }, el("h4", {}, title), status, button),
    el("pre", { tabindex: "0" }, codeBlock),
  );
}

// Copies to the clipboard; where the browser refuses, selects the code for Ctrl+C instead.
async function copy(text, codeBlock, status) {
  try {
    await navigator.clipboard.writeText(text);
    setText(status, "Copied");
  } catch {
    const range = document.createRange();
    range.selectNodeContents(codeBlock);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    setText(status, "Selected: press Ctrl+C to copy");
  }
  setTimeout(() => setText(status, ""), 4000);
}
