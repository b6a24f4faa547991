// Keyboard shortcuts for reviewing and for the record view. Pure: maps a key press to an
// intent, or null.

/** Keys in fields are text, not commands. */
const TYPING_TAGS = new Set(["INPUT", "TEXTAREA", "SELECT"]);

/**
 * keyEvent: {key, ctrlKey, metaKey, altKey, targetTag}; classes: the model's classes in
 * order (1 corrects to the first); canConfirm: false for a record without a class to
 * confirm (an image not read for tumours). Returns {action: "confirm"|"reject"|"next"} or
 * {action: "correct", label}, or null.
 */
export function shortcutFor(keyEvent, classes, { canConfirm = true } = {}) {
  if (keyEvent.ctrlKey || keyEvent.metaKey || keyEvent.altKey) return null;
  if (TYPING_TAGS.has(String(keyEvent.targetTag ?? "").toUpperCase())) return null;
  const key = String(keyEvent.key ?? "").toLowerCase();
  if (key === "c") return canConfirm ? { action: "confirm" } : null;
  if (key === "r") return { action: "reject" };
  if (key === "n") return { action: "next" };
  if (key === "u") return { action: "undo" };
  const index = Number.parseInt(key, 10);
  if (String(index) === key && index >= 1 && index <= classes.length) {
    return { action: "correct", label: classes[index - 1] };
  }
  return null;
}

// The record view's own keys: F switches full screen; the arrows beside each other step
// through the study's slices (up and down move in the worklist).
const VIEWER_KEYS = {
  f: { action: "fullscreen" },
  arrowleft: { action: "slice", step: -1 },
  arrowright: { action: "slice", step: 1 },
};

/**
 * keyEvent as for shortcutFor. Returns {action: "fullscreen"} or {action: "slice", step},
 * or null: the keys of the image viewer, which never review anything.
 */
export function viewerShortcutFor(keyEvent) {
  if (keyEvent.ctrlKey || keyEvent.metaKey || keyEvent.altKey) return null;
  if (TYPING_TAGS.has(String(keyEvent.targetTag ?? "").toUpperCase())) return null;
  return VIEWER_KEYS[String(keyEvent.key ?? "").toLowerCase()] ?? null;
}

/** The help text shown beside the review buttons. */
export function shortcutHelp(classes, { canConfirm = true } = {}) {
  const confirm = canConfirm ? "C confirm, " : "";
  const numbers = classes.length ? `1–${classes.length} correct to a class, ` : "";
  return `Keys: ${confirm}${numbers}R reject, U undo, N next unreviewed.`;
}
