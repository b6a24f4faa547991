// Pure HTML for the review panel: the actions a reviewer may take and the review history.
import { classDisplayName, formatDateTime } from "./format.js";
import { shortcutHelp } from "./shortcuts.js";
import { escapeHtml, hasClass } from "./templates.js";

const ACTION_NAMES = {
  confirm: "Confirmed",
  correct: "Corrected",
  reject: "Rejected",
  withdraw: "Withdrawn (undo): not reviewed",
};

function correctButtons(classes, record) {
  return classes
    .map((label, index) => {
      // data-same: stays disabled whatever else enables the buttons.
      const same = label === record.label;
      return `<button type="button" class="button small" data-review="correct" data-label="${escapeHtml(
        label,
      )}" disabled${same ? " data-same" : ""}><kbd>${index + 1}</kbd> ${escapeHtml(classDisplayName(label))}</button>`;
    })
    .join("");
}

/**
 * The review form; classes are the model's, in order, for "correct to". A record without a
 * class (an image not read for tumours) has nothing to confirm: it is corrected or rejected.
 * undo: {text} of the last review saved here in this session, offered as a new review that
 * supersedes it; null when there is none. The buttons start disabled: view.js enables them
 * once the record's image is on screen.
 */
export function reviewFormTemplate(record, classes, { undo = null } = {}) {
  const canConfirm = hasClass(record);
  const confirm = canConfirm
    ? `<button type="button" class="button primary" data-review="confirm" data-testid="review-confirm" disabled><kbd>C</kbd> Confirm</button>`
    : "";
  const why = canConfirm
    ? ""
    : `<p class="muted review-why" data-testid="review-no-confirm">No class to confirm: this image was not read for tumours. Correct it to a class if it is a brain MRI, or reject it.</p>`;
  return `<form class="review-form" data-testid="review-form" data-record-id="${escapeHtml(record.id)}">
    ${why}
    <label for="review-note" class="review-note-label">Note (optional)</label>
    <textarea id="review-note" class="review-note" rows="2" maxlength="2000" data-testid="review-note"></textarea>
    <div class="review-actions">
      ${confirm}
      <span class="review-correct" role="group" aria-label="Correct to">${correctButtons(classes, record)}</span>
      <button type="button" class="button danger" data-review="reject" data-testid="review-reject" disabled><kbd>R</kbd> Reject</button>
      <button type="button" class="button ghost" data-review="next" data-testid="next-unreviewed"><kbd>N</kbd> Next unreviewed</button>
    </div>
    ${undoTemplate(undo)}
    <p class="review-off" data-testid="review-off" role="status">Review opens once the image of record #${escapeHtml(
      record.id,
    )} is on screen.</p>
    <p class="muted review-help">${escapeHtml(shortcutHelp(classes, { canConfirm }))}</p>
  </form>`;
}

function undoTemplate(undo) {
  if (!undo) return "";
  return `<p class="review-undo-line" data-testid="review-undo-line">${escapeHtml(undo.text)}
      <button type="button" class="button small ghost" data-review="undo" data-testid="review-undo"><kbd>U</kbd> Undo</button></p>`;
}

/** The reviews of a record, oldest first. */
export function reviewHistoryTemplate(reviews, { timeZone } = {}) {
  if (!reviews || reviews.length === 0) {
    return `<p class="muted" data-testid="review-history-empty">Not reviewed yet.</p>`;
  }
  const items = reviews
    .map((review) => {
      const action = ACTION_NAMES[review.action] ?? review.action;
      const label = review.label ? ` to ${classDisplayName(review.label)}` : "";
      const note = review.note ? `<p class="review-note-text">${escapeHtml(review.note)}</p>` : "";
      return `<li class="review-item" data-testid="review-item" data-action="${escapeHtml(review.action)}">
        <p><strong>${escapeHtml(action + label)}</strong> by ${escapeHtml(review.reviewer_name ?? "unknown")}
        · <time datetime="${escapeHtml(review.created_at)}">${escapeHtml(
          formatDateTime(review.created_at, { timeZone }),
        )}</time></p>${note}
      </li>`;
    })
    .join("\n");
  return `<ol class="review-history" data-testid="review-history">${items}</ol>`;
}
