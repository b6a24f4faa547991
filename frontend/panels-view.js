// The DOM of the panels under an open record (#record-panels): the heatmap's controls and
// verdict, and similar past cases. Part of the view (view.js creates it); it renders what
// the controller hands it and reports the reader's heatmap choices through a callback.
import {
  DEFAULT_HEATMAP_OPACITY,
  explanationTemplate,
  panelMessageTemplate,
  recordPanelsTemplate,
  similarCasesTemplate,
} from "./trust-templates.js";

export class RecordPanelsView {
  constructor(container) {
    this.container = container;
  }

  /** handler({on, opacity}) when the overlay is switched, or its opacity set while on. */
  bindHeatmap(handler) {
    this.container.addEventListener("click", (event) => {
      const toggle = event.target.closest("button[data-heatmap='toggle']");
      if (!toggle || toggle.disabled) return;
      toggle.setAttribute("aria-pressed", String(toggle.getAttribute("aria-pressed") !== "true"));
      handler(this.heatmapChoice());
    });
    this.container.addEventListener("input", (event) => {
      if (event.target.matches("[data-heatmap='opacity']")) this.#showOpacity();
    });
    // "change" fires once the slider is let go: one overlay request, not one per step.
    this.container.addEventListener("change", (event) => {
      if (event.target.matches("[data-heatmap='opacity']") && this.heatmapChoice().on) {
        handler(this.heatmapChoice());
      }
    });
  }

  /** {on, opacity (0-1)} as the controls stand. */
  heatmapChoice() {
    const toggle = this.container.querySelector("[data-heatmap='toggle']");
    const slider = this.container.querySelector("[data-heatmap='opacity']");
    return {
      on: toggle?.getAttribute("aria-pressed") === "true",
      opacity: slider ? Number(slider.value) / 100 : DEFAULT_HEATMAP_OPACITY,
    };
  }

  render(record) {
    this.container.innerHTML = recordPanelsTemplate(record);
  }

  clear() {
    this.container.innerHTML = "";
  }

  renderExplanation(explanation, record) {
    this.#fill("explanation", explanationTemplate(explanation, record));
  }

  /** The map cannot be had (e.g. a model without explanations): say why, offer no toggle. */
  renderExplanationUnavailable(message) {
    this.#fill("explanation", panelMessageTemplate(message));
    const toggle = this.container.querySelector("[data-heatmap='toggle']");
    if (toggle) {
      toggle.disabled = true;
      toggle.setAttribute("aria-pressed", "false");
    }
  }

  /** Progress or failure of the overlay image itself; "" clears it. */
  setHeatmapStatus(message) {
    const status = this.container.querySelector("[data-testid='heatmap-status']");
    if (status) status.textContent = message;
  }

  renderSimilar(answer) {
    this.#fill("similar-cases", similarCasesTemplate(answer));
  }

  renderSimilarMessage(message) {
    this.#fill("similar-cases", panelMessageTemplate(message));
  }

  #fill(testId, html) {
    const slot = this.container.querySelector(`[data-testid='${testId}']`);
    if (slot) slot.innerHTML = html;
  }

  #showOpacity() {
    const output = this.container.querySelector("[data-testid='heatmap-opacity-value']");
    if (output) output.value = `${Math.round(this.heatmapChoice().opacity * 100)}%`;
  }
}
